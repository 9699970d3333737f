"""Stacking: the network's predictive mean blended with closed-form predictions.

Four closed-form predictions of the targets come out of preprocessing
(:attr:`~gpfn_core.net.preprocess.Prepared.anchors`, from every training individual):
GBLUP averaged over the ``gblup`` smoother's h2 grid by marginal likelihood
(:func:`gpfn_core.linear.smoothers.bma_mean`), the smoother mean columns (GBLUP and the
marker-weighted kernel at each h2) weighed by how well their leave-one-out values fit the
training phenotypes (pseudo-BMA+, :func:`gpfn_core.net.preprocess.loo_choice`), GBLUP with a
second, within-family kernel averaged over (h2, family share) by marginal likelihood
(:func:`gpfn_core.linear.family.family_gblup`: genetic variance that is each family's own does
not carry to families never phenotyped), and the large marker effects that Bayesian
single-effect regressions find plus family GBLUP of the rest
(:func:`gpfn_core.linear.qtl.qtl_family_gblup`: what BayesB finds by MCMC, in closed form).  Only
the anchors a model's stacking weighs are computed at prediction time.  The transformer
is about as accurate as the first three (within 0.01 in mean r on held-out draws of
every prior), but their errors differ (the
network's mean and the GBLUP average correlate about 0.94 on NAM draws), so a weighted
mean is more accurate than any of them.  The network learns from the prior what the
smoothers miss; the anchors hold it where its training has not caught up (the middle
of the architecture range, training sets beyond its context, priors it trained little on).

The weights are five numbers, ``mean = w * network + a_bma * GBLUP average + a_loo *
leave-one-out weights + a_fam * family GBLUP + a_qtl * GBLUP + QTL`` summing to one, all
on a grid of 0.05 (a file stacked before an anchor existed gives it 0), chosen by
the mean Pearson r on fresh draws of the model's own prior (indices from
:data:`STACK_INDEX`, disjoint from training, bucket borders, validation and the model
card's held-out draws).  How much each is worth depends on the training-set size (with
30 phenotyped individuals the leave-one-out fit is noise; beyond the context the
network sees subsets and the anchors see everyone), so they are fitted at each of
:data:`STACK_SIZES` training individuals (with :data:`STACK_TARGETS` targets) and
interpolated linearly in log n between them (constant beyond the ends).  Each size also
gets an interval scale: the factor on every quantile's distance from the (blended) mean
and on the sd that makes [q05, q95] hold 90% of the true values on those draws, since
moving the mean changes how far it is from the truth.  Like the network's weights these
are learnt from the prior once; nothing is estimated at prediction time.

``fit`` stores them under the model file's ``stack`` key (``--stack-draws``,
``--stack-sizes``); ``gpfn stack MODEL`` fits them for an existing file.  A file without
them predicts with the network alone; one with a single ``weight`` (no ``sizes``) uses it
at every size, with unscaled intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gpfn_core.errors import GpfnError
from gpfn_core.net.inference import combine_members
from gpfn_core.net.preprocess import ANCHOR_FROM, STACK_ANCHORS


@dataclass(frozen=True)
class Stack:
    """A model's stacking: at each of the training-set sizes ``n_train`` (ascending), the
    weights ``[network, *anchors]`` (rows of ``weights``) and the interval scale."""

    n_train: np.ndarray
    weights: np.ndarray
    interval_scale: np.ndarray

    def at(self, n: int) -> tuple[np.ndarray, float]:
        """Weights and interval scale for ``n`` training individuals: linear in log n between
        the fitted sizes, the nearest one's beyond them.  An anchor tried only from a size on
        (:data:`~gpfn_core.net.preprocess.ANCHOR_FROM`) weighs 0 up to that size and grows
        linearly in log n from there to its weight at the first fitted size beyond it, the
        others scaled to keep the sum: its chain never runs on a training set smaller than
        any its weight was fitted on, and the weights stay continuous in n."""
        x, xs = np.log(max(int(n), 1)), np.log(self.n_train)
        w = np.array([np.interp(x, xs, col) for col in self.weights.T])
        for j, a in enumerate(STACK_ANCHORS, start=1):
            start = ANCHOR_FROM.get(a)
            after = np.flatnonzero(self.n_train >= start) if start else np.zeros(0, np.int64)
            if not after.size or n >= self.n_train[after[0]]:
                continue  # never tried, or at or beyond its first fitted size: plain interpolation
            ramp = 0.0 if n <= start else self.weights[after[0], j] * (x - np.log(start)) / (xs[after[0]] - np.log(start))
            rest = 1.0 - w[j]
            others = np.arange(len(w)) != j
            w[others] *= (1.0 - ramp) / rest if rest > 1e-12 else 0.0
            w[j] = ramp
        return w, float(np.interp(x, xs, self.interval_scale))

    def anchors_at(self, n: int) -> tuple[str, ...]:
        """The anchors (names of :data:`~gpfn_core.net.preprocess.STACK_ANCHORS`) weighed at ``n``
        training individuals: the only ones a prediction computes (the others are zero columns,
        weighed zero)."""
        return tuple(a for a, w in zip(STACK_ANCHORS, self.at(n)[0][1:]) if w != 0)


def blend(out: dict[str, np.ndarray], anchors: np.ndarray | None, weights: np.ndarray | None,
          scale: float = 1.0) -> dict[str, np.ndarray]:
    """``out`` (:func:`~gpfn_core.net.inference.predict_features`' keys, standardised scale) with
    its mean moved to ``weights[0] * mean + anchors @ weights[1:]``, every quantile (``q...``
    keys) at ``scale`` times its distance from the old mean away from the new one, and the
    sd times ``scale``.  No weights or no anchors: ``out``."""
    if weights is None or anchors is None:
        return out
    w = np.asarray(weights, dtype=np.float64)
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.shape != (out["mean"].size, w.size - 1):
        raise ValueError(f"anchors of shape {anchors.shape} for {out['mean'].size} predictions and "
                         f"{w.size - 1} anchor weights")
    mean = w[0] * out["mean"] + anchors @ w[1:]
    return {k: (mean if k == "mean" else mean + scale * (v - out["mean"]) if k.startswith("q")
                else scale * v if k == "sd" else v) for k, v in out.items()}


def stacked(members: list[dict[str, np.ndarray]], anchors: np.ndarray | None, stack: Stack | None,
            n_train: int) -> tuple[dict[str, np.ndarray], np.ndarray | None, float]:
    """The predictive distribution of the network's ensemble ``members`` (standardised
    scale) with ``stack`` applied to each member as :func:`blend` does, at ``n_train``
    training individuals, then combined (:func:`~gpfn_core.net.inference.combine_members`);
    with the weights and the interval scale used (None and 1.0 without a stack or
    anchors: the network alone).  What ``gpfn predict`` and validation both report."""
    weights, scale = stack.at(n_train) if stack is not None and anchors is not None else (None, 1.0)
    return combine_members([blend(o, anchors, weights, scale) for o in members]), weights, scale


def stack_weights(meta: dict[str, Any]) -> Stack | None:
    """The :class:`Stack` recorded in a model file's metadata (anchor weights in the order of
    :data:`~gpfn_core.net.preprocess.STACK_ANCHORS`), or None (the network alone)."""
    st = meta.get("stack") or {}
    entries = st.get("sizes") or ([st] if st.get("weight") is not None else [])
    rows = {}
    for e in entries:
        named = e.get("anchor_weights") or {"gblup_bma": 1.0 - float(e["weight"])}
        unknown = set(named) - set(STACK_ANCHORS)
        if unknown:
            raise GpfnError(f"the model file's stacking names anchors this gpfn does not compute: {sorted(unknown)}")
        rows.setdefault(max(int(e.get("n_train", 1)), 1),
                        ([float(e["weight"]), *(float(named.get(k, 0.0)) for k in STACK_ANCHORS)],
                         float(e.get("interval_scale", 1.0))))
    if not rows:
        return None
    ns = sorted(rows)
    return Stack(np.array(ns, dtype=np.float64), np.array([rows[n][0] for n in ns]),
                 np.array([rows[n][1] for n in ns]))

