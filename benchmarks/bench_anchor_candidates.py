"""Candidate anchors for large training sets with loci of large effect, before any is shipped.

On the draws of ``bench_bayes.py`` section 5 (NAM, 2,500 training lines of whole families
predicting 500 lines of other families, 3-15 QTL on a polygenic background,
3,000-5,000 markers; ``--draws-from`` selection by default: candidates are chosen on
selection draws), r with the targets' true genetic values of:

- **GBLUP** (REML) and **BayesB** (BGLR's defaults, ``--iterations``), the references;
- **QTL anchor**: the shipped ``gblup_qtl`` anchor (large effects from single-effect
  regressions plus family GBLUP of the rest, :func:`gpfn_core.linear.qtl.qtl_family_gblup`);
- **QTL anchor, MAF >= 0.02**: the same with the large-effect candidates restricted to
  markers whose minor allele has training frequency 0.02 or more.  A marker private to
  one founder tags that founder's QTL allele perfectly within its family, and its
  per-allele effect does not carry to other families, where the same allele sits on
  another haplotype (found on a draw where the anchor fell 0.34 below GBLUP);
- **VB mixture**: every marker's effect at once under a mixture-of-normals prior (zero and
  15 widths, half decades, on the per-allele scale) with the mixing weights and the
  residual variance estimated, by coordinate-ascent variational inference (Mr.ASH, Kim
  et al. 2024; the deterministic counterpart of BayesR), 40 sweeps at most;
- **QTL + VB**: their mean, 1:1;
- with ``--cv``, **CV choice**: whichever of the QTL anchor, the VB mixture and the
  h²-averaged GBLUP predicts held-out *clusters* of the training individuals best (5
  folds of whole genomic clusters, :func:`gpfn_core.linear.family.family_labels`, as the
  targets are whole families): a data-dependent choice (5 refits of each per draw).

Paired differences against BayesB and against the QTL anchor, ``--record`` writes every
draw's r (record ``anchor-candidates-SET``).

    python benchmarks/bench_anchor_candidates.py [--draws 48] [--iterations 3000] [--cv] [--record]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

VB_GRID = tuple(10.0 ** np.arange(-7.0, 0.01, 0.5))  # prior variances of a per-allele effect / the residual's
VB_SWEEPS, VB_TOL = 40, 1e-3
MAF_FLOOR = 0.02


def _vb_kernel():
    from numba import njit

    @njit(cache=True, fastmath={"reassoc", "contract"})
    def cavi(xt, d, r, b, pi, tau, sigma2, order, sweeps, tol):
        m, n = xt.shape
        kk = tau.size
        lw, mu, s2, phi_sum = np.empty(kk + 1), np.empty(kk + 1), np.empty(kk + 1), np.empty(kk + 1)
        for _ in range(sweeps):
            phi_sum[:] = 0.0
            var_sum, b_term, nonnull, biggest = 0.0, 0.0, 0.0, 0.0
            log_pi = np.log(np.maximum(pi, 1e-300))
            for jj in range(m):
                j = order[jj]
                dj = d[j]
                if dj <= 0.0:
                    continue
                xj = xt[j]
                xr = 0.0
                for i in range(n):
                    xr += xj[i] * r[i]
                xr += dj * b[j]  # x_j' (residual with marker j's own effect put back)
                lw[0], mu[0], s2[0] = log_pi[0], 0.0, 0.0
                top = lw[0]
                for k in range(kk):
                    prec = dj + 1.0 / tau[k]
                    mu[k + 1] = xr / prec
                    s2[k + 1] = sigma2 / prec
                    lw[k + 1] = log_pi[k + 1] - 0.5 * np.log(tau[k] * prec) + 0.5 * xr * xr / (prec * sigma2)
                    top = max(top, lw[k + 1])
                tot = 0.0
                for k in range(kk + 1):
                    lw[k] = np.exp(lw[k] - top)
                    tot += lw[k]
                new, second = 0.0, 0.0
                for k in range(kk + 1):
                    p = lw[k] / tot
                    phi_sum[k] += p
                    new += p * mu[k]
                    second += p * (mu[k] * mu[k] + s2[k])
                    if k > 0:
                        b_term += p * (mu[k] * mu[k] + s2[k]) / tau[k - 1]
                nonnull += 1.0 - lw[0] / tot
                var_sum += dj * (second - new * new)
                delta = new - b[j]
                if delta != 0.0:
                    for i in range(n):
                        r[i] -= xj[i] * delta
                    b[j] = new
                    biggest = max(biggest, abs(delta) * np.sqrt(dj / n))
            rr = 0.0
            for i in range(n):
                rr += r[i] * r[i]
            sigma2 = (rr + var_sum + b_term) / (n + nonnull)  # the ELBO's maximiser given q
            for k in range(kk + 1):
                pi[k] = (phi_sum[k] + 1e-3) / (m + (kk + 1) * 1e-3)
            if biggest < tol:
                break
        return b

    return cavi


_CAVI = None


def vb_mixture(x_train: np.ndarray, z: np.ndarray, x_target: np.ndarray) -> np.ndarray:
    """The targets' values under the VB mixture's posterior mean effects (encoded, centred
    genotypes; markers on one common scale, so the prior is on the per-allele effect)."""
    global _CAVI
    xt = np.ascontiguousarray(np.asarray(x_train, np.float32).T)  # [m, n]
    m, n = xt.shape
    mean = xt.mean(1, dtype=np.float64)
    xt -= mean.astype(np.float32)[:, None]
    var = np.einsum("ij,ij->i", xt, xt, dtype=np.float64) / n
    poly = var > 1e-12
    s = float(np.sqrt(var[poly].mean())) if poly.any() else 1.0
    xt /= np.float32(s)
    xt[~poly] = 0.0
    d = np.einsum("ij,ij->i", xt, xt, dtype=np.float64)
    r = np.asarray(z, np.float64) - float(np.mean(z))
    order = np.argsort(-np.abs(xt @ r.astype(np.float32)), kind="stable").astype(np.int64)
    tau = np.asarray(VB_GRID)
    if _CAVI is None:
        _CAVI = _vb_kernel()
    b = _CAVI(xt, d, r, np.zeros(m), np.full(tau.size + 1, 1.0 / (tau.size + 1)), tau, float(r @ r / n), order,
              VB_SWEEPS, VB_TOL) / s
    return float(np.mean(z)) + (np.asarray(x_target, np.float32) @ b.astype(np.float32)).astype(np.float64) \
        - float(mean @ b)


def _anchors(dosage_train: np.ndarray, y: np.ndarray, dosage_target: np.ndarray) -> dict[str, np.ndarray]:
    from gpfn_core.linear.family import family_gblup
    from gpfn_core.linear.qtl import qtl_family_gblup, qtl_gblup, qtl_steps
    from gpfn_core.linear.smoothers import bma_mean, smoother_features
    from gpfn_core.net.preprocess import Genotypes

    g = Genotypes.of(dosage_train, dosage_target, True)
    z = (y - y.mean()) / y.std()
    xt, xv, kin, co = g.x_train, g.x_target, g.kinship, g.coordinates
    out = {"QTL anchor": qtl_family_gblup(kin, co, xt, xv, z, family=g.family)}
    common = (g.encoding.mean / 2 >= MAF_FLOOR).astype(np.float32)  # the candidates' columns; the kinship keeps all
    # the shipped anchor's step count for this size, so the variant differs from it by the floor alone
    _, top, b = qtl_gblup(kin, co, xt * common, xv * common, z, steps=qtl_steps(len(xt)), effects=True)
    rest = z - xt[:, top].astype(np.float64) @ b
    grid = smoother_features(xt, rest, xv, kinship=kin, coordinates=co)
    out["QTL anchor, MAF >= 0.02"] = xv[:, top].astype(np.float64) @ b + family_gblup(kin, co, xv, rest, grid[1],
                                                                                       family=g.family)
    out["VB mixture"] = vb_mixture(xt, z, xv)
    out["QTL + VB"] = (out["QTL anchor"] + out["VB mixture"]) / 2
    out["GBLUP average"] = bma_mean(smoother_features(xt, z, xv, kinship=kin, coordinates=co)[1], kin, z)
    return out


CHOICES = ("QTL anchor", "VB mixture", "GBLUP average")


def _cv_choice(dosage_train: np.ndarray, y: np.ndarray, dosage_target: np.ndarray, full: dict) -> np.ndarray:
    from gpfn_core.data.encoding import Encoding
    from gpfn_core.linear.family import family_labels
    from gpfn_core.linear.kinship import Kinship

    kin = Kinship.of(Encoding.fit(dosage_train).transform(dosage_train))
    lab = family_labels((kin.u * (kin.lam / kin.scale)) @ kin.u.T)
    fold = np.random.default_rng(0).permutation(int(lab.max()) + 1)[lab] % 5
    score = {k: [] for k in CHOICES}
    for f in range(5):
        held = fold == f
        if held.sum() < 5 or (~held).sum() < 50:
            continue
        p = _anchors(dosage_train[~held], y[~held], dosage_train[held])
        for k in CHOICES:
            score[k].append(np.corrcoef(p[k], y[held])[0, 1])
    best = max(CHOICES, key=lambda k: np.mean(score[k]) if score[k] else -1.0)
    return full[best]


def _one(job: tuple[str, int, int, bool]) -> dict[str, float]:
    from threadpoolctl import threadpool_limits

    from bench_bayes import large_draw
    from gpfn_core.linear.bayes import bayes
    from gpfn_core.linear.gblup import gblup

    draws_from, j, iterations, cv = job
    threadpool_limits(1)
    d = large_draw(draws_from, j)
    nt, truth = d.n_train, d.g[d.n_train:]
    xt, y, xv = d.x[:nt], d.y[:nt].astype(np.float64), d.x[nt:]
    r = lambda p: float(np.corrcoef(p, truth)[0, 1])  # noqa: E731
    out = {"n_qtl": int(d.params["n_qtl"]), "GBLUP": r(gblup(xt, y, xv).prediction)}
    out["BayesB"] = r(bayes(xt, y, xv, "bayesb", iterations=iterations, burn_in=iterations // 6, seed=j).prediction)
    full = _anchors(xt, y, xv)
    out.update({k: r(v) for k, v in full.items() if k != "GBLUP average"})
    if cv:
        out["CV choice"] = r(_cv_choice(xt, y, xv, full))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=48)
    ap.add_argument("--draws-from", default="selection", choices=["selection", "final"])
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cv", action="store_true", help="Also the choice by grouped cross-validation (5x the anchors).")
    ap.add_argument("--record", action="store_true")
    a = ap.parse_args()
    with mp.get_context("spawn").Pool(a.workers) as pool:
        rows = pool.map(_one, [(a.draws_from, j, a.iterations, a.cv) for j in range(a.draws)], chunksize=1)
    methods = [k for k in rows[0] if k != "n_qtl"]
    r = {m: np.array([row[m] for row in rows]) for m in methods}
    print(f"\n{a.draws} {a.draws_from} draws of bench_bayes section 5's regime (BayesB {a.iterations} iterations)\n")
    print("| method | mean r | − BayesB ± SE | − QTL anchor ± SE | ahead of BayesB |")
    print("| --- | --- | --- | --- | --- |")
    for m in methods:
        cells = []
        for base in ("BayesB", "QTL anchor"):
            d = r[m] - r[base]
            cells.append("" if m == base else f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}")
        ahead = "" if m == "BayesB" else f"{np.mean(r[m] > r['BayesB']):.0%}"
        print(f"| {m} | {r[m].mean():.3f} | {cells[0]} | {cells[1]} | {ahead} |")
    if a.record:
        from records import write

        path = write(f"anchor-candidates-{a.draws_from}", {"draws": a.draws, "iterations": a.iterations,
                                                           **{f"{m}_r_per_draw": r[m].tolist() for m in methods},
                                                           "n_qtl_per_draw": [row["n_qtl"] for row in rows]},
                     data={"draws_from": a.draws_from, "draws": a.draws})
        print(f"recorded: {path}")


if __name__ == "__main__":
    main()
