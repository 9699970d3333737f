import numpy as np
import pytest

from gpfn_core import ValidationError
from gpfn_core.gblup import blup, gblup, relationship, reml_delta
from gpfn_core.preprocess import Encoding
from gpfn_core.registry import get_registry


def test_gblup_equals_ridge_regression_with_the_same_lambda(rng):
    sk = pytest.importorskip("sklearn.linear_model")
    d = rng.integers(0, 3, (120, 400)).astype(np.int8)
    y = rng.standard_normal(80)
    enc = Encoding.fit(d[:80])
    xt, xv = enc.transform(d[:80]).astype(np.float64), enc.transform(d[80:]).astype(np.float64)
    k_tt, k_vt = relationship(xt, xv)
    delta = 2.5
    pred, mu = blup(k_tt, k_vt, y, delta)
    scale = (xt**2).sum() / 80  # K = X X' / scale  <=>  ridge penalty delta * scale on X
    ridge = sk.Ridge(alpha=delta * scale, fit_intercept=True).fit(xt, y)
    np.testing.assert_allclose(pred, ridge.predict(xv), rtol=1e-6, atol=1e-8)
    assert mu == pytest.approx(y.mean())


def test_reml_recovers_heritability():
    p = get_registry().make_prior("ril", seed=3, founders="random",
                                  overrides={"pop_size": 600, "n_markers": 2000, "h2": 0.6, "n_qtl": "50:100"})  # every locus on the panel
    h2s, rs = [], []
    for i in range(8):
        d = p.draw(i)
        nt = d.n_train
        r = gblup(d.x[:nt], d.y[:nt], d.x[nt:])
        h2s.append(r.h2)
        rs.append(np.corrcoef(r.prediction, d.g[nt:])[0, 1])
    assert np.mean(h2s) == pytest.approx(0.6, abs=0.12)
    assert np.mean(rs) > 0.5


def test_reml_delta_extremes(rng):
    k = np.eye(50) + 0.01
    assert reml_delta(k, rng.standard_normal(50)) > 0


def test_gblup_rejects_constant_phenotype(rng):
    d = rng.integers(0, 3, (10, 20)).astype(np.int8)
    with pytest.raises(ValidationError, match="constant"):
        gblup(d[:8], np.ones(8), d[8:])
