"""How much the smoother inputs hold on their own, against GBLUP (REML) on the same draws.

For fresh draws of a prior, Pearson r with the targets' true genetic values of:
GBLUP with REML (the baseline); the `gblup` smoother at each fixed h2 of its grid, the
best of the grid in hindsight (an oracle no method has), the grid's mean, and the
column a per-draw choice by leave-one-out error on the training individuals would pick
(what cross-validation can do without the oracle); and the same for the `sparse`
smoother (marker-weighted kernel).  The model sees all of these columns plus how well
each predicts the training individuals, so the oracle columns bound what choosing among
them can give, and the leave-one-out choice is what the smoother statistics alone
support; the model may also combine them.

    python benchmarks/bench_smoothers.py [--prior nam] [--draws 30] [--set poly_share=0 ...] [--model nam.gpfn]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from gpfn_core.linear.gblup import gblup
from gpfn_core.linear.smoothers import H2_GRID, smoother_features
from gpfn_core.linear.sparse import sparse_smoother_features
from gpfn_core.data.encoding import Encoding, Standardizer
from gpfn_core.registry import get_registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="nam")
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--pop-size", type=int, default=300)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE|LO:HI")
    ap.add_argument("--model", default=None, help="Also score this GPFN model file on the same draws.")
    a = ap.parse_args()
    model = None
    if a.model:
        from gpfn_core.net.modelfile import load_model
        from gpfn_core.tasks.predict import predict_arrays

        model = load_model(a.model)
    from gpfn_cli.common import parse_overrides

    prior = get_registry().make_prior(a.prior, seed=7, overrides=parse_overrides(a.overrides))
    g_len = len(H2_GRID)
    rows = []
    t = time.perf_counter()
    for i in range(a.draws):
        d = prior.draw(7_000_000_000 + i, fixed={"pop_size": a.pop_size})
        nt, truth = d.n_train, d.g[d.n_train:]
        enc = Encoding.fit(d.x[:nt])
        xt, xv = enc.transform(d.x[:nt]), enc.transform(d.x[nt:])
        z = Standardizer.fit(d.y[:nt]).transform(d.y[:nt])
        row = [np.corrcoef(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction, truth)[0, 1]]
        loo = []
        for fn in (smoother_features, sparse_smoother_features):
            ft, fv = fn(xt, z, xv)
            row += [np.corrcoef(fv[:, j], truth)[0, 1] for j in range(g_len)]
            loo.append((((ft[:, :g_len] - z[:, None]) ** 2).mean(0), row[-g_len:]))
        # the leave-one-out choice: within each smoother, then across both
        row += [r_[int(np.argmin(err))] for err, r_ in loo]
        err = np.concatenate([e for e, _ in loo])
        row.append(np.concatenate([r_ for _, r_ in loo])[int(np.argmin(err))])
        if model is not None:
            row.append(np.corrcoef(predict_arrays(*model, d.x[:nt], d.y[:nt], d.x[nt:])["mean"], truth)[0, 1])
        rows.append(row)
    r = np.array(rows)
    print(f"# {a.prior}, {a.draws} draws of pop {a.pop_size}, {' '.join(a.overrides) or 'default ranges'}; "
          f"{time.perf_counter() - t:.0f} s")
    base = r[:, 0].mean()
    print("| input | " + " | ".join(f"h2 {h}" for h in H2_GRID) + " | grid mean | oracle best | vs GBLUP | "
          "chosen by LOO error | vs GBLUP |")
    print("| --- " * (g_len + 6) + "|")
    print(f"| GBLUP (REML), baseline | {'| ' * g_len}{base:.3f} | | 0.000 | | |")
    for k, name in enumerate(("gblup smoother", "sparse smoother")):
        block = r[:, 1 + k * g_len: 1 + (k + 1) * g_len]
        chosen = np.nanmean(r[:, 1 + 2 * g_len + k])
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in np.nanmean(block, 0))
              + f" | {np.nanmean(block):.3f} | {np.nanmax(block, 1).mean():.3f} | "
                f"{np.nanmax(block, 1).mean() - base:+.3f} | {chosen:.3f} | {chosen - base:+.3f} |")
    gpfn = None
    if model is not None:
        r, gpfn = r[:, :-1], r[:, -1]
    both = np.nanmax(r[:, 1: 1 + 2 * g_len], 1)
    chosen = np.nanmean(r[:, -1])
    print(f"| either | {'| ' * g_len}| {both.mean():.3f} | {both.mean() - base:+.3f} | {chosen:.3f} | "
          f"{chosen - base:+.3f} |")
    if gpfn is not None:
        d = gpfn - r[:, 0]
        print(f"| GPFN ({Path(a.model).name}), all columns and their statistics | {'| ' * g_len}{np.nanmean(gpfn):.3f} | | "
              f"{np.nanmean(d):+.3f} ± {np.nanstd(d, ddof=1) / np.sqrt(np.isfinite(d).sum()):.3f} | | |")


if __name__ == "__main__":
    main()
