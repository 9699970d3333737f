import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gpfn_core import Draw, ValidationError
from gpfn_core.data.encoding import Encoding, Standardizer
from gpfn_core.net.preprocess import prepare, preprocess_draw
from gpfn_core.registry import get_registry


def test_encoding_counts_the_minor_allele_and_centres():
    d = np.array([[2, 0, -1], [2, 1, 0], [1, 0, 0], [2, 0, 2]], np.int8)
    enc = Encoding.fit(d)
    np.testing.assert_array_equal(enc.flip, [True, False, False])
    x = enc.transform(d)
    np.testing.assert_allclose(x.mean(0)[:2], 0, atol=1e-6)
    assert x[0, 2] == 0.0  # missing -> the mean
    np.testing.assert_allclose(x[:, 0], [-0.25, -0.25, 0.75, -0.25])  # minor count 0,0,1,0 centred


@given(hnp.arrays(np.int8, st.tuples(st.integers(2, 12), st.integers(1, 30)), elements=st.integers(-1, 2)))
def test_encoding_of_any_matrix_is_finite_and_centred(d):
    x = Encoding.fit(d).transform(d)
    assert np.isfinite(x).all()
    observed = d >= 0
    col_mean = np.where(observed, x, 0).sum(0) / np.maximum(observed.sum(0), 1)
    np.testing.assert_allclose(col_mean, 0, atol=1e-5)
    minor = x + Encoding.fit(d).mean
    seen = observed.any(0)
    minor_mean = np.where(observed, minor, 0).sum(0)[seen] / observed.sum(0)[seen]
    assert np.all(minor_mean <= 1 + 1e-5)  # the counted allele is the minor one


def test_encoding_rejects_wrong_marker_count():
    enc = Encoding.fit(np.zeros((3, 4), np.int8))
    with pytest.raises(ValidationError, match="4 markers"):
        enc.transform(np.zeros((3, 5), np.int8))


def test_standardizer_roundtrip_and_constant_phenotype():
    s = Standardizer.fit(np.array([1.0, 2.0, 3.0, 6.0]))
    np.testing.assert_allclose(s.inverse(s.transform([1.0, 6.0])), [1.0, 6.0], rtol=1e-6)
    with pytest.raises(ValidationError, match="constant"):
        Standardizer.fit(np.array([5.0, 5.0, 5.0]))


def test_prepare_is_the_same_path_for_any_split(rng):
    """Training rows transformed as targets get exactly their training features."""
    d = rng.integers(0, 3, (60, 200)).astype(np.int8)
    y = rng.standard_normal(60)
    sel = get_registry().get("selector", "pca")(10, seed=1)
    p = prepare(d[:40], y[:40], d, sel)
    np.testing.assert_allclose(p.target[:40], p.train, atol=1e-4)
    np.testing.assert_allclose(p.scale.inverse(p.y_train), y[:40], rtol=1e-5)


def test_preprocess_draw_targets_genetic_values_on_the_phenotype_scale():
    raw = get_registry().make_prior("ril", seed=0, founders="random",
                                    overrides={"pop_size": 120, "n_markers": 300}).draw(0)
    sel = get_registry().get("selector", "correlation")(20)
    d = preprocess_draw(raw, sel, target="g")
    assert isinstance(d, Draw) and d.x.shape == (raw.n, 20) and d.x.dtype == np.float32
    nt = raw.n_train
    s = Standardizer.fit(raw.y[:nt])
    np.testing.assert_allclose(d.y[nt:], s.transform(raw.g[nt:]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValidationError, match="target"):
        preprocess_draw(raw, sel, target="z")


def test_prepare_appends_smoothers_and_takes_training_sets_below_the_feature_count(rng):
    """42 lines and 100 PCA features: all 41 components, zero columns for the rest, no rank error."""
    from gpfn_core.net.preprocess import parse_smoothers, smoother_width

    d = rng.integers(0, 3, (60, 500)).astype(np.int8)
    y = rng.standard_normal(60)
    sel = get_registry().get("selector", "pca")(100, seed=1)
    p = prepare(d[:42], y[:42], d[42:], sel, "gblup,sparse")
    w = smoother_width("gblup,sparse")
    assert p.train.shape == (42, 100 + w) and p.target.shape == (18, 100 + w)
    assert np.isfinite(p.train).all() and np.isfinite(p.target).all()
    pcs = p.train[:, :100]
    assert (np.abs(pcs).max(0) > 1e-3).sum() == 41 and np.all(pcs[:, 41:] == 0)
    with pytest.raises(ValidationError, match="smoothers"):
        parse_smoothers("gblup,bayes")


def test_the_bma_smoother_shares_the_gblup_columns_and_lays_out_its_own(rng):
    """``bma`` appends 2 + G columns (mean, sd, G weights) after the others, which stay unchanged;
    only its mean is a point prediction."""
    from gpfn_core.linear.smoothers import H2_GRID
    from gpfn_core.net.preprocess import smoother_mean_columns, smoother_width

    g = len(H2_GRID)
    d = rng.integers(0, 3, (70, 300)).astype(np.int8)
    y = rng.standard_normal(70)
    sel = get_registry().get("selector", "pca")
    a = prepare(d[:50], y[:50], d[50:], sel(10, seed=1), "gblup,sparse")
    b = prepare(d[:50], y[:50], d[50:], sel(10, seed=1), "gblup,sparse,bma")
    c = prepare(d[:50], y[:50], d[50:], sel(10, seed=1), "bma")  # alone: the gblup columns are not kept
    assert smoother_width("gblup,sparse,bma") == 4 * g + 2 + g and b.train.shape == (50, 10 + 5 * g + 2)
    np.testing.assert_array_equal(b.train[:, : a.train.shape[1]], a.train)
    np.testing.assert_array_equal(b.target[:, : a.target.shape[1]], a.target)
    np.testing.assert_allclose(c.target[:, 10:], b.target[:, 10 + 4 * g :], atol=1e-6)
    assert smoother_mean_columns("gblup,sparse,bma") == [*range(g), *range(2 * g, 3 * g), 4 * g]
    assert smoother_mean_columns("bma,gblup") == [0, *range(2 + g, 2 + 2 * g)]


def test_a_selector_without_fit_kinship_gets_plain_fit_under_the_gblup_smoother(rng):
    """fit_kinship is optional for plugins: the interface's default calls fit()."""
    from gpfn_core.interfaces import FeatureSelector

    class FirstColumns(FeatureSelector):
        name = "first"
        description = "the first n_features markers"
        calls = []

        def fit(self, x_train, y_train):
            self.calls.append(len(x_train))
            return self

        def transform(self, x):
            return np.asarray(x)[:, : self.n_features]

    d = rng.integers(0, 3, (60, 200)).astype(np.int8)
    y = rng.standard_normal(40)
    p = prepare(d[:40], y, d[40:], FirstColumns(5), smoothers="gblup")
    assert FirstColumns.calls == [40] and p.train.shape == (40, 5 + 16) and p.target.shape == (20, 5 + 16)


def test_targets_in_passes_get_what_all_targets_at_once_get(rng, monkeypatch):
    """Genotypes.for_targets: preprocessing the targets a pass at a time against one training
    population gives every feature and every stacking anchor that all targets at once give,
    and the passes after the first decompose nothing of the training side again (neither the
    relationships nor the family kernels' reductions)."""
    from gpfn_core.linear.family import Families, Tridiagonal
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.net.preprocess import STACK_ANCHORS, Genotypes

    fam = np.repeat(np.arange(8), 20)
    parents = rng.integers(0, 3, (8, 400))
    d = np.clip(parents[fam] + rng.integers(-1, 2, (160, 400)), 0, 2).astype(np.int8)[rng.permutation(160)]
    d[rng.random(d.shape) < 0.01] = -1  # missing calls, imputed by the training means
    y = rng.standard_normal(100) + d[:100, :5].sum(1)
    dt, dv = d[:100], d[100:]
    smoothers = ("gblup", "sparse", "bma")

    def run(block, genotypes):
        sel = get_registry().get("selector", "pca")(10, seed=1)
        return prepare(dt, y, block, sel, smoothers, anchors=True, genotypes=genotypes)

    whole = run(dv, None)
    first = Genotypes.for_smoothers(dt, dv[:25], smoothers)
    parts = [run(dv[:25], first)]
    assert first.family.kernels is not None  # the family anchors run on family kernels here
    calls = []
    for cls, name in ((Kinship, "of"), (Families, "of"), (Tridiagonal, "of")):
        real = getattr(cls, name).__func__
        monkeypatch.setattr(cls, name, classmethod(
            lambda c, *a, _real=real, _name=f"{cls.__name__}.{name}", **k:
            calls.append((_name, k.get("keep"))) or _real(c, *a, **k)))
    for s in (25, 50):
        parts.append(run(dv[s:s + 25], first.for_targets(dv[s:s + 25])))
    # the sparse smoother decomposes its own marker-weighted kernel for each phenotype; nothing else
    assert [c for c in calls if c != ("Kinship.of", None)] == []
    np.testing.assert_allclose(np.concatenate([p.target for p in parts]), whole.target, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.concatenate([p.anchors for p in parts]), whole.anchors, rtol=1e-5, atol=1e-6)
    for p in parts:
        np.testing.assert_array_equal(p.train, whole.train)
    assert whole.anchors.shape == (60, len(STACK_ANCHORS)) and np.abs(whole.anchors).min(0).max() > 0
