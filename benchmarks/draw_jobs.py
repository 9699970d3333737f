"""What the benchmarks that score a model on fresh draws of its prior share (``bench_cross.py``,
``bench_trainset.py``): their common options, and a pool of spawned workers running one draw a job.

    from draw_jobs import parser, run_draws
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any


def parser(doc: str, model: str, draws: int) -> argparse.ArgumentParser:
    """An argument parser with ``--model``, ``--prior``, ``--draws``, ``--draws-from``,
    ``--workers`` and ``--record``; the script adds its own options."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--model", default=model)
    ap.add_argument("--prior", default=None, help="Prior of the draws (default: the model's).")
    ap.add_argument("--draws", type=int, default=draws)
    ap.add_argument("--draws-from", choices=["selection", "final"], default="final")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--record", action="store_true", help="Write the per-draw r as a record.")
    return ap


def run_draws(one: Callable[[tuple], dict[str, Any]], a: argparse.Namespace, *extra: Any
              ) -> tuple[list[dict[str, Any]], str, float]:
    """``one((model, prior, draws_from, i, *extra))`` for each of the ``a.draws`` draws, on
    ``a.workers`` spawned processes: the rows, the prior's name and the seconds it took."""
    from gpfn_core.net.modelfile import read_metadata

    prior = a.prior or read_metadata(a.model)["prior"]
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(one, [(a.model, prior, a.draws_from, i, *extra) for i in range(a.draws)], chunksize=1)
    return rows, prior, time.perf_counter() - t
