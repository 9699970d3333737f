"""Posterior predictions from a fitted PFN, targets in chunks."""

from __future__ import annotations

import numpy as np
import torch

from gpfn_core.bar import BarDistribution
from gpfn_core.errors import ValidationError
from gpfn_core.model import PFN


@torch.no_grad()
def predict_features(
    model: PFN, bar: BarDistribution, f_train: np.ndarray, y_train: np.ndarray, f_target: np.ndarray,
    chunk: int = 1000, quantiles: tuple[float, ...] = (),
) -> dict[str, np.ndarray]:
    """Predictive mean, sd (and quantiles) of each target, on the standardised scale.

    Targets never attend to each other, so predicting them ``chunk`` at a time gives
    the same result as all at once, at bounded memory.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    xt = torch.as_tensor(f_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=device)[None]
    out: dict[str, list] = {"mean": [], "sd": [], **{f"q{q}": [] for q in quantiles}}
    for s in range(0, len(f_target), chunk):
        xv = torch.as_tensor(f_target[s : s + chunk], dtype=torch.float32, device=device)
        logits = model(torch.cat([xt, xv])[None], yt)[0]
        out["mean"].append(bar.mean(logits).cpu())
        out["sd"].append(bar.variance(logits).sqrt().cpu())
        for q in quantiles:
            out[f"q{q}"].append(bar.quantile(logits, q).cpu())
    model.train(was_training)
    return {k: torch.cat(v).numpy().astype(np.float64) if v else np.zeros(0) for k, v in out.items()}


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available, else CPU) or a torch device name, checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ValidationError(f"device: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError(f"device {name!r} requested but CUDA is not available")
    return dev
