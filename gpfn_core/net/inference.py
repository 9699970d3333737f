"""Posterior predictions from a fitted PFN, targets in chunks."""

from __future__ import annotations

import numpy as np
import torch

from gpfn_core.net.bar import BarDistribution
from gpfn_core.errors import ValidationError
from gpfn_core.net.model import PFN

# A training set up to this many times the model's context is one pass (attention takes any
# number of tokens); beyond it the transformer sees random subsets of the context's size.
CONTEXT_SLACK = 1.1


def model_context(context: int | None, max_training_samples: int | None, pop_max_size: int) -> int:
    """The most training tokens a model sees at once: its ``context``, else the largest
    training set it was fitted on (``max_training_samples``), else ``pop_max_size - 10``.
    The one rule ``gpfn predict`` and validation (hence the stacking fit) both use."""
    return int(context or max_training_samples or pop_max_size - 10)


@torch.no_grad()
def predict_features(
    model: PFN, bar: BarDistribution, f_train: np.ndarray, y_train: np.ndarray, f_target: np.ndarray,
    chunk: int = 1000, quantiles: tuple[float, ...] = (),
) -> dict[str, np.ndarray]:
    """Predictive mean, sd (and quantiles) of each target, on the standardised scale.

    Targets never attend to each other and training tokens never attend to targets, so
    the training set's context is computed once and targets are predicted ``chunk`` at a
    time from it: the same result as all at once, at bounded memory.
    """
    width = model.config.n_features + model.config.smoother_features
    if f_train.ndim != 2 or f_train.shape[1] != width or f_target.ndim != 2 or f_target.shape[1] != width:
        raise ValidationError(f"features must be [individuals, {width}], got {f_train.shape} and {f_target.shape}")
    if len(y_train) != len(f_train) or not len(y_train):
        raise ValidationError(f"{len(f_train)} training rows with {len(y_train)} phenotypes")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    xt = torch.as_tensor(f_train, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y_train, dtype=torch.float32, device=device)[None]
    out: dict[str, list] = {"mean": [], "sd": [], **{f"q{q}": [] for q in quantiles}}
    context = model.context(xt[None], yt)
    for s in range(0, len(f_target), chunk):
        xv = torch.as_tensor(f_target[s : s + chunk], dtype=torch.float32, device=device)
        logits = model.targets(context, xv[None])[0]
        out["mean"].append(bar.mean(logits).cpu())
        out["sd"].append(bar.variance(logits).sqrt().cpu())
        for q in quantiles:
            out[f"q{q}"].append(bar.quantile(logits, q).cpu())
    model.train(was_training)
    return {k: torch.cat(v).numpy().astype(np.float64) if v else np.zeros(0) for k, v in out.items()}


def member_outputs(model: PFN, bar: BarDistribution, f_train: np.ndarray, y_train: np.ndarray,
                   f_target: np.ndarray, context: int, *, ensemble: int | None = None, seed: int = 0,
                   chunk: int = 1000, quantiles: tuple[float, ...] = ()) -> list[dict[str, np.ndarray]]:
    """:func:`predict_features` of each member of the ensemble a training set gets: one
    member when it has at most ``CONTEXT_SLACK * context`` individuals, otherwise
    ``ensemble`` (default ``max(4, ceil(2 n / context))``) random subsets of ``context``
    training individuals (drawn with ``seed``).  What ``gpfn predict`` runs, and what
    validation and the stacking fit score."""
    n = len(y_train)
    members = 1 if n <= CONTEXT_SLACK * context else int(ensemble or max(4, int(np.ceil(2 * n / context))))
    rng = np.random.default_rng(seed)
    outs = []
    for _ in range(members):
        rows = np.arange(n) if members == 1 else np.sort(rng.choice(n, context, replace=False))
        outs.append(predict_features(model, bar, f_train[rows], y_train[rows], f_target, chunk=chunk,
                                     quantiles=tuple(quantiles)))
    return outs


def combine_members(outs: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The ensemble's predictive distribution: the mixture's mean and sd, quantiles averaged."""
    mean = np.mean([o["mean"] for o in outs], axis=0)
    second = np.mean([o["sd"] ** 2 + o["mean"] ** 2 for o in outs], axis=0)
    return {"mean": mean, "sd": np.sqrt(np.maximum(second - mean**2, 0)),
            **{k: np.mean([o[k] for o in outs], axis=0) for k in outs[0] if k.startswith("q")}}


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
