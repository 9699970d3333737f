"""The network and everything that feeds, fits, scores and stores it.

Owns, from the bottom up: the architecture options (:mod:`~gpfn_core.net.architecture`,
no torch), preprocessing (:mod:`~gpfn_core.net.preprocess`: the one path for prior
draws and users' data), the fit options and draw-index ranges
(:mod:`~gpfn_core.net.config`), prior draws as batches (:mod:`~gpfn_core.net.draws`),
the bar distribution and the transformer (:mod:`~gpfn_core.net.bar`,
:mod:`~gpfn_core.net.model`), inference (:mod:`~gpfn_core.net.inference`), model files
(:mod:`~gpfn_core.net.modelfile`), applying a stacking (:mod:`~gpfn_core.net.stacking`),
held-out scoring (:mod:`~gpfn_core.net.validation`), fitting a stacking
(:mod:`~gpfn_core.net.stackfit`), batches (:mod:`~gpfn_core.net.batches`) and training
(:mod:`~gpfn_core.net.train`).

May import: the contracts, the registry, :mod:`gpfn_core.sim`, :mod:`gpfn_core.data` and
:mod:`gpfn_core.linear`.  ``architecture``, ``preprocess``, ``config`` and ``draws`` do
not import torch (``gpfn generate`` imports them).
"""
