"""Where a fit's draws come from, and how they become batches: draws generated on the fly
(:class:`~gpfn_core.net.draws.DrawDataset`) or read from a draw store
(:class:`StoreDataset`, also while it is being written), each rank's share of every
optimiser step (:class:`StepSampler`), and batches trimmed to their smallest split
(:func:`collate`)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from gpfn_core.errors import ValidationError
from gpfn_core.net.config import FitConfig
from gpfn_core.net.draws import build
from gpfn_core.sim.store import StoreReader, create_store, read_metadata, settings, store_metadata


class StoreDataset(Dataset):
    """Draws read from a draw store (see :mod:`gpfn_core.sim.store`).

    ``follow``: wait for shards that are not committed yet.  ``delete_consumed``: remove
    a shard once reading has moved past it (draws are read in order).
    """

    def __init__(self, path: str, follow: bool = False, delete_consumed: bool = False) -> None:
        self.reader = StoreReader(path, delete_consumed=delete_consumed)
        self.follow = follow

    def __len__(self) -> int:
        return int(self.reader.meta["num_draws"]) if self.follow else self.reader.available()

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, int]:
        if self.follow:
            self.reader.wait_for(index)
        return self.reader[index]


def collate(items: list[tuple[np.ndarray, np.ndarray, int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack draws, trimmed to the batch's smallest training and evaluation sets."""
    nt = min(it[2] for it in items)
    ne = min(len(it[1]) - it[2] for it in items)
    x = np.stack([np.concatenate([it[0][:nt], it[0][it[2] : it[2] + ne]]) for it in items])
    y = np.stack([np.concatenate([it[1][:nt], it[1][it[2] : it[2] + ne]]) for it in items])
    return torch.from_numpy(x), torch.from_numpy(y[:, :nt]), torch.from_numpy(y[:, nt:])


def _worker_init(_: int) -> None:
    """DataLoader workers are the parallelism: each gets its share of the cores (one thread
    per worker with as many workers as cores; a user's OMP_NUM_THREADS wins).  Without
    this every worker's numpy starts a thread pool as wide as the machine, and draw
    generation on 2 cores ran at a quarter of its single-thread speed."""
    from gpfn_core.threads import limit_threads, threads_for

    limit_threads(threads_for(torch.utils.data.get_worker_info().num_workers)[0])


class StepSampler(Sampler):
    """Indices of micro-steps ``start..stop`` for this rank: step s, rank r, slot b -> s*B*W + r*B + b."""

    def __init__(self, start: int, stop: int, batch: int, rank: int, world: int) -> None:
        self.start, self.stop, self.batch, self.rank, self.world = start, stop, batch, rank, world

    def __iter__(self):
        for s in range(self.start, self.stop):
            base = s * self.batch * self.world + self.rank * self.batch
            yield from range(base, base + self.batch)

    def __len__(self) -> int:
        return (self.stop - self.start) * self.batch


def config_from_store(cfg: FitConfig) -> FitConfig:
    """``cfg`` with the prior and preprocessing of the store (its metadata decides them)."""
    reader = StoreReader(cfg.store)
    meta = reader.meta
    available = reader.available()
    if available < cfg.batch_size:
        raise ValidationError(f"{cfg.store}: only {available} draws are committed; need at least one batch "
                              f"({cfg.batch_size})")
    fixed = settings(meta)
    if fixed.pop("batch_size") != cfg.batch_size:
        raise ValidationError(f"batch_size {cfg.batch_size} differs from the store's ({meta['batch_size']}), whose "
                              f"training-set schedule is per batch of {meta['batch_size']} draws")
    if cfg.num_samples > available:
        raise ValidationError(f"{cfg.store}: --num-samples {cfg.num_samples} asks for more draws than the "
                              f"{available} committed in order; generate them first (gpfn generate --store "
                              f"{cfg.store} --num-draws {cfg.num_samples}), or fit on fewer")
    return replace(cfg, **fixed, num_samples=cfg.num_samples or available)


def follow_store(cfg: FitConfig) -> FitConfig:
    """Follow mode: create the store with this run's settings (metadata first), or adopt an existing one's."""
    if cfg.delete_consumed and cfg.num_workers:
        raise ValidationError("--delete-consumed reads shards in order: use it with --num-workers 0")
    if Path(cfg.store, "zarr.json").exists() and not cfg.prior:
        meta = read_metadata(cfg.store)
        if cfg.num_samples > int(meta["num_draws"]):
            raise ValidationError(f"{cfg.store}: --num-samples {cfg.num_samples} asks for more draws than the store "
                                  f"will hold ({meta['num_draws']}); extend it with gpfn generate --store "
                                  f"{cfg.store} --num-draws {cfg.num_samples}, or fit on fewer")
        return replace(cfg, **settings(meta), num_samples=cfg.num_samples or int(meta["num_draws"]))
    if not cfg.prior:
        raise ValidationError(f"{cfg.store}: no store yet; give --prior so the trainer can write its metadata")
    build(cfg)
    k = cfg.shard_size
    total = math.ceil(cfg.num_samples / k) * k
    create_store(cfg.store, store_metadata(cfg, total, k))
    return replace(cfg, num_samples=total)

