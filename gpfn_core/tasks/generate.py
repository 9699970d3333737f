"""`gpfn generate`: fill a draw store with preprocessed prior draws, in worker processes."""

from __future__ import annotations

import math
import multiprocessing as mp
from pathlib import Path
from typing import Any

from gpfn_core.sim.store import clean_stale, committed_shards, create_store, store_metadata, write_shard
from gpfn_core.threads import limit_threads, local_ranks, threads_for
from gpfn_core.net.config import FitConfig, Schedule
from gpfn_core.net.draws import build, DrawDataset

_WORKER: dict[str, Any] = {}


def _init(cfg: FitConfig, store: str, shard_size: int, threads: int | None = None) -> None:
    if threads:
        limit_threads(threads)
    prior, selector_cls = build(cfg)
    _WORKER.update(data=DrawDataset(prior, selector_cls, cfg, Schedule(cfg), cfg.batch_size), cfg=cfg, store=store,
                   k=shard_size)


def _make_shard(s: int) -> int:
    data, cfg, k = _WORKER["data"], _WORKER["cfg"], _WORKER["k"]
    items = [data.item(i) for i in range(s * k, (s + 1) * k)]
    write_shard(_WORKER["store"], s, items, cfg.draw_rows, cfg.input_width)
    return s


def config_of_store(store: str | Path) -> tuple[FitConfig, int, int]:
    """The settings an existing store was created with (generators follow a trainer's metadata)."""
    from gpfn_core.sim.store import read_metadata, settings

    meta = read_metadata(store)
    return FitConfig(**settings(meta)), int(meta["num_draws"]), int(meta["shard_size"])


def plan(num_draws: int, shard_size: int) -> int:
    return math.ceil(num_draws / shard_size)


def generate_mpi(cfg: FitConfig, store: str | Path, num_draws: int, shard_size: int = 64) -> dict[str, Any]:
    """Rank-partitioned MPI generation over COMM_WORLD: rank r writes shards r, r+size, r+2 size, ...

    Launch one process per core under ``mpiexec``/``srun``; rank 0 creates the store
    (metadata first) and the others wait for it.  Draws do not depend on the rank
    layout, and a rerun with any number of ranks completes what is missing.
    """
    try:
        from mpi4py import MPI
    except ImportError:
        from gpfn_core.errors import GpfnError

        raise GpfnError("--mpi needs mpi4py: pip install 'gpfn[mpi]' (and an MPI library, e.g. pip install mpich)") from None
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    # the ranks on this node share its cores: each gets its share of threads (or the user's setting)
    threads, why = threads_for(local_ranks(comm))
    limit_threads(threads)
    error = None
    if rank == 0:
        try:
            build(cfg)
            create_store(str(store), store_metadata(cfg, plan(num_draws, shard_size) * shard_size, shard_size))
            clean_stale(str(store))
        except Exception as exc:  # tell the other ranks instead of leaving them waiting
            error = exc
    failed = comm.bcast(error is not None, root=0)
    if error is not None:
        raise error
    if failed:
        raise SystemExit(1)
    mine = list(range(rank, plan(num_draws, shard_size), size))
    report = generate(cfg, store, num_draws, shard_size=shard_size, workers=1, shards=mine, clean=False)
    from threadpoolctl import threadpool_info

    report.update(threads_per_rank=threads, threads_from=why,
                  blas_threads=max((p["num_threads"] for p in threadpool_info()), default=None))
    written = comm.reduce(report["shards_written"], op=MPI.SUM, root=0)
    comm.Barrier()
    total = plan(num_draws, shard_size)
    return {**report, "ranks": size, "shards_written": written if rank == 0 else report["shards_written"],
            "shards_already_there": total - written if rank == 0 else report["shards_already_there"],
            "draws": total * shard_size, "rank": rank}


def generate(cfg: FitConfig, store: str | Path, num_draws: int, shard_size: int = 64, workers: int = 1,
             shards: list[int] | None = None, progress: bool = False, clean: bool = True) -> dict[str, Any]:
    """Write the missing shards among ``shards`` (default: all of ``num_draws``) with ``workers`` processes.

    Draw ``i`` is the same whatever the number of workers (or MPI ranks) that computes it;
    committed shards are never rewritten, so rerunning completes a store and duplicates nothing.
    """
    build(cfg)  # every option checked before anything is written
    store = str(store)
    create_store(store, store_metadata(cfg, plan(num_draws, shard_size) * shard_size, shard_size))
    stale = clean_stale(store) if clean else 0
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
        # The workers are the parallelism: each gets its share of the cores (or the user's setting).
        threads, _ = threads_for(workers)
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init, initargs=(cfg, store, shard_size, threads)) as pool:
            for _ in pool.imap_unordered(_make_shard, todo):
                if bar:
                    bar.update(1)
    if bar:
        bar.close()
    return {"store": store, "shards_written": len(todo), "shards_already_there": len(wanted) - len(todo),
            "stale_removed": stale, "draws": len(wanted) * shard_size}


def export_draw(draw, out: str | Path, overwrite: bool = False) -> dict[str, Any]:
    """One raw prior draw as the files a user would have (``gpfn prior draw``): ``train.gpfn``
    (genotypes and phenotype ``y``), ``target.gpfn`` (genotypes, and the targets' true genetic
    values as phenotype ``genetic_value``, so ``gpfn evaluate --train --target`` scores a
    method against the truth) and ``draw.json`` (its hyperparameters); in one folder,
    published whole."""
    import json

    import numpy as np

    from gpfn_core.atomic import publish, remove_stale, temp_path
    from gpfn_core.data.dataset import Dataset, write_dataset
    from gpfn_core.errors import GpfnError
    from gpfn_core.types import GenotypeTable

    out = Path(out)
    if out.exists() and not overwrite:
        raise GpfnError(f"{out}: already exists (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out)
    tmp = temp_path(out)
    tmp.mkdir()
    m, nt = draw.x.shape[1], draw.n_train
    g = draw.g if draw.g is not None else np.full(draw.n, np.nan)

    def table(rows):
        return GenotypeTable(np.array([f"ind{i}" for i in rows]), np.array([f"m{j}" for j in range(m)]),
                             np.array(["sim"] * m), np.arange(1, m + 1), np.array(["A"] * m), np.array(["G"] * m),
                             draw.x[rows], source=f"prior draw {draw.seed}/{draw.index}")

    try:
        write_dataset(tmp / "train.gpfn", Dataset(table(np.arange(nt)), draw.y[:nt, None].astype(float), ["y"]))
        write_dataset(tmp / "target.gpfn", Dataset(table(np.arange(nt, draw.n)), g[nt:, None].astype(float),
                                                   ["genetic_value"]))
        info = {"seed": draw.seed, "index": draw.index, "train": nt, "target": draw.n - nt, "markers": m,
                "params": draw.params}
        (tmp / "draw.json").write_text(json.dumps(info, indent=1, default=float) + "\n")
        publish(tmp, out, overwrite)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info
