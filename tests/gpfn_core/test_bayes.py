import numpy as np
import pytest

from gpfn_core import ValidationError
from gpfn_core.bayes import bayes
from gpfn_core.preprocess import Encoding


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
