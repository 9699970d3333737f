"""Is the prior realistic?  Statistics that separate genetic architectures and population
structures, over a prior's draws, with a real data set's values placed among them.

For each prior, ``--draws`` draws with the real set's dimensions (population size and
marker count fixed to the real set's; inbred or not as the scheme makes them), and for
the real set (default ``../shared/data/wheat599``, each of its environments), the same
statistics computed the same way, on phenotypes:

- **REML h2**: GBLUP's REML heritability (gpfn_core.linear.gblup), all individuals;
- **EN − GBLUP**: 5-fold cross-validated r with the phenotype of an elastic net
  (scikit-learn ElasticNetCV, l1_ratio 0.5, inner 3-fold CV; r = 0 in a fold where it
  chose the empty model) minus GBLUP's, same folds:
  positive where the trait is sparse (a few large QTL), about 0 or below where polygenic;
- **top eigenvalue share**: the largest eigenvalue of the genomic relationship matrix
  over its trace (population structure);
- **mean r² of random marker pairs**: genome-wide linkage disequilibrium (wheat599 has
  no marker map, so LD decay with distance cannot be computed on it; this is the
  map-free summary);
- **PCs for 90% / n**: principal components carrying 90% of the marker variance, per
  individual (effective dimension of the genotypes);
- **heterozygosity**: the share of called genotypes that are heterozygous (about 0 in
  inbred lines; outbred families and hybrids are mostly heterozygous).

The table gives each statistic's 10th/50th/90th percentile over the prior's draws and
the percentile at which the real value falls (the median over environments for the
phenotype statistics); ``inside`` when it is between the 10th and 90th.  ``--png`` draws
the distributions with the real values marked.

    python benchmarks/bench_prior_realism.py [--priors nam wild] [--draws 30] [--workers 2] [--png realism.png]
        [--set NAME=VALUE ...]
    python benchmarks/bench_prior_realism.py --priors outbred universal --data ../shared/data/apple
    python benchmarks/bench_prior_realism.py --priors hybrid --data none --size 400x5000

``--set`` changes the priors' hyperparameters as ``gpfn fit --set`` does (``poly_share=0:0.9:uniform``
gives back an earlier default), so a candidate prior can be checked before a model is fitted on it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from gpfn_core.metrics import pearson

WHEAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wheat599"
STATS = ("REML h2", "EN − GBLUP", "top eigenvalue share", "mean r² of marker pairs", "PCs for 90% / n",
         "heterozygosity")
PHENOTYPE_STATS = STATS[:2]


def genotype_stats(x: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Structure and LD statistics of an int8 dosage matrix (-1 missing)."""
    from gpfn_core.data.encoding import Encoding

    xc = Encoding.fit(x).transform(x).astype(np.float64)
    xc = xc[:, xc.std(0) > 0]
    n, m = xc.shape
    ev = np.clip(np.linalg.eigvalsh(xc @ xc.T), 0, None)[::-1]
    share = np.cumsum(ev) / ev.sum()
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, m, 2000), rng.integers(0, m, 2000)
    keep = a != b
    z = (xc - xc.mean(0)) / xc.std(0)
    r2 = ((z[:, a[keep]] * z[:, b[keep]]).mean(0)) ** 2
    called = x >= 0
    return {"top eigenvalue share": float(ev[0] / ev.sum()), "mean r² of marker pairs": float(r2.mean()),
            "PCs for 90% / n": float((np.searchsorted(share, 0.9) + 1) / n),
            "heterozygosity": float((x == 1).sum() / max(called.sum(), 1))}


def phenotype_stats(x: np.ndarray, y: np.ndarray, seed: int = 0) -> dict[str, float]:
    """REML h2 and the 5-fold CV gap elastic net − GBLUP, on phenotypes.

    A fold where the elastic net's CV chose the empty model (a constant prediction) counts
    as r = 0 for it, as `bench_accuracy` scores it: leaving such folds out (as this
    benchmark did before) drops exactly the failures that make the gap negative."""
    from gpfn_core.linear.baselines import elastic_net
    from gpfn_core.linear.gblup import gblup

    h2 = gblup(x, y, x[:1]).h2
    fold = np.random.default_rng(seed).permutation(len(y)) % 5
    en, gb = [], []
    for k in range(5):
        tr, te = fold != k, fold == k
        gb.append(pearson(gblup(x[tr], y[tr], x[te]).prediction, y[te]))
        pred = elastic_net(x[tr], y[tr], x[te], seed=seed)
        en.append(pearson(pred, y[te]) if np.std(pred) > 0 else 0.0)
    d = np.array(en) - np.array(gb)
    return {"REML h2": float(h2), "EN − GBLUP": float(np.nanmean(d))}


def _draw_stats(job: tuple[str, int, int, int, dict[str, str]]) -> dict[str, float]:
    from threadpoolctl import threadpool_limits

    from gpfn_core.registry import get_registry

    prior_name, index, n, m, overrides = job
    threadpool_limits(1)
    prior = get_registry().make_prior(prior_name, seed=21, overrides=overrides)
    try:
        d = prior.draw(index, fixed={"pop_size": n, "n_markers": m})
    except Exception as exc:  # a scheme that cannot make this size: reported, not fatal
        return {"error": str(exc)}
    return {**genotype_stats(d.x, index), **phenotype_stats(d.x, d.y, index)}


def real_phenotype_stats(x: np.ndarray, envs: dict[str, np.ndarray]) -> tuple[list[dict[str, float]], dict[str, float]]:
    """The real set's phenotype statistics per environment, and their medians (its value)."""
    per_env = [phenotype_stats(x, y) for y in envs.values()]
    return per_env, {s: float(np.median([p[s] for p in per_env])) for s in PHENOTYPE_STATS}


def spread(values: np.ndarray, real: float) -> tuple[float, float, float, float] | None:
    """p10, p50, p90 of the finite ``values`` and the percentile ``real`` falls at among
    them (share below it, in %); None when no value is finite."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not v.size:
        return None
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return float(p10), float(p50), float(p90), float(100 * np.mean(v < real))


def read_real(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A real set's genotypes and phenotypes: wheat599 as bench_accuracy reads it, the other
    development sets (genotypes.csv, phenotypes.csv) as bench_real reads them (through
    gpfn parse; its quantitative traits)."""
    sys.path.insert(0, str(Path(__file__).parent))
    if (folder / "genotypes.csv").exists():
        import tempfile

        from bench_real import load

        with tempfile.TemporaryDirectory() as tmp:
            x, traits, _, _ = load(folder, Path(tmp))
        ok = {t: y for t, y in traits.items() if np.isfinite(y).all()}
        if not ok:  # traits with missing values: each on its phenotyped individuals is not one matrix; impute none
            ok = {t: np.where(np.isfinite(y), y, np.nanmean(y)) for t, y in traits.items()}
        return x, ok
    from bench_accuracy import read_wheat

    x, envs, _ = read_wheat(folder)
    return x, envs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--priors", nargs="*", default=["nam", "wild"])
    ap.add_argument("--draws", type=int, default=30)
    ap.add_argument("--data", default=str(WHEAT), help="A real set's folder (wheat599 or one of the six "
                    "development sets), or 'none' for the prior's own percentiles at --size.")
    ap.add_argument("--size", default="400x5000", help="Population x markers of the draws with --data none.")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--png", type=Path, default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="Hyperparameter override for every prior, as `gpfn fit --set` (repeatable).")
    a = ap.parse_args()
    from gpfn_cli.common import parse_overrides

    from gpfn_core.errors import GpfnError
    from gpfn_core.registry import get_registry

    try:  # a bad name or value fails here, before any draw
        overrides = parse_overrides(tuple(a.overrides))
        for name in a.priors:
            get_registry().make_prior(name, seed=21, overrides=overrides)
    except GpfnError as exc:
        sys.exit(f"bench_prior_realism: {exc}")
    t0 = time.perf_counter()
    if a.data == "none":
        n, m = (int(v) for v in a.size.split("x"))
        real, label, per_env = {}, "none", []
        print(f"# bench_prior_realism: no real set; {a.draws} draws per prior at {n} x {m}"
              + (f"; --set {' '.join(a.overrides)}" if a.overrides else ""))
    else:
        folder = Path(a.data)
        x, envs = read_real(folder)
        n, m = x.shape
        per_env, medians = real_phenotype_stats(x, envs)
        real, label = {**genotype_stats(x), **medians}, folder.name
        print(f"# bench_prior_realism: {label} ({n} individuals x {m} markers, {len(envs)} phenotypes); "
              f"{a.draws} draws per prior at the same size"
              + (f"; --set {' '.join(a.overrides)}" if a.overrides else ""))
        print("\n" + label + ": " + ", ".join(f"{s} {real[s]:.3f}" for s in STATS)
              + "  (phenotype statistics per phenotype: "
              + "; ".join(f"{e} h2 {p['REML h2']:.2f}, EN−GBLUP {p['EN − GBLUP']:+.3f}" for e, p in zip(envs, per_env))
              + ")")
    results = {}
    with mp.get_context("spawn").Pool(a.workers) as pool:
        for name in a.priors:
            rows = pool.map(_draw_stats, [(name, 8_000_000_000 + i, n, m, overrides) for i in range(a.draws)])
            ok = [r for r in rows if "error" not in r]
            if not ok:
                print(f"\n{name}: no draw at {n} x {m}: {rows[0]['error']}")
                continue
            results[name] = {s: np.array([r[s] for r in ok]) for s in STATS}
    print("\n| prior | statistic | p10 | p50 | p90 | " + label + " | its percentile | inside 10-90 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, vals in results.items():
        for s in STATS:
            if s not in real:
                p10, p50, p90, _ = spread(vals[s], 0.0)
                print(f"| {name} | {s} | {p10:.3f} | {p50:.3f} | {p90:.3f} | - | - | - |")
                continue
            p10, p50, p90, pct = spread(vals[s], real[s])
            print(f"| {name} | {s} | {p10:.3f} | {p50:.3f} | {p90:.3f} | {real[s]:.3f} | {pct:.0f} | "
                  f"{'yes' if 10 <= pct <= 90 else '**no**'} |")
    if len(per_env) > 1:  # a set with several phenotypes: where each falls, and how many sit below the median
        from scipy.stats import binomtest

        print("\n| prior | statistic | each phenotype's percentile | below the prior's median | sign test p |")
        print("| --- | --- | --- | --- | --- |")
        for name, vals in results.items():
            for s in PHENOTYPE_STATS:
                pcts = [spread(vals[s], p[s])[3] for p in per_env]
                below = sum(q < 50 for q in pcts)
                print(f"| {name} | {s} | {' '.join(f'{q:.0f}' for q in pcts)} | {below} of {len(pcts)} | "
                      f"{binomtest(below, len(pcts)).pvalue:.3f} |")
    if a.png and results:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(results), len(STATS), figsize=(3.2 * len(STATS), 2.6 * len(results)),
                                 squeeze=False)
        for i, (name, vals) in enumerate(results.items()):
            for j, s in enumerate(STATS):
                ax = axes[i, j]
                ax.hist(vals[s][np.isfinite(vals[s])], bins=15, color="tab:blue", alpha=0.7)
                if s in real:
                    ax.axvline(real[s], color="tab:red", lw=2)
                ax.set_title(f"{name}: {s}", fontsize=8)
        fig.suptitle(f"prior draws (blue) and {label} (red)")
        fig.tight_layout()
        fig.savefig(a.png, dpi=90)
        print(f"\nplot: {a.png}")
    print(f"\n# {time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
