"""Prior draws as the trainer and the draw store see them, with no torch: ``gpfn generate``
(worker processes, MPI ranks) imports only this, numpy and the plugins.

:class:`FitConfig` holds every option of ``gpfn fit``; :class:`Schedule` gives each
optimiser step its training-set (and population) size; :class:`DrawDataset` turns draw
``i`` of a prior into the preprocessed arrays a batch is made of; :func:`build` checks
the options and makes the prior and the selector class.  :mod:`gpfn_core.train`
re-exports them.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gpfn_core.architecture import ModelConfig
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.interfaces import Prior
from gpfn_core.preprocess import preprocess_draw, smoother_width
from gpfn_core.registry import get_registry
from gpfn_core.stacking import STACK_SIZES


@dataclass
class FitConfig:
    """Every option of the original GPFN's train_model.py, plus gpfn's own."""

    prior: str
    save_path: str = "model.gpfn"
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    founders: str = "msprime"
    device: str = "auto"
    num_workers: int = 0
    feature_max_size: int = 100
    num_samples: int = 100_000
    pop_max_size: int = 1000
    feature_selection: str = "pca"
    num_layers: int = 6
    hidden_dim: int = 1024
    num_heads: int = 4
    input_norm: str = "global"
    relationship_bias: bool = True
    kernel_features: int = 8
    smoothers: str = "gblup,sparse"  # closed-form predictions appended to the features ("" for none)
    smoother_stats: bool = True  # each smoother's leave-one-out fit, given to every token
    init_from: str | None = None  # start from this model file's weights (its architecture and preprocessing)
    emb_size: int = 256
    dropout: float = 0.0
    min_training_samples: int | None = None
    max_training_samples: int | None = None
    nonuniform_eval_pos: bool = False
    size_distribution: str = "uniform"  # training-set sizes: "uniform" or "loguniform" (as many 20-40 as 500-1000)
    context: int | None = None  # most training (and target) tokens per draw; None: the whole draw
    batch_size: int = 8
    lr: float = 1e-4
    warmup_steps: int = 100
    accumulation_steps: int = 1
    loss_function: str = "bar"
    allow_tf32: bool = False
    bf16: bool = True
    num_buckets: int = 1000
    border_draws: int = 100
    target: str = "g"
    log_steps: int = 10
    checkpoint_steps: int = 0
    checkpoint_path: str | None = None
    resume: str | None = None
    val_draws: int = 50
    stack_draws: int = 200  # fresh prior draws per size that fit the stacking after training (0: network alone)
    stack_sizes: tuple[int, ...] = STACK_SIZES  # training-set sizes the stacking is fitted at
    val_every: int = 0
    tensorboard: str | None = None
    max_steps: int | None = None  # stop after this many optimiser steps (schedule still spans num_samples)
    store: str | None = None  # train from this draw store instead of drawing on the fly
    follow: bool = False  # the store is being generated: write its metadata, wait for shards
    delete_consumed: bool = False  # remove shards once read (follow mode; bounded disk use)
    shard_size: int = 64  # shard size of a store this trainer creates (follow mode)

    def __post_init__(self) -> None:
        if self.min_training_samples is None:
            self.min_training_samples = min(20, self.pop_max_size // 2)  # breeding programs phenotype 20+ lines
        if self.max_training_samples is None:
            self.max_training_samples = self.pop_max_size - 10

    def model_config(self) -> ModelConfig:
        """The architecture these options describe."""
        return ModelConfig(self.feature_max_size, self.emb_size, self.num_layers, self.num_heads, self.hidden_dim,
                           self.dropout, self.num_buckets, self.input_norm, self.relationship_bias, self.kernel_features,
                           smoother_width(self.smoothers), self.smoother_stats and bool(smoother_width(self.smoothers)))

    @property
    def input_width(self) -> int:
        """Columns of a preprocessed draw: the selector's features, then the smoothers'."""
        return self.feature_max_size + smoother_width(self.smoothers)

    @property
    def validation_pop_size(self) -> int:
        """Population size of validation and held-out draws: the context's when there is one
        (the setting the transformer sees whole), else ``pop_max_size``."""
        return self.pop_max_size if self.context is None else self.context + 10

    @property
    def draw_rows(self) -> int:
        """Most rows a preprocessed draw has: ``pop_max_size``, or two contexts of tokens."""
        return self.pop_max_size if self.context is None else min(self.pop_max_size, 2 * self.context)

    @property
    def total_steps(self) -> int:
        """Optimiser steps over ``num_samples`` draws (one rank's view times world size)."""
        return max(1, math.ceil(self.num_samples / (self.batch_size * self.accumulation_steps * _world()[1])))


def _world() -> tuple[int, int]:
    """``(rank, world size)`` of a torch.distributed run; ``(0, 1)`` outside one (and wherever
    torch was never imported, as in ``gpfn generate``)."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class Schedule:
    """The training-set size (and population size) of each step, the same in every worker and rank.

    Without a ``context`` every draw has ``pop_max_size`` individuals.  With one, the
    population grows with the training set (``n_train / f``, f uniform in 0.5-0.9, at least
    ``context + 10``, at most ``pop_max_size``): a NAM with 1,000 phenotyped lines has
    larger families than one with 100, as in real programs.  Preprocessing then sees the
    whole draw and the transformer at most ``context`` training (and target) tokens of it,
    which is exactly what ``predict`` does with a training set beyond the model's context.
    """

    def __init__(self, cfg: FitConfig) -> None:
        self.lo, self.hi, self.seed = int(cfg.min_training_samples), int(cfg.max_training_samples), cfg.seed
        self.pop_max, self.context = int(cfg.pop_max_size), cfg.context
        sizes = np.arange(self.lo, self.hi + 1)
        w = 1.0 / sizes if cfg.size_distribution == "loguniform" else np.ones(sizes.size)
        if cfg.nonuniform_eval_pos:  # as PFN's weighted sampler: weight 1 / (number of evaluation individuals)
            w = w / (cfg.pop_max_size - sizes)
        self.sizes, self.p = sizes, w / w.sum()

    def split(self, step: int) -> tuple[int, int]:
        """``(n_train, pop_size)`` of the draws of optimiser step ``step``."""
        rng = np.random.default_rng([self.seed, int(step), 0x5EED])
        n = int(rng.choice(self.sizes, p=self.p))
        if self.context is None:
            return n, self.pop_max
        pop = round(n / rng.uniform(0.5, 0.9))
        return n, int(min(self.pop_max, max(self.context + 10, pop)))

    def n_train(self, step: int) -> int:
        return self.split(step)[0]


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
        (cfg.num_buckets >= 2, f"num_buckets must be >= 2, got {cfg.num_buckets}"),
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

