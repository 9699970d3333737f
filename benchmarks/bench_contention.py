"""`gpfn predict` on a quiet machine and beside a CPU-bound load.

Shared servers are where breeders run gpfn.  Each row runs ``gpfn predict`` end to end
(a fresh process, as a user runs it) on the bundled example and on 1,000 training +
1,000 targets x 50,000 markers, first on a quiet machine, then beside as many busy
processes as the machine has cores (pure Python loops, the worst neighbours for a BLAS
thread pool).  With the cores shared by two, the ideal is about 2x the quiet time; the
target is at most 3x.

    python benchmarks/bench_contention.py [--repeats 3] [--model FILE] [--skip-large] [--record]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from records import write  # noqa: E402

BUSY = "while True: pass"


def predict_seconds(train: Path, target: Path, model: str | None, repeats: int, env: dict) -> float:
    """Best of ``repeats`` wall-clock times of the whole `gpfn predict` command."""
    out = train.parent / "p.csv"
    args = [sys.executable, "-m", "gpfn_cli.main", "predict", "--train", str(train), "--target", str(target), "-o",
            str(out), "--force", *(["--model", model] if model else [])]
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        r = subprocess.run(args, capture_output=True, text=True, env=env)
        best = min(best, time.perf_counter() - t)
        if r.returncode != 0:
            raise SystemExit(r.stderr[-2000:])
    return best


def datasets(tmp: Path, large: bool) -> dict[str, tuple[Path, Path]]:
    from gpfn_core.example_data import FILES
    from gpfn_core.tasks.parse import parse

    out = {}
    parse(FILES["train"], tmp / "ex-train.gpfn", phenotypes=FILES["phenotypes"])
    parse(FILES["target"], tmp / "ex-target.gpfn")
    out["the example (210 + 90 x 2,000)"] = (tmp / "ex-train.gpfn", tmp / "ex-target.gpfn")
    if large:
        from bench_predict import write_pair

        out["1,000 + 1,000 x 50,000"] = write_pair(tmp, 1000, 1000, 50_000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model", default=None, help="Model file (default: the shipped one `gpfn predict` picks).")
    ap.add_argument("--skip-large", action="store_true", help="Only the example.")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    rows = {}
    print(f"# gpfn predict, quiet and beside {cores} busy processes ({cores} cores); best of {a.repeats}\n")
    print("| data | quiet (s) | under load (s) | slowdown | ideal (cores shared by two) |")
    print("| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name, (train, target) in datasets(Path(tmp), not a.skip_large).items():
            quiet = predict_seconds(train, target, a.model, a.repeats, env)
            busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(cores)]
            try:
                time.sleep(1.0)
                loaded = predict_seconds(train, target, a.model, a.repeats, env)
            finally:
                for p in busy:
                    p.kill()
                    p.wait()
            rows[name] = {"quiet": quiet, "loaded": loaded, "slowdown": loaded / quiet, "busy_processes": cores}
            print(f"| {name} | {quiet:.2f} | {loaded:.2f} | {loaded / quiet:.2f}x | 2x |", flush=True)
    if a.record:
        print(f"recorded: {write('contention', rows, models=[a.model] if a.model else [])}")


if __name__ == "__main__":
    main()
