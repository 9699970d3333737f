"""Prior draws as a batch sees them: :class:`DrawDataset` turns draw ``i`` of a prior into
the preprocessed arrays a batch is made of; :func:`build` checks a :class:`FitConfig`'s
options and makes its prior and selector class.  No torch (``gpfn generate`` imports it).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.interfaces import Prior
from gpfn_core.net.config import FitConfig, Schedule
from gpfn_core.net.preprocess import preprocess_draw
from gpfn_core.registry import get_registry


class DrawDataset:
    """Item ``i``: draw ``i`` of the prior, split per its step's schedule, preprocessed."""

    def __init__(self, prior: Prior, selector_cls: type, cfg: FitConfig, schedule: Schedule, per_step: int) -> None:
        self.prior, self.selector_cls, self.cfg, self.schedule, self.per_step = prior, selector_cls, cfg, schedule, per_step

    def __len__(self) -> int:
        return 2**62

    def raw(self, index: int, n_train: int, pop_size: int | None = None):
        pop_size = pop_size or self.cfg.pop_max_size
        fixed = {"pop_size": pop_size, "train_fraction": n_train / pop_size}
        try:
            return self.prior.draw(index, fixed=fixed)
        except TypeError:  # a plugin prior without per-draw values: its own split, trimmed by collate
            return self.prior.draw(index)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        return self.item(index)[:3]

    def item(self, index: int) -> tuple[np.ndarray, np.ndarray, int, dict[str, Any]]:
        """Draw ``index`` preprocessed: features, standardised targets, n_train, hyperparameters."""
        n_train, pop_size = self.schedule.split(index // self.per_step)
        last: Exception | None = None
        for attempt in range(5):  # a degenerate draw (e.g. too few polymorphic markers) is replaced, deterministically
            i = index + attempt * 10**9 * 7
            try:
                raw = self.raw(i, n_train, pop_size)
                rng = np.random.default_rng([self.cfg.seed, i, 0xD1CE])
                order = np.concatenate([rng.permutation(raw.n_train), raw.n_train + rng.permutation(raw.n_eval)])
                raw.x, raw.y, raw.g = raw.x[order], raw.y[order], None if raw.g is None else raw.g[order]
                d = preprocess_draw(raw, self.selector_cls(self.cfg.feature_max_size, seed=i), self.cfg.target,
                                    self.cfg.smoothers)
                x, y, nt = d.x, d.y, d.n_train
                if self.cfg.context is not None:  # rows are in random order: the first ones are a random subset
                    kt, ke = min(nt, self.cfg.context), min(len(y) - nt, self.cfg.context)
                    keep = np.r_[0:kt, nt : nt + ke]
                    x, y, nt = x[keep], y[keep], kt
                return x, y, nt, json.loads(json.dumps(d.params, default=str))
            except ValidationError as exc:
                last = exc
        raise GpfnError(f"draw {index} and its replacements all failed preprocessing: {last}")


def build(cfg: FitConfig) -> tuple[Prior, type]:
    """The prior and selector class, with every option checked before anything runs."""
    reg = get_registry()
    prior = reg.make_prior(cfg.prior, seed=cfg.seed, overrides=cfg.overrides, founders=cfg.founders)
    selector_cls = reg.get("selector", cfg.feature_selection)
    checks = [
        (cfg.batch_size >= 1, f"batch_size must be >= 1, got {cfg.batch_size}"),
        (cfg.accumulation_steps >= 1, f"accumulation_steps must be >= 1, got {cfg.accumulation_steps}"),
        (cfg.num_samples >= 1, f"num_samples must be >= 1, got {cfg.num_samples}"),
        (cfg.lr > 0, f"lr must be > 0, got {cfg.lr}"),
        (cfg.warmup_steps >= 0, f"warmup_steps must be >= 0, got {cfg.warmup_steps}"),
        (cfg.target in ("g", "y"), f"target must be 'g' or 'y', got {cfg.target!r}"),
        (cfg.loss_function in ("bar", "bar_mse"), f"loss_function must be 'bar' or 'bar_mse', got {cfg.loss_function!r}"),
        (cfg.num_buckets is None or cfg.num_buckets >= 2, f"--num-buckets must be >= 2, got {cfg.num_buckets}"),
        (cfg.pop_max_size >= 4, f"pop_max_size must be >= 4, got {cfg.pop_max_size}"),
        (cfg.size_distribution in ("uniform", "loguniform"),
         f"size_distribution must be 'uniform' or 'loguniform', got {cfg.size_distribution!r}"),
        (cfg.context is None or cfg.context >= 2, f"context must be >= 2 tokens, got {cfg.context}"),
        (1 <= cfg.min_training_samples <= cfg.max_training_samples < cfg.pop_max_size,
         f"a batch cannot hold a training/evaluation split: need 1 <= min_training_samples "
         f"({cfg.min_training_samples}) <= max_training_samples ({cfg.max_training_samples}) "
         f"< pop_max_size ({cfg.pop_max_size})"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValidationError(msg)
    space = {p.name: p for p in prior.hyperparameter_space()}
    if "n_markers" in space and cfg.feature_max_size > space["n_markers"].low:
        raise ValidationError(
            f"feature_max_size ({cfg.feature_max_size}) is above the smallest marker panel the prior draws "
            f"(n_markers from {space['n_markers'].low}); lower it or --set n_markers=..."
        )
    cfg.model_config()  # validates the architecture
    return prior, selector_cls
