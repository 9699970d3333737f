"""Stacking: the network's predictive mean blended with GBLUP averaged over h2.

The transformer and the closed-form GBLUP average (:func:`gpfn_core.gblup.bma_mean`:
the ``gblup`` smoother's grid of heritabilities weighted by marginal likelihood, from
every training individual) are about equally accurate on held-out draws, but their
errors differ (their predictions correlate about 0.94 on NAM draws), so a weighted mean
of the two is more accurate than either, and never far below the better one.  The
network learns from the prior what GBLUP misses (large QTL, family structure); the
anchor holds it to GBLUP where its training has not caught up (the middle of the
architecture range, training sets beyond its context).

The weight is one number per model, ``w`` in ``mean = w * network + (1 - w) * anchor``,
fitted on fresh draws of the model's own prior (indices from :data:`STACK_INDEX`,
disjoint from training, bucket borders, validation and the model card's held-out draws)
by the mean Pearson r over a grid of weights.  Like the network's weights it is learnt
from the prior once; nothing is estimated at prediction time.  The whole predictive
distribution moves with its mean (the quantiles shift, the sd stays), so the intervals
stay centred on the reported mean.

``fit`` stores ``{"weight", ...}`` under the model file's ``stack`` key
(``--stack-draws``); ``gpfn stack MODEL`` fits it for an existing file.  A file
without it predicts with the network alone, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

STACK_INDEX = 9_000_000_000  # draws that fit the weight: training 0.., borders 3e9, validation 4e9, held-out 5e9, benchmarks 6e9-8e9
WEIGHT_GRID = tuple(round(i / 20, 2) for i in range(21))  # weight of the network; 0: the anchor alone


def blend(out: dict[str, np.ndarray], anchor: np.ndarray | None, weight: float | None) -> dict[str, np.ndarray]:
    """``out`` (:func:`~gpfn_core.inference.predict_features`' keys, standardised scale) with
    its mean moved to ``weight * mean + (1 - weight) * anchor`` and every quantile (``q...``
    keys) moved by the same amount; the sd is unchanged.  No weight or no anchor: ``out``."""
    if weight is None or anchor is None:
        return out
    anchor = np.asarray(anchor, dtype=np.float64)
    if anchor.shape != out["mean"].shape:
        raise ValueError(f"anchor of shape {anchor.shape} for {out['mean'].shape} predictions")
    shift = (1.0 - float(weight)) * (anchor - out["mean"])
    return {k: (v + shift if k == "mean" or k.startswith("q") else v) for k, v in out.items()}


def stack_weight(meta: dict[str, Any]) -> float | None:
    """The network's weight recorded in a model file's metadata, or None (network alone)."""
    w = (meta.get("stack") or {}).get("weight")
    return None if w is None else float(w)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def fit_weight(network: list[np.ndarray], anchors: list[np.ndarray], truths: list[np.ndarray],
               grid: tuple[float, ...] = WEIGHT_GRID) -> dict[str, Any]:
    """The grid weight with the highest mean Pearson r over draws (each draw: the network's
    means, the anchor and the true values of its targets), with the mean r of the network
    alone (weight 1), of the anchor alone (weight 0) and of the chosen blend."""
    if not network or not (len(network) == len(anchors) == len(truths)):
        raise ValueError(f"fit_weight needs the same positive number of network means, anchors and truths, got "
                         f"{len(network)}, {len(anchors)}, {len(truths)}")
    g = np.asarray(grid, dtype=np.float64)
    r = np.array([[_pearson(w * np.asarray(m, np.float64) + (1 - w) * np.asarray(a, np.float64),
                            np.asarray(t, np.float64)) for w in g] for m, a, t in zip(network, anchors, truths)])
    r = r[np.isfinite(r).all(1)]
    if not len(r):
        raise ValueError("fit_weight: no draw with a finite correlation")
    mean_r = r.mean(0)
    k = int(np.argmax(mean_r))
    at = {float(w): i for i, w in enumerate(g)}
    return {"weight": float(g[k]), "draws": int(len(r)), "r_stacked": float(mean_r[k]),
            "r_network": float(mean_r[at[1.0]]) if 1.0 in at else None,
            "r_anchor": float(mean_r[at[0.0]]) if 0.0 in at else None,
            "grid": [float(w) for w in g], "mean_r": [float(v) for v in mean_r]}


def fit_stack(model, bar, cfg, draws: int = 200, start: int = STACK_INDEX, log=None) -> dict[str, Any] | None:
    """Fit the weight of ``model`` (a PFN and its bar distribution, trained with the
    :class:`~gpfn_core.train.FitConfig` ``cfg``) on ``draws`` draws of its prior from
    index ``start``; None when its preprocessing has no anchor (no ``gblup`` smoother)."""
    import torch

    from gpfn_core.train import Validation, build

    prior, selector_cls = build(cfg)
    with torch.no_grad():
        val = Validation(prior, selector_cls, cfg, start=start, draws=draws)
        items = val.network_outputs(model, bar)
    items = [(m, a, t) for m, a, t in items if a is not None]
    if not items:
        return None
    res = fit_weight(*map(list, zip(*items)))
    res.update({"prior": cfg.prior, "prior_seed": int(cfg.seed), "start_index": int(start),
                "pop_size": int(cfg.validation_pop_size)})
    if log:
        log(f"stacking weight {res['weight']:.2f} on {res['draws']} draws of {cfg.prior}: mean r network "
            f"{res['r_network']:.3f}, anchor {res['r_anchor']:.3f}, blend {res['r_stacked']:.3f}")
    return res


def stack_model_file(path: str | Path, draws: int = 200, seed: int | None = None, log=None) -> dict[str, Any] | None:
    """Fit and record (atomically, weights unchanged) the stacking weight of a model file."""
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
