"""How much the smoother inputs hold on their own, against GBLUP (REML) on the same draws.

For fresh draws of a prior, Pearson r with the targets' true genetic values of:
GBLUP with REML (the baseline); the `gblup` smoother at each fixed h2 of its grid, the
best of the grid in hindsight (an oracle no method has) and the grid's mean; and the
same for the `sparse` smoother (marker-weighted kernel).  The model sees all of these
columns plus how well each predicts the training individuals, so the oracle columns
bound what choosing among them can give; the model may also combine them.

    python benchmarks/bench_smoothers.py [--prior nam] [--draws 30] [--set poly_share=0 ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from gpfn_core.gblup import H2_GRID, gblup, smoother_features, sparse_smoother_features
from gpfn_core.preprocess import Encoding, Standardizer
from gpfn_core.registry import get_registry


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="nam")
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--pop-size", type=int, default=300)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE|LO:HI")
    a = ap.parse_args()
    from gpfn_cli.prior_cmd import parse_overrides

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
        for fn in (smoother_features, sparse_smoother_features):
            fv = fn(xt, z, xv)[1]
            row += [np.corrcoef(fv[:, j], truth)[0, 1] for j in range(g_len)]
        rows.append(row)
    r = np.array(rows)
    print(f"# {a.prior}, {a.draws} draws of pop {a.pop_size}, {' '.join(a.overrides) or 'default ranges'}; "
          f"{time.perf_counter() - t:.0f} s")
    print("| input | " + " | ".join(f"h2 {h}" for h in H2_GRID) + " | grid mean | oracle best | vs GBLUP |")
    print("| --- " * (g_len + 4) + "|")
    print(f"| GBLUP (REML), baseline | {'| ' * g_len}{r[:, 0].mean():.3f} | | 0.000 |")
    for k, name in enumerate(("gblup smoother", "sparse smoother")):
        block = r[:, 1 + k * g_len: 1 + (k + 1) * g_len]
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in np.nanmean(block, 0))
              + f" | {np.nanmean(block):.3f} | {np.nanmax(block, 1).mean():.3f} | "
                f"{np.nanmax(block, 1).mean() - r[:, 0].mean():+.3f} |")
    both = np.nanmax(r[:, 1:], 1)
    print(f"| either, oracle best | {'| ' * g_len}| {both.mean():.3f} | {both.mean() - r[:, 0].mean():+.3f} |")


if __name__ == "__main__":
    main()
