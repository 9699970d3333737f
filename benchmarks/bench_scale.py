"""How prediction cost grows with the training set: GBLUP and GPFN at 1k-16k training lines.

For each number of training individuals (``--sizes``, default 1,000 2,000 4,000 8,000
16,000) and marker panel (``--markers``, default 10,000 and 50,000), with ``--targets``
(1,000) targets, one fresh process per method runs on the same arrays (a ``wild`` prior
draw on random founders, so the relationships have structure): GBLUP (gpfn's REML on all
markers) and GPFN as ``gpfn predict`` runs it after reading its Datasets
(:func:`~gpfn_core.tasks.predict.predict_traits`, the shipped ``nam`` model or
``--model``; targets in passes where all at once would not fit in the memory available).
Reported: seconds, peak memory (max RSS of the process above its start),
the ratio GPFN / GBLUP, and per panel the growth exponent of each method's time in n (the
slope of log time on log n).  ``--methods gblup-cg`` adds GBLUP with no n x n matrix
(:func:`~gpfn_core.linear.iterative.gblup_iterative`: conjugate gradients through the
genotypes, REML by randomised traces) beside them, ``gpfn-cg`` ``gpfn predict --solver
iterative`` (:func:`~gpfn_core.tasks.iterative.predict_arrays_iterative`).  A size whose estimated peak memory
(:func:`~gpfn_core.tasks.predict.predict_memory`, with the targets in passes where all at
once would not fit, as ``gpfn predict`` does) exceeds the memory available is skipped and
said so (but for ``gblup-cg`` and ``gpfn-cg``, which hold the genotypes and no n x n matrix); ``--limit-s``
stops a method that runs longer (reported as such).

    python benchmarks/bench_scale.py [--sizes 1000 2000 4000] [--markers 10000] [--threads 2] [--record]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

CHILD = r"""
import json, resource, sys, time
method, folder, model, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
import numpy as np
from threadpoolctl import threadpool_limits
import torch
torch.set_num_threads(threads)
threadpool_limits(threads)
from gpfn_core.data.dataset import read_dataset
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
tr, tg = read_dataset(folder + "/train.gpfn"), read_dataset(folder + "/target.gpfn")
x, y, xv = tr.table.dosage, tr.phenotype(), tg.table.dosage
start = rss()
t = time.perf_counter()
if method == "gblup":
    from gpfn_core.linear.gblup import gblup
    gblup(x, y, xv)
elif method == "gblup-cg":
    from gpfn_core.linear.iterative import gblup_iterative
    gblup_iterative(x, y, xv)
elif method == "gpfn-cg":
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.tasks.predict import predict_traits
    predict_traits(*load_model(model), x, y[:, None], xv, solver="iterative")  # gpfn predict --solver iterative
else:
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.tasks.predict import predict_traits
    predict_traits(*load_model(model), x, y[:, None], xv)  # targets in passes as gpfn predict chooses them
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - start}))
"""


METHODS = ("gblup", "gblup-cg", "gpfn", "gpfn-cg")
CG = ("gblup-cg", "gpfn-cg")  # the methods with no n x n matrix, run where the dense path would not fit too


def run(method: str, folder: Path, model: str, threads: int, limit: float) -> dict:
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, method, str(folder), model, str(threads)],
                           capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return {"error": f"over {limit:.0f} s"}
    if r.returncode:
        return {"error": (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1][:80]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def exponent(ns: list[int], seconds: list[float]) -> float:
    """Slope of log seconds on log n (nan with fewer than two sizes)."""
    if len(ns) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(seconds), 1)[0])


def main() -> None:
    from bench_predict import write_pair

    from gpfn_core.linear.iterative import iterative_memory
    from gpfn_core.models.lookup import model_file
    from gpfn_core.tasks.predict import iterative_memory as iterative_predict_memory
    from gpfn_core.tasks.predict import predict_memory, targets_per_pass
    from gpfn_core.threads import memory_available

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000, 8000, 16000])
    ap.add_argument("--markers", type=int, nargs="+", default=[10_000, 50_000])
    ap.add_argument("--targets", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--model", default=None,
                    help="Model file, or a population type whose shipped model to use (default: nam).")
    ap.add_argument("--limit-s", type=float, default=3600, help="Stop a method that runs longer than this.")
    ap.add_argument("--methods", nargs="+", default=["gblup", "gpfn"], choices=list(METHODS),
                    help="Which to run (a method left out is reported as not run); gblup-cg: GBLUP with no "
                         "n x n matrix (conjugate gradients, randomised-trace REML, gpfn_core.linear.iterative); "
                         "gpfn-cg: gpfn predict --solver iterative.")
    ap.add_argument("--record", action="store_true", help="Write the results to benchmarks/results/.")
    a = ap.parse_args()
    model = str(model_file(a.model))
    print(f"# bench_scale: {a.targets} targets, {a.threads} threads, model {model}")
    print(f"{'markers':>8}  {'train':>7}  {'GBLUP s':>8}  {'GBLUP GiB':>9}  {'GPFN s':>8}  {'GPFN GiB':>8}  "
          f"{'ratio':>6}  {'estimate GiB':>12}"
          + "".join(f"  {k + ' s':>11}  {k + ' GiB':>11}" for k in CG if k in a.methods))
    results = []
    for m in a.markers:
        done: dict[str, tuple[list, list]] = {k: ([], []) for k in METHODS if k in a.methods}
        for n in a.sizes:
            avail = memory_available()
            per_pass = targets_per_pass(n, a.targets, m, avail)  # targets beyond what fits at once: in passes
            need = predict_memory(n, a.targets, m, per_pass)
            dense_fits = avail is None or need <= avail
            cg_fits = {"gblup-cg": avail is None or iterative_memory(n, a.targets, m) <= avail,
                       "gpfn-cg": avail is None or iterative_predict_memory(n, a.targets, m) <= avail}
            if not dense_fits and not any(k in a.methods and cg_fits[k] for k in CG):
                print(f"{m:>8}  {n:>7}  skipped: needs about {need / 2**30:.1f} GiB, {avail / 2**30:.1f} available")
                results.append({"markers": m, "train": n, "skipped": f"needs about {need / 2**30:.1f} GiB"})
                continue
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                write_pair(Path(tmp), n, a.targets, m)
                made = time.perf_counter() - t0
                row = {"markers": m, "train": n, "targets": a.targets, "estimate_bytes": need, "data_seconds": made,
                       "targets_per_pass": per_pass}
                for method in METHODS:
                    fits = cg_fits[method] if method in CG else dense_fits
                    row[method] = (run(method, Path(tmp), model, a.threads, a.limit_s) if method in a.methods and fits
                                   else {"error": "not run" if method not in a.methods else "too big"})
                    if "seconds" in row[method] and method in done:
                        done[method][0].append(n)
                        done[method][1].append(row[method]["seconds"])
            results.append(row)
            g, p = row["gblup"], row["gpfn"]

            def cell(r, key, fmt):
                return format(r[key] / (2**30 if key == "peak_bytes" else 1), fmt) if key in r else r["error"][:8]

            ratio = p["seconds"] / g["seconds"] if "seconds" in p and "seconds" in g else float("nan")
            print(f"{m:>8}  {n:>7}  {cell(g, 'seconds', '8.1f'):>8}  {cell(g, 'peak_bytes', '9.2f'):>9}  "
                  f"{cell(p, 'seconds', '8.1f'):>8}  {cell(p, 'peak_bytes', '8.2f'):>8}  {ratio:6.2f}  "
                  f"{need / 2**30:12.2f}" + (f" ({per_pass:,} targets a pass)" if per_pass < a.targets else "")
                  + "".join(f"  {cell(row[k], 'seconds', '11.1f'):>11}  {cell(row[k], 'peak_bytes', '11.2f'):>11}"
                            for k in CG if k in a.methods))
        for method, (ns, secs) in done.items():
            print(f"# {m} markers: {method} time grows as n^{exponent(ns, secs):.2f} over {ns}")
            results.append({"markers": m, "method": method, "exponent": exponent(ns, secs), "sizes": ns})
    if a.record:
        from records import write

        print(f"recorded: {write('scale', results, models=[model])}")


if __name__ == "__main__":
    main()
