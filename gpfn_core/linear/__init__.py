"""Closed-form and classical genetics: relationships, GBLUP, and the anchors.

Owns: the genomic relationships and their one decomposition
(:mod:`~gpfn_core.linear.kinship`), GBLUP by REML (:mod:`~gpfn_core.linear.gblup`), the
smoothers that are model inputs (:mod:`~gpfn_core.linear.smoothers`,
:mod:`~gpfn_core.linear.sparse`), the family and QTL anchors
(:mod:`~gpfn_core.linear.family`, :mod:`~gpfn_core.linear.qtl`), BayesB/BayesCπ
(:mod:`~gpfn_core.linear.bayes`) and the ridge and elastic-net baselines
(:mod:`~gpfn_core.linear.baselines`).

May import: the contracts and :mod:`gpfn_core.data`.  No torch.
"""
