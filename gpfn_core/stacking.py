"""Stacking: the network's predictive mean blended with closed-form predictions.

Two closed-form predictions of the targets come out of preprocessing
(:attr:`~gpfn_core.preprocess.Prepared.anchors`, from every training individual):
GBLUP averaged over the ``gblup`` smoother's h2 grid by marginal likelihood
(:func:`gpfn_core.gblup.bma_mean`), and the smoother mean column whose leave-one-out
values fit the training phenotypes best (cross-validated choice among the GBLUP and
marker-weighted kernels at each h2).  The transformer is about as accurate as either
(within 0.01 in mean r on held-out draws of every prior), but their errors differ (the
network's mean and the GBLUP average correlate about 0.94 on NAM draws), so a weighted
mean is more accurate than any of them.  The network learns from the prior what the
smoothers miss; the anchors hold it where its training has not caught up (the middle
of the architecture range, training sets beyond its context, priors it trained little on).

The weights are three numbers per model, ``mean = w * network + a_bma * GBLUP average +
a_loo * leave-one-out choice`` with ``w + a_bma + a_loo = 1``, all on a grid of 0.05,
chosen by the mean Pearson r on fresh draws of the model's own prior (indices from
:data:`STACK_INDEX`, disjoint from training, bucket borders, validation and the model
card's held-out draws).  Like the network's weights they are learnt from the prior
once; nothing is estimated at prediction time.  The whole predictive distribution moves
with its mean (the quantiles shift, the sd stays), so the intervals stay centred on the
reported mean.

``fit`` stores ``{"weight", "anchor_weights", ...}`` under the model file's ``stack``
key (``--stack-draws``); ``gpfn stack MODEL`` fits them for an existing file.  A file
without them predicts with the network alone, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

STACK_INDEX = 9_000_000_000  # fitting draws: training 0.., borders 3e9, validation 4e9, held-out 5e9, benchmarks 6e9-8e9
STEP = 0.05  # grid of the weights


def blend(out: dict[str, np.ndarray], anchors: np.ndarray | None,
          weights: tuple[float, np.ndarray] | None) -> dict[str, np.ndarray]:
    """``out`` (:func:`~gpfn_core.inference.predict_features`' keys, standardised scale) with
    its mean moved to ``w * mean + anchors @ a`` for ``weights = (w, a)``, and every
    quantile (``q...`` keys) moved by the same amount; the sd is unchanged.  No weights
    or no anchors: ``out``."""
    if weights is None or anchors is None:
        return out
    w, a = float(weights[0]), np.asarray(weights[1], dtype=np.float64)
    anchors = np.asarray(anchors, dtype=np.float64)
    if anchors.shape != (out["mean"].size, a.size):
        raise ValueError(f"anchors of shape {anchors.shape} for {out['mean'].size} predictions and {a.size} weights")
    shift = w * out["mean"] + anchors @ a - out["mean"]
    return {k: (v + shift if k == "mean" or k.startswith("q") else v) for k, v in out.items()}


def stack_weights(meta: dict[str, Any]) -> tuple[float, np.ndarray] | None:
    """``(network weight, anchor weights)`` recorded in a model file's metadata, in the order
    of :data:`~gpfn_core.preprocess.STACK_ANCHORS`, or None (the network alone)."""
    from gpfn_core.preprocess import STACK_ANCHORS

    st = meta.get("stack") or {}
    if st.get("weight") is None:
        return None
    named = st.get("anchor_weights") or {"gblup_bma": 1.0 - float(st["weight"])}
    unknown = set(named) - set(STACK_ANCHORS)
    if unknown:
        from gpfn_core.errors import GpfnError

        raise GpfnError(f"the model file's stacking names anchors this gpfn does not compute: {sorted(unknown)}")
    return float(st["weight"]), np.array([float(named.get(k, 0.0)) for k in STACK_ANCHORS])


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


def fit_stack(model, bar, cfg, draws: int = 200, start: int = STACK_INDEX, log=None) -> dict[str, Any] | None:
    """Fit the stacking weights of ``model`` (a PFN and its bar distribution, trained with
    the :class:`~gpfn_core.train.FitConfig` ``cfg``) on ``draws`` draws of its prior from
    index ``start``; None when its preprocessing has no anchors (no ``gblup`` smoother)."""
    import torch

    from gpfn_core.preprocess import STACK_ANCHORS
    from gpfn_core.train import Validation, build

    prior, selector_cls = build(cfg)
    with torch.no_grad():
        val = Validation(prior, selector_cls, cfg, start=start, draws=draws)
        items = [(m, a, t) for m, a, t in val.network_outputs(model, bar) if a is not None]
    if not items:
        return None
    fitted = fit_weights(*map(list, zip(*items)))
    w = fitted["weights"]
    res = {"weight": w[0], "anchor_weights": dict(zip(STACK_ANCHORS, w[1:])), "draws": fitted["draws"],
           "r_stacked": fitted["r_stacked"], "r_network": fitted["r_alone"][0],
           "r_anchors": dict(zip(STACK_ANCHORS, fitted["r_alone"][1:])), "prior": cfg.prior,
           "prior_seed": int(cfg.seed), "start_index": int(start), "pop_size": int(cfg.validation_pop_size)}
    if log:
        log(f"stacking weights on {res['draws']} draws of {cfg.prior}: network {w[0]:.2f}, "
            + ", ".join(f"{k} {v:.2f}" for k, v in res["anchor_weights"].items())
            + f"; mean r network {res['r_network']:.3f}, "
            + ", ".join(f"{k} {v:.3f}" for k, v in res["r_anchors"].items()) + f", blend {res['r_stacked']:.3f}")
    return res


def stack_model_file(path: str | Path, draws: int = 200, seed: int | None = None, log=None) -> dict[str, Any]:
    """Fit and record (atomically, the network unchanged) the stacking weights of a model file."""
    from gpfn_core.errors import GpfnError
    from gpfn_core.modelfile import load_model
    from gpfn_core.models import fit_config_of, record_metadata

    model, bar, meta = load_model(path)
    cfg = fit_config_of(path, meta)
    if seed is not None:
        cfg.seed = int(seed)
    res = fit_stack(model, bar, cfg, draws=draws, log=log)
    if res is None:
        raise GpfnError(f"{path}: the model has no gblup smoother, so there is no GBLUP average to blend with")
    record_metadata(path, {"stack": res})
    return res
