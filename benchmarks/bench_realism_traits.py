"""Which kind of trait reproduces a real set's statistics?  A probe for the next prior revision.

`bench_prior_realism.py` places wheat599 among a prior's draws; for `wild` its elastic-net
gap (elastic net − GBLUP, 5-fold CV r with the phenotype: −0.081) sits in the prior's
tail.  This probe keeps the genotypes of ``--draws`` draws of ``--prior`` at the real
set's size and gives them other traits, each with the same statistics (GBLUP's REML h²
and the elastic-net gap, `bench_prior_realism.phenotype_stats`):

- **prior**: the draw's own trait (QTL and background drawn among all segregating loci);
- **prior, common panel**: the same, with the panel drawn as the real set's size out of
  markers with MAF >= 0.05 among ``--candidates`` drawn (real panels are ascertained);
- **every marker**: normal effects on every panel marker, h² 0.5: an infinitesimal trait
  the panel tags perfectly;
- **epistatic**: additive × additive effects on ``--pairs`` random marker pairs, h² 0.5.

Each row gives the p10 / p50 / p90 of the two statistics over the draws and the real
set's percentile among them (the median over its environments).

    python benchmarks/bench_realism_traits.py [--prior wild] [--draws 6] [--workers 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_prior_realism import (PHENOTYPE_STATS, WHEAT, phenotype_stats, read_real,  # noqa: E402
                                 real_phenotype_stats, spread)

TRAITS = ("prior", "prior, common panel", "every marker", "epistatic")


def _probe(job: tuple[str, int, int, int, int, int]) -> dict[str, dict[str, float]]:
    from threadpoolctl import threadpool_limits

    from gpfn_core.registry import get_registry

    prior_name, index, n, m, candidates, pairs = job
    threadpool_limits(1)
    prior = get_registry().make_prior(prior_name, seed=21)
    d = prior.draw(index, fixed={"pop_size": n, "n_markers": m})
    rng = np.random.default_rng(index)
    out = {"prior": phenotype_stats(d.x, d.y, index)}
    wide = prior.draw(index, fixed={"pop_size": n, "n_markers": candidates})
    p = wide.x.mean(0) / 2
    common = np.flatnonzero(np.minimum(p, 1 - p) >= 0.05)
    keep = np.sort(rng.choice(common, min(m, common.size), replace=False))
    out["prior, common panel"] = phenotype_stats(wide.x[:, keep], wide.y, index)
    x = d.x.astype(np.float64)
    x -= x.mean(0)
    a, b = rng.integers(0, m, pairs), rng.integers(0, m, pairs)
    for name, g in (("every marker", x @ rng.standard_normal(m)),
                    ("epistatic", (x[:, a] * x[:, b]) @ rng.standard_normal(pairs))):
        g = g / g.std() if g.std() > 0 else g
        out[name] = phenotype_stats(d.x, g + rng.standard_normal(n), index)  # h2 0.5
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", default="wild")
    ap.add_argument("--draws", type=int, default=6)
    ap.add_argument("--data", type=Path, default=WHEAT)
    ap.add_argument("--candidates", type=int, default=6000, help="Markers drawn for the common panel.")
    ap.add_argument("--pairs", type=int, default=3000, help="Marker pairs of the epistatic trait.")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    t0 = time.perf_counter()
    x, envs = read_real(a.data)
    n, m = x.shape
    real = real_phenotype_stats(x, envs)[1]
    jobs = [(a.prior, 8_000_000_000 + i, n, m, a.candidates, a.pairs) for i in range(a.draws)]
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(_probe, jobs)
    print(f"# bench_realism_traits: {a.prior} genotypes at {a.data.name}'s size ({n} x {m}), {a.draws} draws; "
          f"{a.data.name}: " + ", ".join(f"{s} {v:.3f}" for s, v in real.items()) + "\n")
    print("| trait | " + " | ".join(f"{s} p10 / p50 / p90 ({a.data.name}'s percentile)" for s in PHENOTYPE_STATS) + " |")
    print("| --- |" + " --- |" * len(PHENOTYPE_STATS))
    for t in TRAITS:
        cells = []
        for s in PHENOTYPE_STATS:
            sp = spread(np.array([r[t][s] for r in rows], float), real[s])
            cells.append("no finite value" if sp is None else f"{sp[0]:.3f} / {sp[1]:.3f} / {sp[2]:.3f} ({sp[3]:.0f})")
        print(f"| {t} | " + " | ".join(cells) + " |")
    print(f"\n# {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
