"""`gpfn generate` scaling: one process, worker processes and MPI ranks, end to end.

Every row runs the real command (`gpfn generate ...` in a subprocess, start-up and store
writes included) on a fresh store with the same draws.  Rows:

- 1 process (the baseline), and 1 process on one core (``OMP_NUM_THREADS=1``: the
  end-to-end cost of a draw, simulation + preprocessing + store write);
- ``--workers N``;
- ``mpiexec -n 1 ... --mpi`` and ``mpiexec -n N ... --mpi`` with ``OMP_NUM_THREADS=1``;
- ``mpiexec -n N ... --mpi`` with no thread variables set: the configuration that ran
  47x slower before ranks took their share of the cores (gpfn_core.threads).

Scaling efficiency = (draws/s / baseline draws/s) / processes.

    python benchmarks/bench_generate.py [--prior nam] [--draws 32] [--processes 2] [--pop-max-size 300] [--one-core] [--like-model nam]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "SLURM_CPUS_PER_TASK")


def run(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prior", default="nam")
    ap.add_argument("--founders", default="msprime", choices=["msprime", "random"])
    ap.add_argument("--draws", type=int, default=32)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--pop-max-size", type=int, default=300)
    ap.add_argument("--feature-max-size", type=int, default=100)
    ap.add_argument("--smoothers", default="gblup,sparse")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="Prior hyperparameters, as gpfn generate --set (e.g. the previous panel sizes, "
                         "n_markers=7000:36000:uniform).")
    ap.add_argument("--one-core", action="store_true",
                    help="Only the one-core row: the end-to-end cost of a draw, no scaling rows.")
    ap.add_argument("--like-model", metavar="MODEL",
                    help="Draws as a model was trained on them (a shipped prior's name or a model file): its prior, "
                         "population and training-set sizes, context, features and smoothers (overrides those options).")
    args = ap.parse_args()
    like: list[str] = []
    if args.like_model:
        from gpfn_core.net.modelfile import load_model
        from gpfn_core.models.lookup import find_model
        from gpfn_core.net.config import config_of_model as fit_config_of

        path = args.like_model if Path(args.like_model).exists() else find_model(args.like_model)
        c = fit_config_of(path, load_model(path)[2])
        args.prior, args.pop_max_size, args.feature_max_size, args.smoothers = (
            c.prior, c.pop_max_size, c.feature_max_size, c.smoothers)
        like = ["--size-distribution", c.size_distribution, "--batch-size", str(c.batch_size),
                "--min-training-samples", str(c.min_training_samples),
                "--max-training-samples", str(c.max_training_samples),
                *(["--context", str(c.context)] if c.context else [])]
    n, k = args.processes, max(1, args.draws // (2 * args.processes))  # at least 2 shards per process
    clean = {key: v for key, v in os.environ.items() if key not in THREAD_VARS}
    one = dict(clean, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    gen = [sys.executable, "-m", "gpfn_cli.main", "generate", "--prior", args.prior, "--founders", args.founders,
           "--num-draws", str(args.draws), "--shard-size", str(k), "--pop-max-size", str(args.pop_max_size),
           "--feature-max-size", str(args.feature_max_size), "--smoothers", args.smoothers, "--no-progress",
           *(x for o in args.overrides for x in ("--set", o)), *like]
    rows: list[tuple[str, str, int, list[str] | None]] = [
        ("1 process (baseline)", "unset", 1, gen),
        ("1 process, one core", "OMP_NUM_THREADS=1", 1, gen),  # the per-draw cost
        (f"--workers {n}", "unset", n, gen + ["--workers", str(n)]),
    ]
    mpi = shutil.which("mpiexec")
    if args.one_core:
        rows = rows[1:2]
    elif mpi:
        rows += [("mpiexec -n 1 --mpi", "unset", 1, [mpi, "-n", "1", *gen, "--mpi"]),
                 (f"mpiexec -n {n} --mpi", "OMP_NUM_THREADS=1", n, [mpi, "-n", str(n), *gen, "--mpi"]),
                 (f"mpiexec -n {n} --mpi", "unset", n, [mpi, "-n", str(n), *gen, "--mpi"])]
    with tempfile.TemporaryDirectory() as tmp:
        # warm the founder cache and the imports once, outside the timings
        warm = [*gen[:8], "--num-draws", "1", "--shard-size", "1", *gen[12:], "--store", str(Path(tmp) / "warm")]
        run(warm, clean)
        results = []
        for i, (name, threads, procs, cmd) in enumerate(rows):
            seconds = run(cmd + ["--store", str(Path(tmp) / f"s{i}")], one if threads != "unset" else clean)
            results.append((name, threads, procs, args.draws / seconds))
    base = results[0][3]  # with --one-core the one-core row is its own baseline
    print(f"# gpfn generate, prior {args.prior} ({args.founders} founders), pop {args.pop_max_size}, "
          f"{args.feature_max_size} PCA features + smoothers '{args.smoothers}', {args.draws} draws in shards of {k}, "
          f"{os.cpu_count()} cores; wall time of the whole command"
          + (f"; --set {' '.join(args.overrides)}" if args.overrides else "")
          + (f"; as model {args.like_model} trained ({' '.join(like)})" if like else ""))
    print(f"{'configuration':<24} {'thread variables':<18} {'draws/s':>8} {'s/draw':>7} {'speed-up':>9} {'efficiency':>11}")
    for name, threads, procs, rate in results:
        print(f"{name:<24} {threads:<18} {rate:8.2f} {1 / rate:7.3f} {rate / base:8.2f}x {rate / base / procs:10.0%}")
    if not mpi and not args.one_core:
        print("# mpiexec not found: MPI rows skipped (pip install mpi4py mpich)")
    if args.one_core:
        print(f"# one core: {1 / results[0][3]:.3f} s per draw, {42.6 * results[0][3]:.0f}x the original GPFN's 42.6 s")


if __name__ == "__main__":
    main()
