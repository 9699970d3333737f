import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpfn_core import ValidationError
from gpfn_core.data.encoding import Encoding
from gpfn_core.registry import get_registry

ALL = ["greedy", "correlation", "mi", "sequential", "regression", "rp", "g", "composite", "pca", "strided_pca",
       "downsample"]


def make(name, k=8, seed=0):
    return get_registry().get("selector", name)(k, seed=seed)


def genotypes(rng, n=80, m=300, monomorphic=20, missing=0.0):
    d = rng.integers(0, 3, (n, m)).astype(np.int8)
    d[:, :monomorphic] = 2
    d[rng.random((n, m)) < missing] = -1
    x = Encoding.fit(d).transform(d)
    y = (x[:, 30:40].sum(1) + rng.standard_normal(n)).astype(np.float32)
    return x, y


def test_all_eleven_are_registered():
    assert sorted(get_registry().names("selector")) == sorted(ALL)


@pytest.mark.parametrize("name", ALL)
def test_shapes_determinism_and_train_target_consistency(name, rng):
    x, y = genotypes(rng)
    a = make(name, seed=3).fit(x[:60], y[:60])
    f_train = a.transform(x[:60])
    f_all = a.transform(x)
    assert f_train.shape == (60, 8) and f_all.shape == (80, 8)
    assert np.isfinite(f_all).all()
    np.testing.assert_allclose(f_all[:60], f_train, atol=1e-5)
    b = make(name, seed=3).fit(x[:60], y[:60])
    np.testing.assert_array_equal(b.transform(x), f_all)
    np.testing.assert_allclose(make(name, seed=3).fit_transform(x[:60], y[:60]), f_train, atol=1e-5)


@pytest.mark.parametrize("name", ["greedy", "correlation", "mi", "sequential", "regression"])
def test_marker_selectors_never_pick_monomorphic_markers(name, rng):
    x, y = genotypes(rng, monomorphic=100)
    s = make(name, k=30).fit(x, y)
    assert (s.markers_ >= 100).all() and len(set(s.markers_)) == 30


@pytest.mark.parametrize("name", ["correlation", "mi", "sequential", "regression"])
def test_supervised_selectors_find_the_causal_markers(name, rng):
    x, y = genotypes(rng, n=400, monomorphic=0)
    s = make(name, k=10).fit(x, y)
    assert len(set(s.markers_) & set(range(30, 40))) >= 6


@pytest.mark.parametrize("name", [n for n in ALL if n != "pca"])
def test_too_many_features_is_a_clear_error(name, rng):
    x, y = genotypes(rng, n=30, m=40, monomorphic=35)
    with pytest.raises(ValidationError, match=name):
        make(name, k=35).fit(x, y)


def test_pca_beyond_the_rank_pads_with_zero_components(rng):
    """5 polymorphic markers and 35 components: the 5 real ones, then zero columns (small
    training sets work instead of failing)."""
    x, y = genotypes(rng, n=30, m=40, monomorphic=35)
    f = make("pca", k=35).fit(x, y).transform(x)
    assert f.shape == (30, 35) and np.all(f[:, 5:] == 0)
    np.testing.assert_allclose(f[:, :5], make("pca", k=5).fit(x, y).transform(x), atol=1e-4)


@pytest.mark.parametrize("name", ["pca", "correlation", "downsample"])
def test_torch_in_torch_out(name, rng):
    torch = pytest.importorskip("torch")
    x, y = genotypes(rng)
    s = make(name).fit(torch.from_numpy(x), torch.from_numpy(y))
    out = s.transform(torch.from_numpy(x))
    assert isinstance(out, torch.Tensor) and out.shape == (80, 8)
    np.testing.assert_allclose(out.numpy(), make(name).fit(x, y).transform(x), atol=1e-5)


def test_pca_subspace_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.decomposition")
    raw = get_registry().make_prior("nam", seed=0, founders="random",
                                    overrides={"pop_size": 400, "n_markers": 1500}).draw(0)
    x = Encoding.fit(raw.x).transform(raw.x)
    ours = make("pca", k=10).fit(x, raw.y)
    ref = sk.PCA(10, svd_solver="full").fit(x)
    cosines = np.linalg.svd(ours.components_.T @ ref.components_.T, compute_uv=False)
    assert cosines.min() > 0.99
    np.testing.assert_allclose(np.var(ours.transform(x), axis=0), ref.explained_variance_, rtol=2e-2)


def test_rp_matches_scikit_learn_scaling(rng):
    x, y = genotypes(rng, n=200, m=2000, monomorphic=0)
    f = make("rp", k=200).fit(x, y).transform(x)
    # Johnson-Lindenstrauss: squared norms are preserved on average
    ratio = (f**2).sum(1) / (x**2).sum(1)
    assert ratio.mean() == pytest.approx(1.0, abs=0.1)


def test_g_is_vanraden_relationship(rng):
    x, y = genotypes(rng, n=50, monomorphic=0)
    s = make("g", k=50).fit(x, y)
    g = s.transform(x)
    xc = x - x.mean(0)
    full = xc @ xc.T / ((xc**2).sum() / 50)
    np.testing.assert_allclose(g, full[:, s.anchors_], rtol=1e-4, atol=1e-4)
    assert np.diag(full).mean() == pytest.approx(1.0, rel=1e-4)


def test_downsample_is_window_means(rng):
    x, y = genotypes(rng, m=100)
    f = make("downsample", k=10).fit(x, y).transform(x)
    np.testing.assert_allclose(f, x.reshape(80, 10, 10).mean(2), atol=1e-5)


def test_strided_pca_gives_exact_width_with_remainder(rng):
    x, y = genotypes(rng, n=100, m=600, monomorphic=0)
    s = make("strided_pca", k=45).fit(x, y)
    assert s.transform(x).shape == (100, 45) and len(s.windows_) == 20


@given(st.integers(0, 2**32 - 1), st.sampled_from(ALL), st.floats(0.0, 0.6), st.integers(0, 50))
def test_random_matrices_with_monomorphic_and_missing(seed, name, missing, mono):
    rng = np.random.default_rng(seed)
    x, y = genotypes(rng, n=50, m=120, monomorphic=mono, missing=missing)
    try:
        f = make(name, k=6).fit(x, y).transform(x)
    except ValidationError as e:  # allowed only with a reason naming the selector
        assert name in str(e)
        return
    assert f.shape == (50, 6) and np.isfinite(f).all()


def test_transform_before_fit_and_wrong_width(rng):
    x, y = genotypes(rng)
    with pytest.raises(ValidationError, match="before fit"):
        make("pca").transform(x)
    s = make("pca").fit(x, y)
    with pytest.raises(ValidationError, match="expected"):
        s.transform(x[:, :10])


@pytest.mark.parametrize("n, m", [(120, 400), (300, 60)])  # x x^T eigenvectors, and the thin SVD (markers < individuals)
def test_pca_from_the_smoothers_kinship_matches_its_own_decomposition(rng, n, m):
    """With the gblup smoother on, prepare() decomposes x x^T once and PCA takes its top
    components from it: exactly the principal components (an SVD of the centred
    genotypes, each component's largest loading positive)."""
    from gpfn_core.linear.kinship import Kinship

    x, y = genotypes(rng, n=n, m=m, monomorphic=5, missing=0.02)
    shared = make("pca", k=10).fit_kinship(x, y, Kinship.of(x))
    xc = x.astype(np.float64) - x.mean(0)
    load = np.linalg.svd(xc, full_matrices=False)[2][:10].T
    load *= np.sign(load[np.abs(load).argmax(0), np.arange(10)])
    np.testing.assert_allclose(shared.transform(x), xc @ load, atol=2e-3)
    with pytest.raises(ValidationError, match=f"kinship of {n - 1} individuals for {n} rows"):
        make("pca", k=10).fit_kinship(x, y, Kinship.of(x[:-1]))


@pytest.mark.parametrize("markers", [300, 40])  # eigh of x x^T, and the thin SVD (fewer markers than individuals)
def test_pca_features_from_the_kinship_equal_its_transform(markers):
    """Preprocessing takes pca's features from the relationships' decomposition and the targets'
    coordinates (transform_kinship) instead of two marker-sized products: the same features,
    signs included, as transform gives, with the zero columns of a rank-deficient training set."""
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.data.encoding import Encoding

    rng = np.random.default_rng(5)
    d = rng.integers(0, 3, (90, markers)).astype(np.int8)
    enc = Encoding.fit(d[:60])
    xt, xv = enc.transform(d[:60]), enc.transform(d[60:])
    kin = Kinship.of(xt)
    for k in (10, 80):  # 80 > rank: zero columns beyond it
        sel = make("pca", k, seed=1)
        sel.fit_kinship(xt, rng.standard_normal(60), kin)
        got = sel.transform_kinship(kin, kin.coordinates(xt, xv))
        assert got is not None
        np.testing.assert_allclose(got[0], sel.transform(xt), atol=2e-4)
        np.testing.assert_allclose(got[1], sel.transform(xv), atol=2e-4)
        assert np.abs(sel.transform(xt)).max() > 1  # not a comparison of zeros
    other = Kinship.of(xt[:, ::-1].copy())  # a decomposition it was not fitted on: no shortcut
    assert sel.transform_kinship(other, other.coordinates(xt, xv)) is None
    plain = make("pca", 10, seed=1).fit(xt, rng.standard_normal(60))
    assert plain.transform_kinship(kin, kin.coordinates(xt, xv)) is None


def test_greedy_keeps_one_of_each_group_of_identical_markers_and_is_less_redundant_than_chance(rng):
    """Least-redundant by covariance: copies of a marker already chosen are never chosen again, and
    the chosen markers covary less with each other than markers chosen at random."""
    base = rng.integers(0, 3, (120, 40)).astype(np.int8)
    d = np.repeat(base, 5, axis=1)  # 40 groups of 5 identical markers
    x = Encoding.fit(d).transform(d)
    s = make("greedy", k=30).fit(x, np.zeros(120, np.float32))
    groups = s.markers_ // 5
    assert len(set(groups)) == 30  # one marker per group at most

    def redundancy(cols):
        c = np.corrcoef(x[:, cols].T)
        return np.abs(c[np.triu_indices(len(cols), 1)]).mean()

    random_sets = [np.sort(rng.choice(200, 30, replace=False)) for _ in range(20)]
    assert redundancy(s.markers_) < min(redundancy(c) for c in random_sets)


def test_composite_is_half_relationships_and_half_correlated_markers(rng):
    x, y = genotypes(rng, monomorphic=0)
    f = make("composite", k=10).fit(x, y).transform(x)
    g = make("g", k=5).fit(x, y).transform(x)
    c = make("correlation", k=5).fit(x, y).transform(x)
    np.testing.assert_allclose(f, np.concatenate([g, c], axis=1), atol=1e-5)


def test_strided_pca_windows_see_only_their_own_markers(rng):
    """Each window's components come from its markers alone: changing the markers of one window
    changes that window's features and no other's; within a window the first component spans
    what scikit-learn's PCA of those markers finds."""
    sk = pytest.importorskip("sklearn.decomposition")
    x, y = genotypes(rng, n=100, m=400, monomorphic=0)
    s = make("strided_pca", k=20).fit(x, y)  # 20 windows of 20 markers, one component each
    f = s.transform(x)
    lo, hi = s.windows_[3]
    x2 = x.copy()
    x2[:, lo:hi] = rng.permutation(x2[:, lo:hi])  # shuffle individuals within window 3 only
    f2 = s.transform(x2)
    assert not np.allclose(f2[:, 3], f[:, 3]) and np.allclose(np.delete(f2, 3, 1), np.delete(f, 3, 1), atol=1e-5)
    ref = sk.PCA(1).fit(x[:, lo:hi]).transform(x[:, lo:hi])[:, 0]
    assert abs(np.corrcoef(ref, f[:, 3])[0, 1]) > 0.999
