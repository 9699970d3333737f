"""Does ``gpfn cross`` rank crosses by what their progeny turn out to be?

On draws of a prior (``ril`` by default; the draw set ``--draws-from``, prior seed and
first index as :data:`gpfn_core.net.config.DRAW_SETS` give them, offset so that the draws
are this benchmark's own), ``--n-train`` phenotyped lines train the model and
``--parents`` further lines of the same population are the candidate parents.  Among
them ``--crosses`` random crosses are planned.  Each cross's *true* progeny are bred from
the parents' whole genomes (every simulated locus, the draw's own genetic map):
``--true-lines`` recombinant inbred lines by six generations of single-seed descent, whose
true genetic values give the cross's true mean, sd and usefulness (mean + i sd, keeping
the best 10%).  The predictions see what a breeder has: the parents' marker panel and its
genetic map, ``--lines`` simulated progeny per cross (:func:`gpfn_core.tasks.cross.
simulate_progeny`), predicted by the model (``gpfn predict``'s path) and, the baseline, by
GBLUP (REML; marker effects of rrBLUP give the same predictions), as PopVar does.

Reported per method: Pearson r over the crosses of the predicted and the true progeny
mean, sd and usefulness, averaged over draws, and GPFN − GBLUP with its SE.

    python benchmarks/bench_cross.py [--model gpfn_core/models/ril.gpfn] [--draws 40]
        [--draws-from final] [--record]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gpfn_core.metrics import pearson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draw_jobs import parser, run_draws  # noqa: E402

OFFSET = 700_000_000  # this benchmark's draws: past the others' within each draw set
SELECTED = 0.1


def _one(job: tuple) -> dict:
    from threadpoolctl import threadpool_limits

    from gpfn_core.linear.gblup import gblup
    from gpfn_core.net.config import DRAW_SETS
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.registry import get_registry
    from gpfn_core.sim import engine as E
    from gpfn_core.tasks.cross import selection_intensity, simulate_progeny
    from gpfn_core.tasks.predict import predict_traits

    model_path, prior_name, draws_from, i, n_train, n_parents, n_crosses, lines, true_lines = job
    threadpool_limits(1)
    start, seed = DRAW_SETS[draws_from]
    prior = get_registry().make_prior(prior_name, seed=seed)
    pop = n_train + n_parents
    truth: dict = {}
    d = prior.draw(start + OFFSET + i, fixed={"pop_size": pop, "train_fraction": n_train / pop}, truth=truth)
    if truth["own_values"]:
        raise SystemExit(f"prior {prior_name}: its genetic values are not the trait's alone; choose another prior")
    nt = d.n_train
    everyone, trait, panel = truth["population"], truth["trait"], truth["panel"]
    if not np.allclose(trait.genetic_values(everyone), d.g, atol=1e-4 * max(float(np.std(d.g)), 1e-12)):
        raise SystemExit(f"draw {start + OFFSET + i}: the trait's genetic values are not the draw's")
    rng = np.random.default_rng(i)
    k = len(everyone) - nt
    pairs = np.array([rng.choice(k, 2, replace=False) for _ in range(n_crosses)])
    first, second = nt + pairs[:, 0], nt + pairs[:, 1]
    # the true progeny: the parents' whole genomes on the draw's map
    f1 = E.cross(everyone, np.repeat(first, true_lines), np.repeat(second, true_lines), rng)
    g = trait.genetic_values(E.single_seed_descent(f1, 6, rng)).reshape(n_crosses, true_lines)
    i_sel = selection_intensity(SELECTED)
    true = {"mean": g.mean(1), "sd": g.std(1)}
    true["usefulness"] = true["mean"] + i_sel * true["sd"]
    # what a breeder sees: the panel and its map
    gmap = everyone.genetic_map.subset(panel)
    x = simulate_progeny(d.x[nt:], pairs[:, 0], pairs[:, 1], gmap, np.arange(len(panel)), "ril", lines, 6, seed=i)
    model, bar, meta = load_model(model_path)
    out = {"n_train": nt, "markers": len(panel)}
    preds = {"GPFN": predict_traits(model, bar, meta, d.x[:nt], d.y[:nt, None], x, seed=0)[0]["mean"],
             "GBLUP": gblup(d.x[:nt], d.y[:nt], x).prediction}
    for name, p in preds.items():
        p = np.asarray(p, np.float64).reshape(n_crosses, lines)
        mean, sd = p.mean(1), p.std(1)
        for key, v in (("mean", mean), ("sd", sd), ("usefulness", mean + i_sel * sd)):
            out[f"{name}_{key}"] = pearson(v, true[key])
    return out


def main() -> None:
    ap = parser(__doc__, "gpfn_core/models/ril.gpfn", 40)
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--parents", type=int, default=40)
    ap.add_argument("--crosses", type=int, default=30)
    ap.add_argument("--lines", type=int, default=100, help="Simulated progeny per cross the predictions see.")
    ap.add_argument("--true-lines", type=int, default=400, help="True progeny per cross.")
    a = ap.parse_args()
    rows, prior, seconds = run_draws(_one, a, a.n_train, a.parents, a.crosses, a.lines, a.true_lines)
    print(f"# bench_cross: {len(rows)} {a.draws_from} draws of the {prior} prior, ~{np.mean([r['n_train'] for r in rows]):.0f} "
          f"training lines, {a.parents} candidate parents, {a.crosses} crosses each ({a.lines} simulated RILs per "
          f"cross predicted, {a.true_lines} true ones), {min(r['markers'] for r in rows):,}-"
          f"{max(r['markers'] for r in rows):,} markers, model {a.model}; {seconds:.0f} s\n")
    print("Pearson r over the crosses, predicted against true progeny (mean over draws):\n")
    print("| method | mean | sd | usefulness (mean + 1.755 sd) |")
    print("| --- | --- | --- | --- |")
    keys = ("mean", "sd", "usefulness")
    per = {f"{m}_{k}": np.array([r[f"{m}_{k}"] for r in rows]) for m in ("GPFN", "GBLUP") for k in keys}
    for m in ("GBLUP", "GPFN"):
        print(f"| {m} | " + " | ".join(f"{np.nanmean(per[f'{m}_{k}']):.3f}" for k in keys) + " |")
    diff = {k: per[f"GPFN_{k}"] - per[f"GBLUP_{k}"] for k in keys}
    se = {k: np.nanstd(v, ddof=1) / np.sqrt(np.isfinite(v).sum()) for k, v in diff.items()}
    print("| GPFN − GBLUP ± SE | " + " | ".join(f"{np.nanmean(diff[k]):+.3f} ± {se[k]:.3f}" for k in keys) + " |")
    if a.record:
        from records import write

        out = write(f"cross-{a.draws_from}", {
            "prior": prior, "draws": len(rows), "n_train": a.n_train, "parents": a.parents, "crosses": a.crosses,
            "lines": a.lines, "true_lines": a.true_lines, "selected": SELECTED,
            **{f"{k}_r_per_draw": v.tolist() for k, v in per.items()}},
            models=[Path(a.model)], data={"draws_from": a.draws_from, "draws": a.draws})
        print(f"\nrecorded: {out}")


if __name__ == "__main__":
    main()
