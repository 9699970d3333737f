"""Stacking: the network's predictive mean blended with closed-form predictions.

Four closed-form predictions of the targets come out of preprocessing
(:attr:`~gpfn_core.preprocess.Prepared.anchors`, from every training individual):
GBLUP averaged over the ``gblup`` smoother's h2 grid by marginal likelihood
(:func:`gpfn_core.gblup.bma_mean`), the smoother mean column whose leave-one-out
values fit the training phenotypes best (cross-validated choice among the GBLUP and
marker-weighted kernels at each h2), GBLUP with a second, within-family kernel
averaged over (h2, family share) by marginal likelihood
(:func:`gpfn_core.gblup.family_gblup`: genetic variance that is each family's own does
not carry to families never phenotyped), and the large marker effects that Bayesian
single-effect regressions find plus family GBLUP of the rest
(:func:`gpfn_core.gblup.qtl_family_gblup`: what BayesB finds by MCMC, in closed form).  Only
the anchors a model's stacking weighs are computed at prediction time.  The transformer
is about as accurate as the first three (within 0.01 in mean r on held-out draws of
every prior), but their errors differ (the
network's mean and the GBLUP average correlate about 0.94 on NAM draws), so a weighted
mean is more accurate than any of them.  The network learns from the prior what the
smoothers miss; the anchors hold it where its training has not caught up (the middle
of the architecture range, training sets beyond its context, priors it trained little on).

The weights are five numbers, ``mean = w * network + a_bma * GBLUP average + a_loo *
leave-one-out choice + a_fam * family GBLUP + a_qtl * GBLUP + QTL`` summing to one, all
on a grid of 0.05 (a file stacked before an anchor existed gives it 0), chosen by
the mean Pearson r on fresh draws of the model's own prior (indices from
:data:`STACK_INDEX`, disjoint from training, bucket borders, validation and the model
card's held-out draws).  How much each is worth depends on the training-set size (with
30 phenotyped individuals the leave-one-out choice is noise; beyond the context the
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
from pathlib import Path
from typing import Any

import numpy as np

STACK_INDEX = 9_000_000_000  # fitting draws: training 0.., borders 3e9, validation 4e9, held-out 5e9, benchmarks 6e9-8e9
SIZE_STRIDE = 10_000_000  # each training-set size's draws start this far after the previous size's
STACK_SIZES = (30, 100, 300, 1000)  # training-set sizes the weights are fitted at
STACK_TARGETS = 200  # targets per fitting draw (fewer where the model's pop_max_size is smaller)
MIN_TARGETS = 20  # a size leaving fewer targets than this is not fitted
STEP = 0.05  # grid of the weights
NOMINAL = 0.90  # the coverage [q05, q95] should have


@dataclass(frozen=True)
class Stack:
    """A model's stacking: at each of the training-set sizes ``n_train`` (ascending), the
    weights ``[network, *anchors]`` (rows of ``weights``) and the interval scale."""

    n_train: np.ndarray
    weights: np.ndarray
    interval_scale: np.ndarray

    def at(self, n: int) -> tuple[np.ndarray, float]:
        """Weights and interval scale for ``n`` training individuals: linear in log n between
        the fitted sizes, the nearest one's beyond them."""
        x, xs = np.log(max(int(n), 1)), np.log(self.n_train)
        w = np.array([np.interp(x, xs, col) for col in self.weights.T])
        return w, float(np.interp(x, xs, self.interval_scale))


def blend(out: dict[str, np.ndarray], anchors: np.ndarray | None, weights: np.ndarray | None,
          scale: float = 1.0) -> dict[str, np.ndarray]:
    """``out`` (:func:`~gpfn_core.inference.predict_features`' keys, standardised scale) with
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
    training individuals, then combined (:func:`~gpfn_core.inference.combine_members`);
    with the weights and the interval scale used (None and 1.0 without a stack or
    anchors: the network alone).  What ``gpfn predict`` and validation both report."""
    from gpfn_core.inference import combine_members

    weights, scale = stack.at(n_train) if stack is not None and anchors is not None else (None, 1.0)
    return combine_members([blend(o, anchors, weights, scale) for o in members]), weights, scale


def stack_weights(meta: dict[str, Any]) -> Stack | None:
    """The :class:`Stack` recorded in a model file's metadata (anchor weights in the order of
    :data:`~gpfn_core.preprocess.STACK_ANCHORS`), or None (the network alone)."""
    from gpfn_core.errors import GpfnError
    from gpfn_core.preprocess import STACK_ANCHORS

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


def simplex(parts: int, step: float = STEP) -> np.ndarray:
    """``[K, parts]``: every weight vector on the grid ``step`` whose entries sum to one."""
    n = int(round(1 / step))
    rows = [c for c in np.ndindex(*(n + 1,) * (parts - 1)) if sum(c) <= n]
    return np.array([[*c, n - sum(c)] for c in rows], dtype=np.float64) / n


def _rows_r(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Pearson r of every column of ``p`` with ``t`` (nan for a constant column)."""
    pc, tc = p - p.mean(0), t - t.mean()
    den = np.sqrt((pc * pc).sum(0) * (tc @ tc))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (pc.T @ tc) / den, np.nan)


def fit_weights(network: list[np.ndarray], anchors: list[np.ndarray], truths: list[np.ndarray],
                step: float = STEP) -> dict[str, Any]:
    """The grid weights (network first, then each anchor column) with the highest mean
    Pearson r over draws (each draw: the network's means ``[n]``, the anchors ``[n, A]`` and
    the true values ``[n]``), with the mean r of the network alone, of each anchor alone
    and of the chosen blend."""
    if not network or not (len(network) == len(anchors) == len(truths)):
        raise ValueError(f"fit_weights needs the same positive number of network means, anchors and truths, got "
                         f"{len(network)}, {len(anchors)}, {len(truths)}")
    parts = 1 + np.asarray(anchors[0]).reshape(len(network[0]), -1).shape[1]
    grid = simplex(parts, step)
    r = np.array([_rows_r(np.column_stack([m, np.asarray(a, np.float64).reshape(len(m), -1)]) @ grid.T,
                          np.asarray(t, np.float64)) for m, a, t in zip(network, anchors, truths)])
    r = r[np.isfinite(r).all(1)]
    if not len(r):
        raise ValueError("fit_weights: no draw with a finite correlation")
    mean_r = r.mean(0)
    k = int(np.argmax(mean_r))
    alone = [int(np.flatnonzero(grid[:, j] == 1.0)[0]) for j in range(parts)]
    return {"weights": [float(v) for v in grid[k]], "draws": int(len(r)),
            "r_stacked": float(mean_r[k]), "r_alone": [float(mean_r[i]) for i in alone]}


def interval_scale(means: list[np.ndarray], low: list[np.ndarray], high: list[np.ndarray],
                   truths: list[np.ndarray], level: float = NOMINAL) -> float:
    """The factor ``c`` on the interval's distances from the mean (``low <= 0 <= high``, e.g.
    q05 - mean and q95 - mean) with which ``[mean + c low, mean + c high]`` holds ``level`` of
    the true values over all draws (the ``level`` quantile of the smallest ``c`` each target
    needs), rounded up to 0.01 and kept in [0.25, 4]."""
    m, lo, hi, t = (np.concatenate([np.asarray(v, np.float64) for v in x]) for x in (means, low, high, truths))
    off = t - m
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(off >= 0, off / np.maximum(hi, 1e-12), off / np.minimum(lo, -1e-12))
    need = need[np.isfinite(need)]
    if not need.size:
        return 1.0
    return float(np.clip(np.ceil(np.quantile(need, level) * 100 - 1e-9) / 100, 0.25, 4.0))


def stack_sizes(cfg, sizes: tuple[int, ...] | None = None) -> list[tuple[int, int] | None]:
    """``(training-set size, population size)`` of the draws to fit at: each of ``sizes``
    (default ``cfg.stack_sizes``) with :data:`STACK_TARGETS` targets, or as many as the
    model's ``pop_max_size`` leaves, leaving out sizes with fewer than :data:`MIN_TARGETS`;
    ``[None]`` (one fit on the validation population with the prior's own split) when
    none is left."""
    cap = int(cfg.pop_max_size)
    fit = [(int(n), min(int(n) + STACK_TARGETS, cap)) for n in sorted(set(cfg.stack_sizes if sizes is None else sizes))
           if int(n) + MIN_TARGETS <= cap]
    return fit or [None]


def fit_stack(model, bar, cfg, draws: int = 200, start: int = STACK_INDEX, sizes: tuple[int, ...] | None = None,
              log=None) -> dict[str, Any] | None:
    """Fit the stacking of ``model`` (a PFN and its bar distribution, trained with the
    :class:`~gpfn_core.train.FitConfig` ``cfg``): at each of :func:`stack_sizes`, the weights
    and the interval scale on ``draws`` draws of its prior (the ``k``-th size's from
    ``start + k * SIZE_STRIDE``).  None when its preprocessing has no anchors (no ``gblup``
    smoother).  The result is what the model file's ``stack`` key holds."""
    import torch

    from gpfn_core.preprocess import STACK_ANCHORS
    from gpfn_core.train import Validation, build

    prior, selector_cls = build(cfg)
    entries = []
    for k, size in enumerate(stack_sizes(cfg, sizes)):
        fixed = None if size is None else {"pop_size": size[1], "train_fraction": size[0] / size[1]}
        with torch.no_grad():
            val = Validation(prior, selector_cls, cfg, start=start + k * SIZE_STRIDE, draws=draws, fixed=fixed,
                             scores=False)
            rows = [o for o in val.network_outputs(model, bar) if o["anchors"] is not None]
        if not rows:
            return None
        mean, anchors, truth = ([o[key] for o in rows] for key in ("mean", "anchors", "truth"))
        fitted = fit_weights(mean, anchors, truth)
        w = np.array(fitted["weights"])
        blended = [w[0] * m + a @ w[1:] for m, a in zip(mean, anchors)]
        low, high = [o["q0.05"] - o["mean"] for o in rows], [o["q0.95"] - o["mean"] for o in rows]
        scale = interval_scale(blended, low, high, truth)
        inside = np.mean(np.concatenate([(b + lo <= t) & (t <= b + hi)
                                         for b, lo, hi, t in zip(blended, low, high, truth)]))
        entry = {"n_train": int(np.median([o["n_train"] for o in rows])), "weight": float(w[0]),
                 "anchor_weights": dict(zip(STACK_ANCHORS, map(float, w[1:]))), "interval_scale": scale,
                 "coverage90_unscaled": float(inside), "draws": fitted["draws"], "r_stacked": fitted["r_stacked"],
                 "r_network": fitted["r_alone"][0], "r_anchors": dict(zip(STACK_ANCHORS, fitted["r_alone"][1:])),
                 "start_index": int(start + k * SIZE_STRIDE),
                 "pop_size": int(cfg.validation_pop_size if size is None else size[1])}
        entries.append(entry)
        if log:
            log(f"stacking at {entry['n_train']} training individuals ({entry['draws']} draws of {cfg.prior}): "
                f"network {w[0]:.2f}, " + ", ".join(f"{a} {v:.2f}" for a, v in entry["anchor_weights"].items())
                + f"; mean r network {entry['r_network']:.3f}, "
                + ", ".join(f"{a} {v:.3f}" for a, v in entry["r_anchors"].items())
                + f", blend {entry['r_stacked']:.3f}; interval scale {scale:.2f} "
                f"(90% coverage unscaled {inside:.3f})")
    # the top-level weights (what a gpfn before size-dependent stacking reads): the size nearest 300
    top = min(entries, key=lambda e: abs(np.log(max(e["n_train"], 1) / 300)))
    return {"weight": top["weight"], "anchor_weights": top["anchor_weights"], "sizes": entries,
            "draws": int(sum(e["draws"] for e in entries)), "prior": cfg.prior, "prior_seed": int(cfg.seed),
            "start_index": int(start)}


def stack_model_file(path: str | Path, draws: int = 200, seed: int | None = None,
                     sizes: tuple[int, ...] | None = None, overrides: dict[str, str] | None = None,
                     log=None) -> dict[str, Any]:
    """Fit and record (atomically, the network unchanged) the stacking of a model file;
    ``overrides`` change hyperparameters of the model's prior for the fitting draws (as
    ``gpfn fit --set``) and are recorded as the stacking's ``prior_overrides``."""
    from gpfn_core.errors import GpfnError
    from gpfn_core.modelfile import load_model
    from gpfn_core.models import fit_config_of, record_metadata

    model, bar, meta = load_model(path)
    cfg = fit_config_of(path, meta)
    if seed is not None:
        cfg.seed = int(seed)
    if overrides:
        cfg.overrides = {**(cfg.overrides or {}), **overrides}
    res = fit_stack(model, bar, cfg, draws=draws, sizes=sizes, log=log)
    if res is None:
        raise GpfnError(f"{path}: the model has no gblup smoother, so there is no GBLUP average to blend with")
    if overrides:
        res["prior_overrides"] = dict(overrides)
    record_metadata(path, {"stack": res})
    return res
