"""Does ``gpfn trainset``'s choice of lines to phenotype predict the targets better than a
random choice of as many?

On draws of a prior (``nam`` by default; the draw set ``--draws-from`` as
:data:`gpfn_core.net.config.DRAW_SETS` gives it, offset so that the draws are this
benchmark's own), the draw's training individuals are the genotyped candidates
(``--candidates``) and its evaluation individuals the targets (``--targets``; the prior's
own split: random lines, whole families or later generations).  ``--size`` candidates are
phenotyped: the ones :func:`gpfn_core.tasks.trainset.choose_training` picks (CDmean's
criterion, h2 0.5, no phenotype seen), or as many at random.  Each training set's
phenotypes then predict the targets, by the model (``gpfn predict``'s path) and by GBLUP
(REML); r with the targets' true genetic values, averaged over draws, with the paired
difference chosen − random and its SE.

    python benchmarks/bench_trainset.py [--model gpfn_core/models/nam.gpfn] [--draws 100]
        [--draws-from final] [--record]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from gpfn_core.metrics import pearson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from draw_jobs import parser, run_draws  # noqa: E402

OFFSET = 800_000_000  # this benchmark's draws: past the others' within each draw set


def _one(job: tuple) -> dict:
    from threadpoolctl import threadpool_limits

    from gpfn_core.linear.gblup import gblup
    from gpfn_core.net.config import DRAW_SETS
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.registry import get_registry
    from gpfn_core.tasks.predict import predict_traits
    from gpfn_core.tasks.trainset import choose_training

    model_path, prior_name, draws_from, i, candidates, targets, size = job
    threadpool_limits(1)
    start, seed = DRAW_SETS[draws_from]
    prior = get_registry().make_prior(prior_name, seed=seed)
    pop = candidates + targets
    d = prior.draw(start + OFFSET + i, fixed={"pop_size": pop, "train_fraction": candidates / pop})
    nt = d.n_train
    xc, xv, truth = d.x[:nt], d.x[nt:], d.g[nt:]
    t = time.perf_counter()
    chosen, _ = choose_training(xc, xv, size)
    seconds = time.perf_counter() - t
    rows = {"chosen": chosen, "random": np.random.default_rng(i).choice(nt, size, replace=False)}
    model, bar, meta = load_model(model_path)
    out = {"candidates": nt, "targets": len(xv), "markers": int(xc.shape[1]), "seconds": seconds}
    for name, r in rows.items():
        y = d.y[r]
        out[f"GPFN_{name}"] = pearson(predict_traits(model, bar, meta, xc[r], y[:, None], xv, seed=0)[0]["mean"], truth)
        out[f"GBLUP_{name}"] = pearson(gblup(xc[r], y, xv).prediction, truth)
    return out


def main() -> None:
    ap = parser(__doc__, "gpfn_core/models/nam.gpfn", 100)
    ap.add_argument("--candidates", type=int, default=600)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--size", type=int, default=150)
    a = ap.parse_args()
    rows, prior, seconds = run_draws(_one, a, a.candidates, a.targets, a.size)
    print(f"# bench_trainset: {len(rows)} {a.draws_from} draws of the {prior} prior, "
          f"~{np.mean([r['candidates'] for r in rows]):.0f} candidates, ~{np.mean([r['targets'] for r in rows]):.0f} "
          f"targets, {a.size} phenotyped, {min(r['markers'] for r in rows):,}-{max(r['markers'] for r in rows):,} "
          f"markers, model {a.model}; choosing took {np.mean([r['seconds'] for r in rows]):.2f} s a draw; "
          f"{seconds:.0f} s\n")
    print("r with the targets' true genetic values (mean over draws):\n")
    print("| method | random training set | chosen (gpfn trainset) | chosen − random ± SE |")
    print("| --- | --- | --- | --- |")
    per = {k: np.array([r[k] for r in rows]) for k in rows[0] if k.startswith(("GPFN", "GBLUP"))}
    for m in ("GBLUP", "GPFN"):
        d = per[f"{m}_chosen"] - per[f"{m}_random"]
        print(f"| {m} | {np.nanmean(per[f'{m}_random']):.3f} | {np.nanmean(per[f'{m}_chosen']):.3f} | "
              f"{np.nanmean(d):+.3f} ± {np.nanstd(d, ddof=1) / np.sqrt(np.isfinite(d).sum()):.3f} |")
    if a.record:
        from records import write

        out = write(f"trainset-{a.draws_from}", {
            "prior": prior, "draws": len(rows), "candidates": a.candidates, "targets": a.targets, "size": a.size,
            **{f"{k}_r_per_draw": v.tolist() for k, v in per.items()}},
            models=[Path(a.model)], data={"draws_from": a.draws_from, "draws": a.draws})
        print(f"\nrecorded: {out}")


if __name__ == "__main__":
    main()
