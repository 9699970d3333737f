"""Which closed-form predictions the stacking should blend the network with, by training-set size.

On fresh draws of the model's prior with about ``--n-train`` training individuals
(``--targets`` targets, prior seed 1, indices from ``--start``), r with the targets' true
genetic values of: GBLUP with REML (the baseline); the stacking's anchors (GBLUP
averaged over h2 by marginal likelihood, the leave-one-out choice among the smoother
columns, and GBLUP with a within-family kernel), each computed whether or not the file's
stacking weighs it; a candidate, GBLUP averaged *uniformly* over the h2 grid (the mean of
the `gblup` smoother's columns); the network alone; and the model as ``gpfn predict``
gives it.  Then the blend refitted on these draws with the first two anchors, with the
family anchor too and with the uniform average instead, each half's weights fitted on the
other half (2-fold cross-fitting, so no draw scores weights fitted on it): an anchor earns
a place only if the cross-fitted blend with it is ahead.

``--candidates bayesb bayescpi`` also scores, on the same draws, BayesB's and BayesCπ's
posterior means from a short seeded chain (``gpfn_core.linear.bayes.short_chain``: 200
iterations, BGLR's priors), alone and as a fifth anchor beside the four (cross-fitted, as
above): would the prior weigh such a sampler where its draws are large?  ``--record``
writes the per-draw r as a record.

``--set NAME=VALUE`` (repeatable) draws from the model's prior with that hyperparameter
changed, e.g. ``--set family_share=0.3`` (family-specific effects, see
:mod:`gpfn_core.sim.prior`): how the model and its stacking fare where the prior it was
fitted on is wrong in a way real data may be.

    python benchmarks/bench_anchors.py [--model gpfn_core/models/nam.gpfn] [--n-train 300] [--draws 200]
        [--set family_share=0.3 ...] [--candidates bayesb bayescpi] [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from gpfn_core.metrics import pearson


def _one(job: tuple[str, int, int, int, dict]) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    import gpfn_core.tasks.predict as pr
    from gpfn_core.linear.bayes import short_chain
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.linear.smoothers import H2_GRID
    from gpfn_core.net.config import config_of_model as fit_config_of
    from gpfn_core.net.draws import build
    from gpfn_core.net.modelfile import load_model

    path, index, n_train, targets, overrides, candidates = job
    threadpool_limits(1)
    torch.set_num_threads(1)
    mdl = load_model(path)
    cfg = fit_config_of(path, mdl[2])
    cfg.seed = 1
    cfg.overrides = {**cfg.overrides, **overrides}
    prior, _ = build(cfg)
    pop = n_train + targets
    d = prior.draw(index, fixed={"pop_size": pop, "train_fraction": n_train / pop})
    nt = d.n_train
    seen, original = {}, pr.prepare

    def prepare(*a, **k):  # predict's own preprocessing, kept to read the anchors and grid columns
        seen["p"] = p = original(*a, **{**k, "anchors": True})  # every anchor, weighed by the stacking or not
        return p

    pr.prepare = prepare
    try:
        res = pr.predict_arrays(*mdl, d.x[:nt], d.y[:nt], d.x[nt:])
    finally:
        pr.prepare = original
    p, nf = seen["p"], int(mdl[2]["n_features"])
    std = lambda v: (np.asarray(v, np.float64) - p.scale.mean) / p.scale.sd  # noqa: E731
    extra = {}
    if candidates:  # on the encoding predict's preprocessing fitted
        x_train, x_target = p.encoding.transform(d.x[:nt]), p.encoding.transform(d.x[nt:])
        extra = {c: short_chain(x_train, p.y_train, x_target, c) for c in candidates}
    return {**extra, "nt": nt, "share": float(d.params.get("poly_share", np.nan)), "truth": std(d.g[nt:]),
            "reml": gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction, "stacked": std(res["mean"]),
            "network": std(res["network_mean"]), "bma": p.anchors[:, 0], "loo": p.anchors[:, 1],
            "family": p.anchors[:, 2], "qtl": p.anchors[:, 3],
            "uniform": p.target[:, nf: nf + len(H2_GRID)].astype(np.float64).mean(1)}


def cross_fitted(rows: list[dict], anchors: list[str], seed: int = 0) -> tuple[np.ndarray, list[list[float]]]:
    """Per-draw r of the blend network + ``anchors``, each half's weights fitted on the other half."""
    from gpfn_core.net.stackfit import fit_weights

    n = len(rows)
    half = np.array_split(np.random.default_rng(seed).permutation(n), 2)
    out, weights = np.full(n, np.nan), []
    for fit, score in ((half[0], half[1]), (half[1], half[0])):
        cols = lambda x: np.column_stack([x[a] for a in anchors])  # noqa: E731
        w = np.array(fit_weights([rows[i]["network"] for i in fit], [cols(rows[i]) for i in fit],
                                 [rows[i]["truth"] for i in fit])["weights"])
        weights.append([round(float(v), 2) for v in w])
        for i in score:
            out[i] = pearson(w[0] * rows[i]["network"] + cols(rows[i]) @ w[1:], rows[i]["truth"])
    return out, weights


def main() -> None:
    from gpfn_core.models.cards import architecture_thirds
    from gpfn_core.models.lookup import model_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None,
                    help="Model file, or a population type whose shipped model to use (default: nam).")
    ap.add_argument("--n-train", type=int, default=300)
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--start", type=int, default=8_100_000_000, help="First draw index (fresh draws).")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="A prior hyperparameter for the draws (value or lo:hi), e.g. family_share=0.3.")
    ap.add_argument("--candidates", nargs="*", default=[], choices=("bayesb", "bayescpi"),
                    help="Short-chain samplers to score alone and as a fifth anchor.")
    ap.add_argument("--record", action="store_true", help="Write the per-draw r as a record.")
    a = ap.parse_args()
    from gpfn_cli.common import parse_overrides

    overrides = parse_overrides(a.set)  # as `gpfn fit --set` reads them
    path = str(model_file(a.model))
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(_one, [(path, a.start + i, a.n_train, a.targets, overrides, tuple(a.candidates))
                               for i in range(a.draws)],
                        chunksize=1)
    r = {k: np.array([pearson(x[k], x["truth"]) for x in rows]) for k in ("reml", "bma", "loo", "family", "qtl", "uniform",
                                                                    "network", "stacked", *a.candidates)}
    r["blend"], w2 = cross_fitted(rows, ["bma", "loo"])
    r["blend + family"], w3 = cross_fitted(rows, ["bma", "loo", "family"])
    r["blend + uniform"], w4 = cross_fitted(rows, ["bma", "loo", "uniform"])
    r["blend + family + qtl"], w5 = cross_fitted(rows, ["bma", "loo", "family", "qtl"])
    fifth = {}
    for c in a.candidates:
        r[f"four anchors + {c}"], fifth[c] = cross_fitted(rows, ["bma", "loo", "family", "qtl", c])
    thirds = architecture_thirds([x["share"] for x in rows])
    print(f"# bench_anchors: {len(rows)} draws of the {path} prior, ~{np.mean([x['nt'] for x in rows]):.0f} training "
          f"individuals and {a.targets} targets (indices from {a.start}){', ' + ' '.join(a.set) if a.set else ''}; "
          f"{time.perf_counter() - t:.0f} s\n")
    print("| prediction | mean r | − GBLUP ± SE | ahead | " + " | ".join(n for n, _ in thirds) + " |")
    print("| --- " * (4 + len(thirds)) + "|")
    names = {"reml": "GBLUP (REML), baseline", "bma": "GBLUP averaged over h² by marginal likelihood (anchor)",
             "loo": "leave-one-out choice among the smoother columns (anchor)",
             "family": "GBLUP with a within-family kernel, averaged over (h², family share) (anchor)",
             "qtl": "GBLUP + large marker effects by single-effect regressions, averaged over h² (anchor)",
             "uniform": "GBLUP averaged uniformly over the h² grid (candidate)", "network": "the network alone",
             "stacked": "GPFN as `gpfn predict` gives it (the file's stacking)",
             "blend": f"network + the two anchors, weights cross-fitted here {w2}",
             "blend + family": f"network + the two anchors + the family anchor, cross-fitted {w3}",
             "blend + uniform": f"network + the two anchors + the uniform average, cross-fitted {w4}",
             "blend + family + qtl": f"network + the three anchors + the QTL anchor, cross-fitted {w5}",
             **{c: f"{c}, 200-iteration chain (candidate)" for c in a.candidates},
             **{f"four anchors + {c}": f"network + the four anchors + {c}, cross-fitted {w}" for c, w in fifth.items()}}
    for k, name in names.items():
        d = r[k] - r["reml"]
        cells = ("| |" if k == "reml" else f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f} | "
                 f"{np.mean(d > 0):.0%} |")
        print(f"| {name} | {r[k].mean():.4f} | {cells} " + " | ".join(f"{d[s].mean():+.4f}" for _, s in thirds) + " |")
    for c in a.candidates:
        d = r[f"four anchors + {c}"] - r["blend + family + qtl"]
        print(f"\n{c} as a fifth anchor − the four anchors (cross-fitted): {d.mean():+.4f} ± "
              f"{d.std(ddof=1) / np.sqrt(d.size):.4f}")
    if a.record:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from records import write

        tag = f"n{a.n_train}" + "".join(f"-{k}{v}" for k, v in sorted(overrides.items())).replace(":", "to")
        out = write(f"anchors-{tag}", {Path(path).name: {
            "draws": len(rows), "n_train": a.n_train, "targets": a.targets, "start": a.start, "prior_seed": 1,
            "overrides": overrides, **{f"{k}_r_per_draw": v.tolist() for k, v in r.items()},
            "fifth_anchor_weights": fifth, "poly_share_per_draw": [x["share"] for x in rows]}},
            models=[path], data={"draws_from": "selection", "draws": a.draws})
        print(f"recorded: {out}")


if __name__ == "__main__":
    main()
