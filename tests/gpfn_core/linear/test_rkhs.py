"""RKHS regression (Gaussian kernels averaged by REML likelihood) and the REML likelihood it compares kernels by."""

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial.distance import cdist

from gpfn_core.data.encoding import Encoding
from gpfn_core.linear.baselines import rkhs
from gpfn_core.linear.gblup import blup, reml


def _data(seed=0, n=90, m=200, nv=30):
    rng = np.random.default_rng(seed)
    founders = rng.integers(0, 3, (6, m))
    x = founders[rng.integers(0, 6, n + nv)].copy()  # related individuals: copies of six founders, mutated
    flip = rng.random(x.shape) < 0.15
    x[flip] = rng.integers(0, 3, flip.sum())
    y = (x[:, :20] - 1.0) @ rng.normal(size=20) + rng.normal(size=n + nv)
    return x[:n].astype(np.int8), y[:n], x[n:].astype(np.int8), y[n:]


def test_one_bandwidth_is_blup_with_the_gaussian_kernel_of_the_encoded_genotypes():
    x, y, xv, _ = _data()
    enc = Encoding.fit(x)
    a, b = enc.transform(x).astype(float), enc.transform(xv).astype(float)
    d_tt, d_vt = cdist(a, a, "sqeuclidean"), cdist(b, a, "sqeuclidean")
    med = np.median(d_tt[np.triu_indices(len(a), 1)])
    k, kv = np.exp(-d_tt / med), np.exp(-d_vt / med)
    expected = blup(k, kv, y, reml(k, y)[0])[0]
    assert np.allclose(rkhs(x, y, xv, bandwidths=(1.0,)), expected, atol=1e-8)


def test_bandwidths_are_averaged_by_their_restricted_likelihoods():
    x, y, xv, _ = _data(1)
    one, two = rkhs(x, y, xv, bandwidths=(0.5,)), rkhs(x, y, xv, bandwidths=(4.0,))
    both = rkhs(x, y, xv, bandwidths=(0.5, 4.0))
    enc = Encoding.fit(x)
    a = enc.transform(x).astype(float)
    d = cdist(a, a, "sqeuclidean")
    med = np.median(d[np.triu_indices(len(a), 1)])
    ll = np.array([reml(np.exp(-d / (t * med)), y)[1] for t in (0.5, 4.0)])
    w = np.exp(ll - ll.max())
    w /= w.sum()
    assert np.allclose(both, w[0] * one + w[1] * two, atol=1e-8)
    assert not np.allclose(one, two)  # the bandwidths differ, so the weights matter


def test_predictions_do_not_depend_on_which_allele_is_counted():
    x, y, xv, _ = _data(2)
    flipped = 2 - x, 2 - xv
    assert np.allclose(rkhs(x, y, xv), rkhs(flipped[0], y, flipped[1]), atol=1e-8)


def test_a_kernel_times_a_constant_has_the_same_restricted_likelihood():
    x, y, _, _ = _data(3)
    a = Encoding.fit(x).transform(x).astype(float)
    k = a @ a.T / a.shape[1]
    d1, l1 = reml(k, y)
    d2, l2 = reml(7.0 * k, y)
    assert l1 == pytest.approx(l2, abs=1e-6) and d2 == pytest.approx(7.0 * d1, rel=1e-4)


def test_a_signal_carried_by_close_relatives_is_predicted():
    x, y, xv, yv = _data(4, n=150, nv=60)
    assert np.corrcoef(rkhs(x, y, xv), yv)[0, 1] > 0.3


def test_monomorphic_training_genotypes_are_refused_and_mostly_identical_ones_predict():
    from gpfn_core.errors import ValidationError

    with pytest.raises(ValidationError, match="monomorphic"):
        rkhs(np.ones((10, 5), np.int8), np.arange(10.0), np.ones((3, 5), np.int8))
    x = np.ones((10, 5), np.int8)
    x[:3, 0] = 2  # seven of ten identical: the median distance is 0
    pred = rkhs(x, np.arange(10.0), x[:4])
    assert np.isfinite(pred).all()


def test_evaluate_scores_rkhs_beside_gblup(tmp_path, draw):
    from gpfn_cli.main import main
    from gpfn_core import GenotypeTable
    from gpfn_core.data.dataset import Dataset, write_dataset

    n, m = draw.x.shape
    t = GenotypeTable(np.array([f"t{i}" for i in range(n)]), np.array([f"m{j}" for j in range(m)]),
                      np.array(["1"] * m), np.arange(m) * 100, np.array(["A"] * m), np.array(["G"] * m),
                      draw.x.astype(np.int8))
    path = tmp_path / "d.gpfn"
    write_dataset(path, Dataset(t, draw.y[:, None], ["y"]))
    r = CliRunner().invoke(main, ["evaluate", str(path), "--methods", "gblup,rkhs", "--folds", "3", "--json"])
    assert r.exit_code == 0, r.output
    assert "RKHS" in r.output and "GBLUP" in r.output
