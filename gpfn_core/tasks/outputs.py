"""A prediction's result: the network's ensemble blended with the anchors, on the phenotype's
scale (:func:`result`), and the results of consecutive passes of targets joined (:func:`joined`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core.net.inference import combine_members


def result(members: list[dict[str, np.ndarray]], anchors: np.ndarray | None, stacking, n: int, scale: float,
           shift: float, quantiles: tuple[float, ...], context: int) -> dict[str, Any]:
    """:func:`predict_arrays`' result from the network's ensemble ``members`` and the anchors
    (standardised scale), blended by ``stacking`` at ``n`` training individuals and taken to
    the phenotype's scale (``scale`` times, plus ``shift``)."""
    from gpfn_core.net.stacking import stacked

    network = combine_members(members)["mean"]
    out, weights, widen = stacked(members, anchors, stacking, n)
    return {"mean": out["mean"] * scale + shift, "sd": out["sd"] * scale,
            **{quantile_key(q): out[f"q{q}"] * scale + shift for q in quantiles},
            "members": len(members), "context": context, "network_mean": network * scale + shift,
            "stack_weights": None if weights is None else [float(v) for v in weights],
            "interval_scale": None if weights is None else float(widen)}


def joined(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One :func:`predict_arrays` result from those of consecutive chunks of the targets."""
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) if isinstance(v, np.ndarray) else v
            for k, v in parts[0].items()}


def quantile_key(q: float) -> str:
    """0.05 -> ``q05``, 0.95 -> ``q95``, 0.5 -> ``q50``, 0.025 -> ``q2.5``."""
    return f"q{100 * q:02g}"
