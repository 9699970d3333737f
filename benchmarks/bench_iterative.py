"""The iterative prediction path against the dense one, where both run.

``gpfn predict --solver iterative`` forms no n x n matrix: the stacking's anchors come from
conjugate gradients through the genotypes as marker effects, and the network reads the
features of a 2,000-line subset (:func:`~gpfn_core.tasks.iterative.predict_arrays_iterative`).
``auto`` takes it only where the dense path would not fit in memory, so this measures what a
training set pays in accuracy for crossing that line: ``--draws`` NAM draws (``--draws-from``
selection or final; indices disjoint from every other benchmark's) with ``--train`` training
lines (default 2,500) and 500 targets, the prior's own ranges (``--regime prior``) or
``bench_bayes.py`` section 5's regimes (``few``: 3-15 QTL on a polygenic background;
``many``: 30-100 QTL), each predicted by the shipped ``nam`` model (``--model``) on both
paths; r with the targets' true genetic values, the paired difference with its SE, the
correlation of the two paths' means, and seconds per prediction (one thread each).

    python benchmarks/bench_iterative.py [--draws 40] [--draws-from selection] [--regime prior] [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

OFFSET = 50_000_000  # this benchmark's draws' index offset within a draw set
TARGETS = 500


def draw(draws_from: str, j: int, n_train: int, regime: str):
    from bench_bayes import LARGE_REGIMES

    from gpfn_core.models.scoring import draw_set
    from gpfn_core.registry import get_registry

    start, seed = draw_set(draws_from)
    over = {} if regime == "prior" else LARGE_REGIMES[regime][0]
    prior = get_registry().make_prior("nam", seed=seed, overrides=over)
    n = n_train + TARGETS
    return prior.draw(start + OFFSET + j, fixed={"pop_size": n, "train_fraction": n_train / n})


def _one(job: tuple[str, str, int, int, str]) -> dict[str, float]:
    import torch
    from threadpoolctl import threadpool_limits

    from gpfn_core.metrics import pearson
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.tasks.predict import predict_traits

    model, draws_from, j, n_train, regime = job
    threadpool_limits(1)
    torch.set_num_threads(1)
    d = draw(draws_from, j, n_train, regime)
    nt, truth = d.n_train, d.g[d.n_train:]
    loaded = load_model(model)
    out = {"n_qtl": int(d.params["n_qtl"]), "markers": int(d.x.shape[1])}
    means = {}
    for solver in ("dense", "iterative"):
        t = time.perf_counter()
        res = predict_traits(*loaded, d.x[:nt], d.y[:nt, None], d.x[nt:], solver=solver)[0]
        out[f"{solver}_s"] = time.perf_counter() - t
        out[solver] = pearson(res["mean"], truth)
        out[f"{solver}_coverage"] = float(np.mean((truth >= res["q05"]) & (truth <= res["q95"])))
        means[solver] = res["mean"]
    out["agreement"] = float(np.corrcoef(means["dense"], means["iterative"])[0, 1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--draws-from", choices=["selection", "final"], default="selection")
    ap.add_argument("--train", type=int, default=2500)
    ap.add_argument("--regime", choices=["prior", "few", "many"], default="prior")
    ap.add_argument("--model", default=None,
                    help="Model file, or a population type whose shipped model to use (default: nam).")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--record", action="store_true", help="Write the results to benchmarks/results/.")
    args = ap.parse_args()
    from gpfn_core.models.lookup import model_file

    model = str(model_file(args.model))
    print(f"## Iterative against dense prediction: {args.draws} {args.draws_from} NAM draws ({args.regime}), "
          f"{args.train:,} training + {TARGETS} targets, model {Path(model).name}\n")
    with mp.get_context("spawn").Pool(args.workers) as pool:
        rows = pool.map(_one, [(model, args.draws_from, j, args.train, args.regime) for j in range(args.draws)],
                        chunksize=1)
    r = {s: np.array([row[s] for row in rows]) for s in ("dense", "iterative")}
    diff = r["iterative"] - r["dense"]
    agree = np.array([row["agreement"] for row in rows])
    print(f"{len(rows)} draws, {int(np.median([row['markers'] for row in rows])):,} markers (median)\n")
    print("| path | mean r | − dense ± SE | 90% coverage | s per prediction |")
    print("| --- | --- | --- | --- | --- |")
    for s in ("dense", "iterative"):
        cell = "baseline" if s == "dense" else f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(diff.size):.4f}"
        cov = np.mean([row[f"{s}_coverage"] for row in rows])
        print(f"| {s} | {r[s].mean():.4f} | {cell} | {cov:.3f} | {np.mean([row[f'{s}_s'] for row in rows]):.1f} |")
    print(f"\nthe two paths' means correlate {agree.mean():.4f} on average (lowest {agree.min():.4f}); "
          f"|difference in r| above 0.001 on {np.mean(np.abs(diff) > 1e-3):.0%} of the draws")
    if args.record:
        from records import write

        path = write(f"iterative-{args.regime}-{args.draws_from}", {Path(model).name: {
            "draws": len(rows), "n_train": args.train, "targets": TARGETS, "regime": args.regime,
            **{f"{s}_r_per_draw": r[s].tolist() for s in r},
            **{f"{s}_seconds_per_draw": [row[f"{s}_s"] for row in rows] for s in r},
            **{f"{s}_coverage_per_draw": [row[f"{s}_coverage"] for row in rows] for s in r},
            "agreement_per_draw": agree.tolist(), "n_qtl_per_draw": [row["n_qtl"] for row in rows]}},
            models=[model], data={"draws_from": args.draws_from, "draws": args.draws})
        print(f"recorded: {path}")


if __name__ == "__main__":
    main()
