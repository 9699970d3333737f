import numpy as np
import pytest

from gpfn_core import ValidationError
from gpfn_core.linear.bayes import METHODS, bayes
from gpfn_core.data.encoding import Encoding


def genotypes(rng, n, m):
    return rng.binomial(2, rng.uniform(0.15, 0.5, m), (n, m)).astype(np.int8)


@pytest.mark.parametrize("method", ["bayesb", "bayescpi"])
def test_flat_prior_with_few_markers_is_ols(method):
    rng = np.random.default_rng(1)
    x = genotypes(rng, 400, 8)
    y = 3.0 + (x - x.mean(0)) @ rng.normal(0, 1, 8) + rng.normal(0, 1, 400)
    r = bayes(x, y, x[:5], method, iterations=3000, burn_in=500, prob_in=1.0, counts=0, s0_b=1e8)
    xc = Encoding.fit(x).transform(x).astype(np.float64)
    ols = np.linalg.lstsq(np.c_[np.ones(400), xc], y, rcond=None)[0]
    assert np.allclose(r.effects, ols[1:], atol=0.02), (r.effects, ols[1:])
    assert r.mu == pytest.approx(ols[0], abs=0.02) and r.pi == 1.0
    assert np.allclose(r.prediction, np.c_[np.ones(5), xc[:5]] @ ols, atol=0.05)


@pytest.mark.parametrize("method", ["bayesb", "bayescpi"])
def test_a_sparse_prior_recovers_the_one_large_qtl(method):
    rng = np.random.default_rng(2)
    x = genotypes(rng, 250, 400)
    qtl = 137
    xc = Encoding.fit(x).transform(x).astype(np.float64)
    y = 1.0 * xc[:, qtl] + rng.normal(0, 0.5, 250)
    r = bayes(x, y, x[:3], method, iterations=1500, burn_in=300, prob_in=0.01, counts=1000)
    assert np.argmax(np.abs(r.effects)) == qtl
    assert r.effects[qtl] == pytest.approx(1.0, abs=0.15)
    others = np.delete(np.abs(r.effects), qtl)
    assert others.max() < 0.1 and r.pi < 0.05


def test_seeded_and_checked():
    rng = np.random.default_rng(3)
    x = genotypes(rng, 60, 50)
    y = rng.normal(size=60)
    a = bayes(x, y, x[:4], "bayesb", iterations=200, burn_in=50, seed=7)
    b = bayes(x, y, x[:4], "bayesb", iterations=200, burn_in=50, seed=7)
    c = bayes(x, y, x[:4], "bayesb", iterations=200, burn_in=50, seed=8)
    assert np.array_equal(a.prediction, b.prediction) and not np.array_equal(a.prediction, c.prediction)
    x_missing = x.copy()
    x_missing[::7, ::3] = -1  # missing calls: imputed by the training mean, as in prepare()
    assert np.isfinite(bayes(x_missing, y, x_missing[:4], "bayescpi", iterations=50, burn_in=10).prediction).all()
    with pytest.raises(ValidationError, match="method must be one of"):
        bayes(x, y, x[:4], "bayesa")
    with pytest.raises(ValidationError, match="burn-in"):
        bayes(x, y, x[:4], iterations=100, burn_in=100)
    with pytest.raises(ValidationError, match="constant"):
        bayes(x, np.ones(60), x[:4], iterations=10, burn_in=1)


def test_equal_spike_and_slab_with_fixed_variances_is_ridge():
    """Every marker N(0, v) whichever component it is in, and the residual variance given:
    the posterior mean of the effects is ridge regression with lambda = var_e / v."""
    rng = np.random.default_rng(4)
    x = genotypes(rng, 150, 30)
    xc = Encoding.fit(x).transform(x).astype(np.float64)
    y = 2.0 + xc @ rng.normal(0, 0.3, 30) + rng.normal(0, 1, 150)
    v, ve = 0.05, 1.0
    r = bayes(x, y, x[:4], "bayescpi", iterations=6000, burn_in=500, prob_in=0.3, counts=0,
              spike_var=v, slab_var=v, residual_var=ve)
    a = np.c_[np.ones(150), xc]
    pen = np.diag([0.0] + [ve / v] * 30)
    ridge = np.linalg.solve(a.T @ a + pen, a.T @ y)
    assert np.allclose(r.effects, ridge[1:], atol=0.03), np.abs(r.effects - ridge[1:]).max()
    assert r.var_e == pytest.approx(ve)  # fixed, not sampled
    free = bayes(x, y, x[:4], "bayescpi", iterations=300, burn_in=50, prob_in=0.3, counts=0)
    assert free.var_e != pytest.approx(ve, abs=1e-6)


def test_a_small_normal_spike_keeps_the_background():
    """With a point-mass spike the small effects are zeroed; a small normal spike keeps them."""
    rng = np.random.default_rng(5)
    x = genotypes(rng, 300, 200)
    xc = Encoding.fit(x).transform(x).astype(np.float64)
    b = rng.normal(0, 0.15, 200)
    b[17] = 1.5
    y = xc @ b + rng.normal(0, 0.5, 300)
    kw = dict(iterations=1500, burn_in=300, prob_in=0.01, counts=0, slab_var=1.0, residual_var=0.25)
    point = bayes(x, y, x[:3], "bayescpi", **kw)
    mixed = bayes(x, y, x[:3], "bayescpi", spike_var=0.15**2, **kw)
    rest = np.delete(np.arange(200), 17)
    assert np.corrcoef(mixed.effects[rest], b[rest])[0, 1] > np.corrcoef(point.effects[rest], b[rest])[0, 1] + 0.2
    assert mixed.effects[17] == pytest.approx(1.5, abs=0.2)
    with pytest.raises(ValidationError, match="spike_var"):
        bayes(x, y, x[:3], spike_var=-1.0, iterations=10, burn_in=1)
    with pytest.raises(ValidationError, match="variance per marker"):
        bayes(x, y, x[:3], "bayesb", slab_var=1.0, iterations=10, burn_in=1)


@pytest.mark.parametrize("method", METHODS)
def test_the_short_chain_is_the_sampler_on_encoded_genotypes_and_bounded(method):
    from gpfn_core.data.encoding import Encoding, Standardizer
    from gpfn_core.linear.bayes import SHORT_BURN_IN, short_chain, short_chain_iterations

    rng = np.random.default_rng(3)
    d = rng.integers(0, 3, (160, 400)).astype(np.int8)
    beta = np.zeros(400)
    beta[[5, 50]] = [1.5, -1.0]
    y = (d - 1.0) @ beta + rng.normal(size=160)
    enc = Encoding.fit(d[:120])
    z = Standardizer.fit(y[:120]).transform(y[:120])
    its = short_chain_iterations(120, 400)
    assert its == 200 and short_chain_iterations(1000, 50_000) == 100 and short_chain_iterations(10**5, 10**6) == 50
    got = short_chain(enc.transform(d[:120]), z, enc.transform(d[120:]), method)
    ref = bayes(d[:120], z, d[120:], method, iterations=its, burn_in=int(its * SHORT_BURN_IN), seed=0)
    np.testing.assert_allclose(got, ref.prediction, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(got, short_chain(enc.transform(d[:120]), z, enc.transform(d[120:]), method))
    assert np.corrcoef(got, (d[120:] - 1.0) @ beta)[0, 1] > 0.7
