"""Does averaging GBLUP uniformly over h2 beat REML, and for which traits?  A probe for the next prior revision.

On real soybean NAM (`../shared/ACCURACY.md`, ~2,500 training lines predicting other
families) GBLUP averaged uniformly over h2 = 0.05 ... 0.9 is 0.007 above REML's GBLUP;
on the NAM prior's own traits it is 0.01-0.03 below (`bench_anchors.py`).  This probe
keeps the genotypes of ``--draws`` NAM draws (``--n-train`` training individuals of a
population of ``--pop``, prior seed 1) and gives them traits whose genetic value is the
draw's own additive value plus a share (``--shares``) of additive x additive epistasis on
``--pairs`` random marker pairs, broad-sense h2 0.5.  Per share it prints r with the
targets' phenotypes of REML's GBLUP (the baseline), GBLUP averaged over the `gblup`
smoother's h2 grid by marginal likelihood and uniformly, the leave-one-out choice
among the grid, and each fixed h2 of the grid.  If a share makes the uniform average
beat REML, that kind of trait is a candidate for what the prior lacks.

``--set NAME=VALUE`` (repeatable, as for ``gpfn fit``) changes the NAM prior the draws
come from, e.g. ``--set family_share=0.3 --set h2=0.8`` for family-specific effects
(see :mod:`gpfn_core.sim.prior`); ``--shares 0`` then scores the prior's own traits (its
h2, not 0.5).  ``--target phenotype`` (default) scores r with the targets' phenotypes,
``g`` with their true genetic values.

    python benchmarks/bench_h2_averaging.py [--n-train 1000] [--pop 1200] [--draws 60] [--shares 0,0.3,0.6]
        [--set family_share=0.3 ...] [--target g]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time

import numpy as np

START = 8_400_000_000  # draw indices (disjoint from the model files' and the other benchmarks' draws)


def _one(job: tuple) -> dict[str, dict[str, list[float] | float]]:
    from threadpoolctl import threadpool_limits

    from gpfn_core.linear.gblup import gblup
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.smoothers import bma_mean, H2_GRID, smoother_features
    from gpfn_core.data.encoding import Encoding, Standardizer
    from gpfn_core.net.preprocess import loo_choice
    from gpfn_core.registry import get_registry

    i, n_train, pop, shares, pairs, overrides, target = job
    threadpool_limits(1)
    prior = get_registry().make_prior("nam", seed=1, founders="msprime", overrides=overrides)
    d = prior.draw(START + i, fixed={"pop_size": pop, "train_fraction": n_train / pop})
    nt = d.n_train
    rng = np.random.default_rng(i)
    additive = d.g - d.g.mean()
    xs = d.x.astype(np.float64) - 1.0  # inbred lines: -1 / +1 (0 for residual heterozygotes)
    a, b = rng.integers(0, xs.shape[1], pairs), rng.integers(0, xs.shape[1], pairs)
    epistatic = (xs[:, a] * xs[:, b]) @ rng.normal(size=pairs)
    epistatic -= epistatic.mean()
    enc = Encoding.fit(d.x[:nt])
    xt, xv = enc.transform(d.x[:nt]), enc.transform(d.x[nt:])
    kin = Kinship.of(xt)
    out = {}
    for share in shares:
        if share == 0 and overrides:  # the prior's own trait and phenotypes
            g, y = d.g.astype(np.float64), d.y.astype(np.float64)
        else:
            g = np.sqrt(1 - share) * additive / additive.std()
            if share > 0:
                g = g + np.sqrt(share) * epistatic / epistatic.std()
            y = g / g.std() + rng.normal(0, 1, len(g))  # broad-sense h2 0.5
        truth = y[nt:] if target == "phenotype" else g[nt:]
        z = Standardizer.fit(y[:nt]).transform(y[:nt]).astype(np.float64)
        f_train, f_target = smoother_features(xt, z, xv, kinship=kin)
        grid = f_target[:, : len(H2_GRID)].astype(np.float64)

        def r(p):
            return float(np.corrcoef(p, truth)[0, 1])

        out[str(share)] = {"REML": r(gblup(d.x[:nt], y[:nt], d.x[nt:]).prediction),
                           "marginal likelihood": r(bma_mean(f_target, kin, z)), "uniform": r(grid.mean(1)),
                           "leave-one-out choice": r(loo_choice(f_train, z, f_target, 0, "gblup")),
                           "grid": [r(grid[:, j]) for j in range(grid.shape[1])]}
    return out


def main() -> None:
    from gpfn_core.linear.smoothers import H2_GRID

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--pop", type=int, default=1200)
    ap.add_argument("--draws", type=int, default=60)
    ap.add_argument("--shares", default="0,0.3,0.6", help="Epistatic shares of the genetic variance.")
    ap.add_argument("--pairs", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="A NAM prior hyperparameter (value or lo:hi), e.g. family_share=0.3.")
    ap.add_argument("--target", choices=("phenotype", "g"), default="phenotype")
    a = ap.parse_args()
    shares = tuple(float(s) for s in a.shares.split(","))
    from gpfn_cli.common import parse_overrides

    overrides = parse_overrides(a.set)  # as `gpfn fit --set` reads them
    t = time.perf_counter()
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(_one, [(i, a.n_train, a.pop, shares, a.pairs, overrides, a.target) for i in range(a.draws)],
                        chunksize=1)
    own = " (share 0: the prior's own traits)" if overrides else ""
    print(f"# bench_h2_averaging: {a.draws} NAM draws, ~{a.n_train} training of {a.pop}, {a.pairs} epistatic pairs, "
          f"broad-sense h2 0.5{own}, prior {' '.join(a.set) or 'defaults'}, r with the targets' "
          f"{'phenotypes' if a.target == 'phenotype' else 'true genetic values'}; {time.perf_counter() - t:.0f} s\n")
    print("| epistatic share | REML GBLUP | " + " | ".join(f"{k} − REML ± SE (ahead)" for k in
          ("marginal likelihood", "uniform", "leave-one-out choice")) + " | fixed h² " +
          " / ".join(f"{h:g}" for h in H2_GRID) + " − REML |")
    print("| --- " * 6 + "|")
    for s in shares:
        reml = np.array([x[str(s)]["REML"] for x in rows])
        cells = []
        for k in ("marginal likelihood", "uniform", "leave-one-out choice"):
            d = np.array([x[str(s)][k] for x in rows]) - reml
            cells.append(f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f} ({np.mean(d > 0):.0%})")
        grid = (np.array([x[str(s)]["grid"] for x in rows]) - reml[:, None]).mean(0)
        print(f"| {s:g} | {reml.mean():.4f} | " + " | ".join(cells) + " | " + " / ".join(f"{v:+.3f}" for v in grid)
              + " |")


if __name__ == "__main__":
    main()
