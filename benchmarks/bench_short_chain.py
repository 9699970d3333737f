"""How long must BayesB's short chain be?  Its accuracy by chain length on large panels.

The stacking anchor ``bayesb`` (:func:`gpfn_core.linear.bayes.short_chain`) is BayesB's
posterior mean from a short seeded chain.  On fresh draws of the ``nam`` prior (prior seed
1, indices from ``--start``: selection draws) with ``--n-train`` training lines,
``--targets`` targets and a panel of ``--markers`` markers (log-uniform between the two
values), this scores r with the targets' true genetic values of GBLUP (REML, the
baseline) and of the chain at each of ``--iterations`` (a quarter of each chain burn-in,
on the encoding and standardised phenotypes the anchor sees), with the mean seconds of
each chain on one thread.

The question it answers: where n x m is large, does a chain cut short to bound its cost
(fewer than 200 iterations) still predict as well as a longer one?

    python benchmarks/bench_short_chain.py [--draws 24] [--n-train 2500] [--markers 10000 36000]
        [--iterations 50 100 200 400] [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from gpfn_core.metrics import pearson


def _one(job: tuple[int, int, int, float, tuple[int, ...]]) -> dict:
    from threadpoolctl import threadpool_limits

    from gpfn_core.data.encoding import Encoding, Standardizer
    from gpfn_core.linear.bayes import SHORT_BURN_IN, _fit
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.registry import get_registry

    index, n_train, targets, markers, iterations = job
    threadpool_limits(1)
    prior = get_registry().make_prior("nam", seed=1)
    pop = n_train + targets
    d = prior.draw(index, fixed={"pop_size": pop, "train_fraction": n_train / pop, "n_markers": int(markers)})
    nt = d.n_train
    enc = Encoding.fit(d.x[:nt])
    xt, xv = enc.transform(d.x[:nt]), enc.transform(d.x[nt:]).astype(np.float64)
    y = np.asarray(d.y[:nt], np.float64)
    scale = Standardizer.fit(y)  # the anchor's standardisation, kept in double precision
    z = (y - scale.mean) / scale.sd
    truth = d.g[nt:]
    _fit(xt[:, :10], z, "bayesb", 2, 0, 0)  # the compiled sampler loaded before any chain is timed
    out = {"nt": nt, "m": int(xt.shape[1]), "poly_share": float(d.params.get("poly_share", np.nan)),
           "n_qtl": int(d.params.get("n_qtl", 0)), "gblup": pearson(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction, truth)}
    for its in iterations:
        t = time.perf_counter()
        effects, _ = _fit(xt, z, "bayesb", its, int(its * SHORT_BURN_IN), 0)
        out[f"s{its}"] = time.perf_counter() - t
        out[its] = pearson(xv @ effects, truth)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=24)
    ap.add_argument("--n-train", type=int, default=2500)
    ap.add_argument("--targets", type=int, default=500)
    ap.add_argument("--markers", type=int, nargs=2, default=[10_000, 36_000], help="Panel size range (log-uniform).")
    ap.add_argument("--iterations", type=int, nargs="+", default=[50, 100, 200, 400])
    ap.add_argument("--start", type=int, default=8_400_000_000, help="First draw index (selection draws).")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--record", action="store_true", help="Write the per-draw r as a record.")
    a = ap.parse_args()
    from gpfn_core.linear.bayes import _kernel

    _kernel()  # compiled (and cached) once here, not in every worker at once
    lo, hi = np.log(a.markers[0]), np.log(a.markers[1])
    panel = np.exp(np.random.default_rng(a.start).uniform(lo, hi, a.draws))
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(_one, [(a.start + i, a.n_train, a.targets, m, tuple(a.iterations))
                               for i, m in enumerate(panel)], chunksize=1)
    print(f"# bench_short_chain: {len(rows)} draws of the nam prior (selection draws from {a.start}), "
          f"~{np.mean([x['nt'] for x in rows]):.0f} training lines, {a.targets} targets, "
          f"{min(x['m'] for x in rows):,}-{max(x['m'] for x in rows):,} markers; {time.perf_counter() - t:.0f} s\n")
    base = np.array([x["gblup"] for x in rows])
    longest = max(a.iterations)
    print(f"| prediction | mean r | − GBLUP ± SE | − {longest} iterations ± SE | seconds (one thread) |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| GBLUP (REML) | {base.mean():.4f} | | | |")
    se = lambda v: v.std(ddof=1) / np.sqrt(v.size)
    per = {}
    for its in a.iterations:
        r = np.array([x[its] for x in rows])
        per[its] = r
        d, e = r - base, r - np.array([x[longest] for x in rows])
        print(f"| BayesB, {its}-iteration chain | {r.mean():.4f} | {d.mean():+.4f} ± {se(d):.4f} | "
              + ("" if its == longest else f"{e.mean():+.4f} ± {se(e):.4f}")
              + f" | {np.mean([x[f's{its}'] for x in rows]):.1f} |")
    if a.record:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from records import write

        out = write(f"short-chain-n{a.n_train}", {
            "draws": len(rows), "n_train": a.n_train, "targets": a.targets, "start": a.start, "prior_seed": 1,
            "markers_per_draw": [x["m"] for x in rows], "gblup_r_per_draw": base.tolist(),
            **{f"bayesb{its}_r_per_draw": per[its].tolist() for its in a.iterations},
            **{f"bayesb{its}_seconds_per_draw": [x[f"s{its}"] for x in rows] for its in a.iterations},
            "poly_share_per_draw": [x["poly_share"] for x in rows]},
            data={"draws_from": "selection", "draws": a.draws})
        print(f"recorded: {out}")


if __name__ == "__main__":
    main()
