"""Fitting a model's stacking (see :mod:`gpfn_core.net.stacking`): at each training-set
size, the weights with the best mean r and the interval scale with 90% coverage, on
fresh draws of the model's prior; ``gpfn stack MODEL`` records them in the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.errors import GpfnError
from gpfn_core.net.config import SIZE_STRIDE, STACK_INDEX, config_of_model
from gpfn_core.net.draws import build
from gpfn_core.net.modelfile import load_model, record_metadata
from gpfn_core.net.preprocess import LOO_WEIGHING, STACK_ANCHORS, anchors_at
from gpfn_core.net.validation import Validation

STACK_TARGETS = 200  # targets per fitting draw (fewer where the model's pop_max_size is smaller)
MIN_TARGETS = 20  # a size leaving fewer targets than this is not fitted
STEP = 0.05  # grid of the weights
NOMINAL = 0.90  # the coverage [q05, q95] should have


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
    none is left.  A size given in ``sizes`` that is beyond the model's population
    (> ``pop_max_size``) is kept, with :data:`STACK_TARGETS` targets: the anchors see every
    training individual and the network random subsets of its context, as ``gpfn predict``
    does with a training set that large."""
    cap = int(cfg.pop_max_size)
    fit = []
    for n in sorted({int(v) for v in (cfg.stack_sizes if sizes is None else sizes)}):
        if sizes is not None and n > cap:
            fit.append((n, n + STACK_TARGETS))
        elif n + MIN_TARGETS <= cap:
            fit.append((n, min(n + STACK_TARGETS, cap)))
    return fit or [None]


def fit_stack(model, bar, cfg, draws: int = 200, start: int = STACK_INDEX, sizes: tuple[int, ...] | None = None,
              log=None, first: int = 0) -> dict[str, Any] | None:
    """Fit the stacking of ``model`` (a PFN and its bar distribution, trained with the
    :class:`~gpfn_core.net.config.FitConfig` ``cfg``): at each of :func:`stack_sizes`, the weights
    and the interval scale on ``draws`` draws of its prior (the ``k``-th size's from
    ``start + (first + k) * SIZE_STRIDE``).  None when its preprocessing has no anchors (no ``gblup``
    smoother).  The result is what the model file's ``stack`` key holds."""
    import torch

    prior, selector_cls = build(cfg)
    entries = []
    for k, size in enumerate(stack_sizes(cfg, sizes), start=first):
        fixed = None if size is None else {"pop_size": size[1], "train_fraction": size[0] / size[1]}
        # the anchors fitted at this size (the others weigh 0 here and are not computed)
        tried = anchors_at(size[0] if size is not None else 0)
        cols = [STACK_ANCHORS.index(a) for a in tried]
        with torch.no_grad():
            val = Validation(prior, selector_cls, cfg, start=start + k * SIZE_STRIDE, draws=draws, fixed=fixed,
                             scores=False, anchors=tried)
            rows = [o for o in val.network_outputs(model, bar) if o["anchors"] is not None]
        if not rows:
            return None
        mean, anchors, truth = ([o[key] for o in rows] for key in ("mean", "anchors", "truth"))
        fitted = fit_weights(mean, [a[:, cols] for a in anchors], truth)
        w = np.zeros(1 + len(STACK_ANCHORS))
        w[[0, *(1 + c for c in cols)]] = fitted["weights"]
        r_alone = dict(zip(tried, fitted["r_alone"][1:]))
        blended = [w[0] * m + a @ w[1:] for m, a in zip(mean, anchors)]
        low, high = [o["q0.05"] - o["mean"] for o in rows], [o["q0.95"] - o["mean"] for o in rows]
        scale = interval_scale(blended, low, high, truth)
        inside = np.mean(np.concatenate([(b + lo <= t) & (t <= b + hi)
                                         for b, lo, hi, t in zip(blended, low, high, truth)]))
        entry = {"n_train": int(np.median([o["n_train"] for o in rows])), "weight": float(w[0]),
                 "anchor_weights": dict(zip(tried, map(float, fitted["weights"][1:]))), "interval_scale": scale,
                 "coverage90_unscaled": float(inside), "draws": fitted["draws"], "r_stacked": fitted["r_stacked"],
                 "r_network": fitted["r_alone"][0], "r_anchors": r_alone,
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
    return {**_sized(entries), "prior": cfg.prior, "prior_seed": int(cfg.seed), "loo_choice": LOO_WEIGHING,
            "start_index": int(start)}


def _sized(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A stacking's fitted sizes (sorted by training-set size), their draws, and the top-level
    weights a gpfn before size-dependent stacking reads: the size nearest 300's."""
    entries = sorted(entries, key=lambda e: e["n_train"])
    top = min(entries, key=lambda e: abs(np.log(max(e["n_train"], 1) / 300)))
    return {"weight": top["weight"], "anchor_weights": top["anchor_weights"], "sizes": entries,
            "draws": int(sum(e["draws"] for e in entries))}


def stack_model_file(path: str | Path, draws: int = 200, seed: int | None = None,
                     sizes: tuple[int, ...] | None = None, overrides: dict[str, str] | None = None,
                     log=None, add: bool = False) -> dict[str, Any]:
    """Fit and record (atomically, the network unchanged) the stacking of a model file;
    ``overrides`` change hyperparameters of the model's prior for the fitting draws (as
    ``gpfn fit --set``) and are recorded as the stacking's ``prior_overrides``.  ``add``:
    fit only ``sizes`` and keep the file's other fitted sizes (those more than 10% from
    every new one), on the same prior seed and overrides as they were fitted with; the new
    sizes' draws come after theirs."""
    model, bar, meta = load_model(path)
    cfg = config_of_model(path, meta)
    old = meta.get("stack") or {}
    kept = []
    if add:
        if not sizes:
            raise GpfnError("adding to a stacking needs the sizes to add (--sizes)")
        if not old.get("sizes"):
            raise GpfnError(f"{path}: no stacking fitted at several sizes to add to; fit one first (gpfn stack)")
        if dict(overrides or {}) != dict(old.get("prior_overrides") or {}):
            raise GpfnError(f"{path}: its stacking was fitted with --set {old.get('prior_overrides') or 'nothing'}; "
                            f"sizes added to it need the same (got {dict(overrides or {}) or 'nothing'})")
        if seed is not None and int(seed) != int(old.get("prior_seed", cfg.seed)):
            raise GpfnError(f"{path}: its stacking was fitted on prior seed {old.get('prior_seed')}; sizes added to it "
                            f"need the same (got --seed {seed})")
        seed = old.get("prior_seed", seed)
        kept = [e for e in old["sizes"] if all(abs(e["n_train"] - n) > 0.1 * n for n in sizes)]
    if seed is not None:
        cfg.seed = int(seed)
    if overrides:
        cfg.overrides = {**(cfg.overrides or {}), **overrides}
    res = fit_stack(model, bar, cfg, draws=draws, sizes=sizes, log=log, first=len(old.get("sizes") or []) if add else 0)
    if res is None:
        raise GpfnError(f"{path}: the model has no gblup smoother, so there is no GBLUP average to blend with")
    if kept:
        res = {**res, **_sized(kept + res["sizes"]), "start_index": old.get("start_index", res["start_index"])}
    if overrides:
        res["prior_overrides"] = dict(overrides)
    record_metadata(path, {"stack": res})
    return res
