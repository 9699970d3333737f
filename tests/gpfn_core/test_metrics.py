import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpfn_core.metrics import pearson, spearman


def test_pearson_matches_the_definition():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    ac, bc = a - a.mean(), b - b.mean()
    assert pearson(a, b) == pytest.approx(ac @ bc / np.sqrt((ac @ ac) * (bc @ bc)))
    assert pearson(a, 3 * a + 1) == pytest.approx(1.0)
    assert pearson(a, -a) == pytest.approx(-1.0)


def test_undefined_correlations_are_nan():
    assert np.isnan(pearson([1.0, 2.0], [3.0, 1.0]))  # two points always correlate at +-1
    assert np.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # a constant vector
    assert np.isnan(spearman([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="3 and 4"):
        pearson([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])


def test_spearman_gives_ties_their_average_rank():
    # ranks of y with ties averaged: [1, 2.5, 2.5, 4]; a prediction ranked 1..4 correlates with them
    # at 0.9487, whichever order the tied values come in
    pred = np.array([0.1, 0.2, 0.3, 0.4])
    assert spearman(pred, [1.0, 5.0, 5.0, 9.0]) == pytest.approx(3 / np.sqrt(10))
    assert spearman(pred[::-1], [9.0, 5.0, 5.0, 1.0]) == pytest.approx(3 / np.sqrt(10))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-1000, 1000), min_size=3, max_size=30), st.integers(0, 2**31 - 1))
def test_spearman_is_invariant_to_monotone_maps(values, seed):
    a = np.array(values, dtype=np.float64)  # integers: ties, and a cube that is exact and strictly increasing
    b = np.random.default_rng(seed).normal(size=a.size)
    r = spearman(a, b)
    assert np.isnan(r) == np.isnan(spearman(a**3 + 7, b))
    if not np.isnan(r):
        assert spearman(a**3 + 7, b) == pytest.approx(r, abs=1e-9)
        assert -1.0 - 1e-12 <= r <= 1.0 + 1e-12
