"""GBLUP without an n x n matrix (gpfn_core.linear.iterative) against the dense path."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gpfn_core.data.encoding import Encoding
from gpfn_core.errors import ValidationError
from gpfn_core.linear.gblup import blup, gblup
from gpfn_core.linear.iterative import (
    KinshipOperator,
    Solver,
    gblup_iterative,
    reml_delta_iterative,
    top_eigen,
)
from gpfn_core.linear.kinship import relationship


def mosaic(rng, n: int, m: int, founders: int = 12, segment: int = 50) -> np.ndarray:
    """int8 [n, m] dosages, each haplotype a mosaic of ``founders`` founder haplotypes in
    segments of ``segment`` markers (relationships with structure, as in a breeding population)."""
    f = (rng.random((founders, m)) < rng.beta(0.5, 0.5, m)).astype(np.int8)
    cols = np.arange(m)

    def haplotypes():
        pick = rng.integers(0, founders, (n, m // segment + 1)).repeat(segment, 1)[:, :m]
        return f[pick, cols]

    return (haplotypes() + haplotypes()).astype(np.int8)


def trait(rng, x: np.ndarray, h2: float) -> tuple[np.ndarray, np.ndarray]:
    g = (x - x.mean(0)) @ rng.standard_normal(x.shape[1])
    g = g / g.std() * np.sqrt(h2)
    return g, g + rng.standard_normal(len(g)) * np.sqrt(1 - h2)


def test_the_operator_and_the_solver_are_the_dense_products(rng):
    x = Encoding.fit(d := mosaic(rng, 300, 700)).transform(d)
    op = KinshipOperator(x)
    k, _ = relationship(x.astype(np.float64), x[:0].astype(np.float64))
    v = rng.standard_normal((300, 3))
    np.testing.assert_allclose(op(v), k @ v, rtol=1e-4, atol=1e-4 * np.abs(k @ v).max())
    solver = Solver(op, rank=20)
    for delta in (0.05, 1.0, 20.0):
        exact = np.linalg.solve(k + delta * np.eye(300), v)
        np.testing.assert_allclose(solver.solve(v, delta), exact, rtol=0, atol=1e-4 * np.abs(exact).max())
    s, u = top_eigen(op, 64)  # the preconditioner's default rank
    top = np.linalg.eigvalsh(k)[::-1][:64]
    assert np.all(s <= top + 1e-6)  # Ritz values: never above the eigenvalues they approximate
    np.testing.assert_allclose(s[:10], top[:10], rtol=1e-3)
    np.testing.assert_allclose(u.T @ u, np.eye(64), atol=1e-8)


def test_blup_at_a_given_delta_equals_the_dense_blup(rng):
    d = mosaic(rng, 500, 1500)
    _, y = trait(rng, d.astype(np.float64), 0.5)
    enc = Encoding.fit(d[:400])
    k_tt, k_vt = relationship(enc.transform(d[:400]).astype(np.float64), enc.transform(d[400:]).astype(np.float64))
    dense, _ = blup(k_tt, k_vt, y[:400], 0.8)
    it = gblup_iterative(d[:400], y[:400], d[400:], delta=0.8)
    np.testing.assert_allclose(it.prediction, dense, rtol=0, atol=1e-4 * dense.std())
    assert it.delta == 0.8


@pytest.mark.parametrize("h2, markers", [(0.3, 3000), (0.7, 800)])
def test_reml_and_predictions_match_the_dense_path(rng, h2, markers):
    """With 1,500 training individuals (markers more or fewer than them) REML's delta is
    within 10% and the predictions correlate with the dense path's above 0.9999, so their r
    with the true values agrees to 1e-3."""
    n = 1500
    d = mosaic(rng, n + 300, markers)
    g, y = trait(rng, d.astype(np.float64), h2)
    dense = gblup(d[:n], y[:n], d[n:])
    stats = []
    it = gblup_iterative(d[:n], y[:n], d[n:], stats=stats)
    assert it.delta == pytest.approx(dense.delta, rel=0.1)
    assert np.corrcoef(it.prediction, dense.prediction)[0, 1] > 0.9999
    r = [np.corrcoef(p, g[n:])[0, 1] for p in (dense.prediction, it.prediction)]
    assert abs(r[0] - r[1]) < 1e-3
    assert stats[0].solves > 0 and stats[0].residual <= 1e-3


def test_the_final_solve_starts_from_reml_s_last_solution(rng):
    """REML hands on V^-1 [y, 1] at every delta it evaluated; started from the nearest one, the
    BLUP's solve needs fewer iterations than from zero and reaches the same solution."""
    n = 1200
    d = mosaic(rng, n, 2000)
    _, y = trait(rng, d.astype(np.float64), 0.5)
    solver = Solver(KinshipOperator(Encoding.fit(d).transform(d)))
    solved = {}
    delta = reml_delta_iterative(solver, y, solved=solved)
    assert solved and all(v.shape == (n, 2) for v in solved.values())
    near = min(solved, key=lambda v: abs(np.log(v / delta)))
    rhs = np.column_stack([y, np.ones(n)])

    def iterations(x0):
        before = solver.stats.iterations
        return solver.solve(rhs, delta, x0), solver.stats.iterations - before

    cold, cold_it = iterations(None)
    warm, warm_it = iterations(solved[near])
    assert warm_it < cold_it
    np.testing.assert_allclose(warm, cold, rtol=0, atol=1e-4 * np.abs(cold).max())


def test_no_n_by_n_matrix_is_formed(rng):
    """Peak memory stays below half of one n x n float32 matrix (2,000 individuals x 300
    markers: the genotypes are 2.4 MB, an n x n float32 matrix 16 MB; the preconditioner's
    [n, 64] eigenvectors and the solver's blocks are what it holds)."""
    n = 2000
    d = mosaic(rng, n + 100, 300, segment=20)
    _, y = trait(rng, d.astype(np.float64), 0.5)
    x = Encoding.fit(d[:n]).transform(d[:n])
    xv = Encoding.fit(d[:n]).transform(d[n:])
    gblup_iterative(None, y[:200], None, x_train=x[:200], x_target=xv)  # its imports, before counting
    tracemalloc.start()
    try:
        gblup_iterative(None, y[:n], None, x_train=x, x_target=xv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * n * 4 / 2  # half of one n x n float32 matrix


def test_bad_phenotypes_are_refused(rng):
    d = mosaic(rng, 60, 200)
    with pytest.raises(ValidationError, match="constant"):
        gblup_iterative(d[:50], np.ones(50), d[50:])
    with pytest.raises(ValidationError, match="finite"):
        gblup_iterative(d[:50], np.r_[np.nan, np.arange(49.0)], d[50:])


def qtl_trait(rng, x: np.ndarray, loci: int, share: float, h2: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """A genetic value of ``loci`` markers carrying ``share`` of it on a polygenic background,
    and a phenotype of heritability ``h2``."""
    xc = x - x.mean(0)
    big = xc[:, rng.choice(x.shape[1], loci, replace=False)] @ rng.standard_normal(loci)
    poly = xc @ rng.standard_normal(x.shape[1])
    g = np.sqrt(share) * big / big.std() + np.sqrt(1 - share) * poly / poly.std()
    g = g / g.std() * np.sqrt(h2)
    return g, g + rng.standard_normal(len(g)) * np.sqrt(1 - h2)


def test_calibrated_quadratic_forms_are_close_to_the_exact_ones(rng):
    from gpfn_core.linear.iterative import quadratic_forms

    x = Encoding.fit(d := mosaic(rng, 800, 3000)).transform(d).astype(np.float64)
    solver = Solver(KinshipOperator(x))
    k, _ = relationship(x, x[:0])
    polymorphic = np.flatnonzero((x * x).sum(0) > 0)
    xc = x[:, rng.choice(polymorphic, 200, replace=False)]
    for delta in (0.3, 1.5):
        exact = (xc * np.linalg.solve(k + delta * np.eye(800), xc)).sum(0)
        got = quadratic_forms(solver, xc, delta)
        err = np.abs(got / exact - 1)
        assert err.mean() < 0.1
        # the calibration is what makes them close: the forms with a flat tail overstate them several-fold
        ux = solver.u.T @ xc
        flat = ((ux * ux) / (solver.s + delta)[:, None]).sum(0) + ((xc * xc).sum(0) - (ux * ux).sum(0)) / delta
        assert np.abs(flat / exact - 1).mean() > 5 * err.mean()


def test_matrix_free_qtl_effects_predict_as_the_dense_qtl_anchor_at_one_h2(rng):
    from gpfn_core.data.encoding import Standardizer
    from gpfn_core.linear.iterative import qtl_effects
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.qtl import qtl_gblup

    d = mosaic(rng, 1000, 2500)
    enc = Encoding.fit(d[:800])
    xt, xv = enc.transform(d[:800]), enc.transform(d[800:])
    _, y = qtl_trait(rng, d.astype(np.float64), loci=5, share=0.6)
    z = Standardizer.fit(y[:800]).transform(y[:800])
    kin = Kinship.of(xt, keep=True)
    coords, _ = kin.products(xt, xv)
    solver = Solver(KinshipOperator(xt))
    for h2 in (0.3, 0.6):
        delta = (1 - h2) / h2
        dense = qtl_gblup(kin, coords, xt, xv, z, h2_grid=(h2,), steps=5)
        free = xv.astype(np.float64) @ qtl_effects(solver, z, delta, steps=5)
        assert np.corrcoef(dense, free)[0, 1] > 0.9999
        np.testing.assert_allclose(free, dense, atol=0.02 * dense.std())
    # the single effects are there: without them the prediction is GBLUP's, and differs
    plain = xv.astype(np.float64) @ qtl_effects(solver, z, 0.6 / 0.4, steps=0)
    assert np.corrcoef(plain, free)[0, 1] < 0.999
