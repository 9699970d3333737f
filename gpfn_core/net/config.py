"""The options of a fit, and which prior draws serve which purpose, with no torch:
``gpfn generate`` (worker processes, MPI ranks) imports only this, numpy and the plugins.

:class:`FitConfig` holds every option of ``gpfn fit``; :class:`Schedule` gives each
optimiser step its training-set (and population) size.  The draw-index ranges below
keep training, bucket borders, validation, stacking, selection and reporting draws
disjoint: draw ``i`` of a prior is a pure function of ``(seed, i)``, so a range is a set
of draws no other purpose touches.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.errors import GpfnError
from gpfn_core.net.architecture import ModelConfig
from gpfn_core.net.preprocess import smoother_width

# Prior draw indices: training uses 0 .. num_samples - 1; the rest start far beyond it.
BORDER_INDEX = 3_000_000_000  # bucket borders of a new model
VALIDATION_INDEX = 4_000_000_000  # validation during a fit
HELDOUT_INDEX = 5_000_000_000  # selection draws: held-out draws every decision is made on
STACK_INDEX = 9_000_000_000  # draws that fit the stacking weights
FINAL_INDEX = 11_000_000_000  # final draws: read only by the reporting run, never by a decision
FINAL_SEED = 20261206  # the final draws' prior seed (selection draws use seed 1)
# held-out draw sets: name -> (first index, prior seed)
DRAW_SETS = {"selection": (HELDOUT_INDEX, 1), "final": (FINAL_INDEX, FINAL_SEED)}
SIZE_STRIDE = 10_000_000  # each stacking size's draws start this far after the previous size's
STACK_SIZES = (30, 100, 300, 1000)  # training-set sizes the stacking weights are fitted at


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
    num_samples: int = 100_000  # draws to train on; 0 with a store: every draw it holds
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
    num_buckets: int | None = None  # None: 1,000, or fewer where the border draws are few (train.bucket_count)
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
                           self.dropout, self.num_buckets or 1000, self.input_norm, self.relationship_bias, self.kernel_features,
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


def config_of_model(path: str | Path, meta: dict[str, Any]) -> FitConfig:
    """The :class:`FitConfig` a model file was fitted with (its metadata ``meta``), for
    drawing and preprocessing as it was trained; keys this version does not know are skipped."""
    fit_config = {"smoothers": "", **(meta.get("fit_config") or {})}  # files from before smoothers had none
    if not fit_config.get("prior"):
        raise GpfnError(f"{path}: the model file does not say which prior it was fitted on")
    known = set(FitConfig.__dataclass_fields__)
    return FitConfig(**{k: v for k, v in fit_config.items() if k in known})
