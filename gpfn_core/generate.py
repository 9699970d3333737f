"""`gpfn generate`: fill a draw store with preprocessed prior draws, in worker processes."""

from __future__ import annotations

import math
import multiprocessing as mp
from pathlib import Path
from typing import Any

from gpfn_core.store import clean_stale, committed_shards, create_store, store_metadata, write_shard
from gpfn_core.train import DrawDataset, FitConfig, Schedule, build

_WORKER: dict[str, Any] = {}


def _init(cfg: FitConfig, store: str, shard_size: int) -> None:
    prior, selector_cls = build(cfg)
    _WORKER.update(data=DrawDataset(prior, selector_cls, cfg, Schedule(cfg), cfg.batch_size), cfg=cfg, store=store,
                   k=shard_size)


def _make_shard(s: int) -> int:
    data, cfg, k = _WORKER["data"], _WORKER["cfg"], _WORKER["k"]
    items = [data.item(i) for i in range(s * k, (s + 1) * k)]
    write_shard(_WORKER["store"], s, items, cfg.pop_max_size, cfg.feature_max_size)
    return s


def plan(num_draws: int, shard_size: int) -> int:
    return math.ceil(num_draws / shard_size)


def generate(cfg: FitConfig, store: str | Path, num_draws: int, shard_size: int = 64, workers: int = 1,
             shards: list[int] | None = None, progress: bool = False) -> dict[str, Any]:
    """Write the missing shards among ``shards`` (default: all of ``num_draws``) with ``workers`` processes.

    Draw ``i`` is the same whatever the number of workers (or MPI ranks) that computes it;
    committed shards are never rewritten, so rerunning completes a store and duplicates nothing.
    """
    build(cfg)  # every option checked before anything is written
    store = str(store)
    create_store(store, store_metadata(cfg, plan(num_draws, shard_size) * shard_size, shard_size))
    stale = clean_stale(store)
    wanted = list(range(plan(num_draws, shard_size))) if shards is None else list(shards)
    done = set(committed_shards(store))
    todo = [s for s in wanted if s not in done]
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="shard")
    if workers <= 1:
        _init(cfg, store, shard_size)
        for s in todo:
            _make_shard(s)
            if bar:
                bar.update(1)
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init, initargs=(cfg, store, shard_size)) as pool:
            for _ in pool.imap_unordered(_make_shard, todo):
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    return {"store": store, "shards_written": len(todo), "shards_already_there": len(wanted) - len(todo),
            "stale_removed": stale, "draws": len(wanted) * shard_size}
