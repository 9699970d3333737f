import numpy as np
import pytest

from gpfn_core import ValidationError
from gpfn_core.data.encoding import Encoding
from gpfn_core.linear.gblup import blup, gblup, reml_delta
from gpfn_core.linear.kinship import relationship
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
    """A phenotype that is all genetic value gets a small delta (h2 near 1), pure noise a large
    one (h2 near 0), and delta stays within the search's bounds either way."""
    d = rng.integers(0, 3, (120, 600)).astype(np.int8)
    x = Encoding.fit(d).transform(d).astype(np.float64)
    k = x @ x.T / np.mean(np.einsum("ij,ij->i", x, x))
    g = x @ rng.standard_normal(600)
    g = (g - g.mean()) / g.std()
    all_genetic = reml_delta(k, g)
    pure_noise = reml_delta(k, rng.standard_normal(120))
    assert all_genetic < 0.3 and pure_noise > 3.0  # h2 above 0.77 and below 0.25
    assert 1e-5 <= all_genetic and pure_noise <= 1e5


def test_gblup_rejects_constant_phenotype(rng):
    d = rng.integers(0, 3, (10, 20)).astype(np.int8)
    with pytest.raises(ValidationError, match="constant"):
        gblup(d[:8], np.ones(8), d[8:])


def _loo_brute_force(k, y, delta, i):
    o = np.delete(np.arange(len(y)), i)
    a = np.linalg.solve(k[np.ix_(o, o)] + delta * np.eye(len(o)), np.column_stack([y[o], k[o, i]]))
    return k[i, o] @ a[:, 0], k[i, i] - k[i, o] @ a[:, 1]


@pytest.mark.parametrize("markers", [25, 300])  # fewer markers than individuals: the thin-SVD path
def test_smoother_features_are_exact_gblup_and_leave_one_out(rng, markers):
    from gpfn_core.linear.smoothers import smoother_features

    xt, xv, y = _encoded_split(rng, 50, 35, markers)
    grid = (0.2, 0.7)
    ft, fv = smoother_features(xt, y, xv, grid)
    assert ft.shape == (35, 4) and fv.shape == (15, 4)
    k_tt, k_vt = relationship(xt.astype(np.float64), xv.astype(np.float64))
    scale = (xt.astype(np.float64) ** 2).sum() / 35
    k_vv = (xv.astype(np.float64) ** 2).sum(1) / scale
    for j, h2 in enumerate(grid):
        delta = (1 - h2) / h2
        inv = np.linalg.inv(k_tt + delta * np.eye(35))
        np.testing.assert_allclose(fv[:, j], k_vt @ inv @ y, atol=1e-4)
        post = k_vv - np.einsum("ij,jk,ik->i", k_vt, inv, k_vt)
        np.testing.assert_allclose(fv[:, 2 + j], np.sqrt(h2 * np.maximum(post, 0)), atol=1e-4)
        for i in (0, 17, 34):
            mean, var = _loo_brute_force(k_tt, y, delta, i)
            assert ft[i, j] == pytest.approx(mean, abs=1e-4)
            assert ft[i, 2 + j] == pytest.approx(np.sqrt(h2 * max(var, 0)), abs=1e-4)


def test_sparse_smoother_finds_a_large_qtl_and_never_sees_its_own_phenotype(rng):
    from gpfn_core.linear.smoothers import smoother_features
    from gpfn_core.linear.sparse import marker_weights, sparse_smoother_features

    x = (rng.integers(0, 3, (300, 2000)) - 1).astype(np.float32)
    g = 2.0 * x[:, 123] + 0.2 * x[:, :50].sum(1)
    y = g + rng.standard_normal(300)
    idx, w = marker_weights(x[:200], y[:200], top=100)
    assert idx[np.argmax(w)] == 123
    z = (y[:200] - y[:200].mean()) / y[:200].std()
    ft, fv = sparse_smoother_features(x[:200], z, x[200:], (0.5,), top=100)
    plain = smoother_features(x[:200], z, x[200:], (0.5,))[1]
    assert np.corrcoef(fv[:, 0], g[200:])[0, 1] > np.corrcoef(plain[:, 0], g[200:])[0, 1] + 0.1
    # cross-fitting: changing one training phenotype leaves that individual's own features unchanged
    z2 = z.copy()
    z2[7] += 5.0
    ft2, _ = sparse_smoother_features(x[:200], z2, x[200:], (0.5,), top=100)
    np.testing.assert_allclose(ft2[7], ft[7], atol=1e-5)
    assert not np.allclose(ft2[8], ft[8])


def test_fold_marker_weights_equal_the_marginal_regressions_without_each_fold(rng):
    """One pass over x per draw gives, for every fold, what a fresh marginal regression on
    the other folds' rows gives (the old per-fold loop, written out here as the reference)."""
    from gpfn_core.linear.sparse import fold_marker_weights

    x = rng.integers(0, 3, (90, 300)).astype(np.float32)
    x -= x.mean(0)
    y = x[:, 7] * 2.0 - x[:, 100] + rng.standard_normal(90)
    fold = rng.permutation(90) % 4

    def reference(xs, ys, top):
        n = len(xs)
        xc, yc = xs - xs.mean(0), ys - ys.mean()
        z2 = (yc @ xc) ** 2 / (xc * xc).sum(0) / (yc @ yc) * (n - 2)
        idx = np.sort(np.argsort(-z2)[:top])
        return idx, z2[idx] ** 2

    got = fold_marker_weights(x, y, fold, top=40)
    assert len(got) == 5
    for f, (idx, w) in enumerate(got):
        keep = fold != f if f < 4 else np.ones(90, bool)
        ridx, rw = reference(x[keep].astype(np.float64), y[keep], 40)
        np.testing.assert_array_equal(idx, ridx)
        np.testing.assert_allclose(w, rw, rtol=1e-3)
    assert 7 in got[-1][0] and 100 in got[-1][0]


@pytest.mark.parametrize("markers", [20, 120])  # fewer markers than individuals (thin SVD) and more (eigh)
def test_marginal_loglik_is_the_profile_likelihood_and_bma_averages_the_grid(rng, markers):
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.smoothers import (
        bma_features,
        marginal_loglik,
        posterior_weights,
        smoother_features,
    )

    xt, xv, y = _encoded_split(rng, 60, 40, markers)
    grid = (0.1, 0.5, 0.9)
    kin = Kinship.of(xt)
    ll = marginal_loglik(kin, y, grid)
    k_tt, _ = relationship(xt.astype(np.float64), xv.astype(np.float64))
    brute = []
    for h in grid:  # log N(y; 0, s2 V) at the s2 that maximises it, up to a constant shared by every h2
        v = h * k_tt + (1 - h) * np.eye(40)
        q = y @ np.linalg.solve(v, y)
        brute.append(-0.5 * 40 * np.log(q / 40) - 0.5 * np.linalg.slogdet(v)[1])
    # the decomposition is single precision (gblup.symmetric_eigh): log-likelihoods agree to about 1e-5
    np.testing.assert_allclose(ll - ll[0], np.array(brute) - brute[0], atol=1e-4)

    gt, gv = smoother_features(xt, y, xv, grid, kinship=kin)
    bt, bv = bma_features(gt, gv, kin, y, grid)
    w = posterior_weights(ll)
    assert bt.shape == (40, 5) and bv.shape == (20, 5) and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(bv[:, 2:], np.broadcast_to(w, (20, 3)), atol=1e-6)  # the same weights on every row
    np.testing.assert_allclose(bt[:, 0], gt[:, :3] @ w, atol=1e-5)  # training rows: leave-one-out means, averaged
    np.testing.assert_allclose(bv[:, 0], gv[:, :3] @ w, atol=1e-5)
    mixture = (gv[:, 3:] ** 2 + gv[:, :3] ** 2) @ w - (gv[:, :3] @ w) ** 2
    np.testing.assert_allclose(bv[:, 1], np.sqrt(mixture), atol=1e-4)
    assert (bv[:, 1] >= gv[:, 3:].min(1) - 1e-5).all()  # the average is never more certain than its sharpest member


def test_bma_weights_follow_the_heritability(rng):
    """A trait made from the relationships puts its weight on a high h2, pure noise on a low one."""
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.smoothers import marginal_loglik, posterior_weights

    d = rng.integers(0, 3, (300, 400)).astype(np.int8)
    x = Encoding.fit(d).transform(d).astype(np.float64)
    kin = Kinship.of(x)
    signal = x @ rng.standard_normal(400)
    for noise, high in ((0.2, True), (5.0, False)):
        y = signal / signal.std() + noise * rng.standard_normal(300)
        w = posterior_weights(marginal_loglik(kin, (y - y.mean()) / y.std()))
        mean_h2 = float(w @ np.asarray((0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9)))
        assert (mean_h2 > 0.6) if high else (mean_h2 < 0.3)


def _encoded_split(rng, n, n_train, markers):
    """Random dosages encoded by the first ``n_train`` rows, and a standardised phenotype for them."""
    d = rng.integers(0, 3, (n, markers)).astype(np.int8)
    enc = Encoding.fit(d[:n_train])
    y = rng.standard_normal(n_train)
    return enc.transform(d[:n_train]), enc.transform(d[n_train:]), (y - y.mean()) / y.std()


@pytest.mark.parametrize("markers", [400, 60])  # more markers than the other rows (Schur), fewer (Woodbury)
def test_leave_one_out_rows_equal_the_whole_kernels_values(rng, markers):
    """The sparse smoother's folds eliminate the other rows (a Schur complement) or work in
    marker space (Woodbury) instead of decomposing every row's kernel: the same leave-one-out
    means and sds, for the rows asked."""
    from gpfn_core.linear.smoothers import smoother_features
    from gpfn_core.linear.sparse import leave_one_out_rows

    z = (rng.standard_normal((150, markers)) * rng.gamma(0.5, 1.0, markers)).astype(np.float32)
    y = rng.standard_normal(150)
    rows = np.zeros(150, bool)
    rows[rng.permutation(150)[:30]] = True
    grid = (0.05, 0.3, 0.9)
    whole = smoother_features(z, y, z[:0], grid)[0]
    got = leave_one_out_rows(z, y, rows, grid)
    assert got.shape == (30, 6)
    np.testing.assert_allclose(got, whole[rows], atol=1e-4)  # two single-precision decompositions (symmetric_eigh)
    # one row left out: plain leave-one-out of that individual
    one = np.zeros(150, bool)
    one[3] = True
    np.testing.assert_allclose(leave_one_out_rows(z, y, one, grid), whole[one], atol=1e-4)


def _families(rng, n_fam=6, size=25, m=600, keep=0.85):
    """Dosages of ``n_fam`` families: each individual copies its family's parent at a share
    ``keep`` of the markers and is random elsewhere (within-family correlation about keep^2)."""
    parents = rng.integers(0, 3, (n_fam, m))
    fam = np.repeat(np.arange(n_fam), size)
    d = np.where(rng.random((fam.size, m)) < keep, parents[fam], rng.integers(0, 3, (fam.size, m)))
    return d.astype(np.int8), fam


def test_family_labels_recover_planted_families_and_unrelated_individuals_are_singletons(rng):
    from gpfn_core.linear.family import family_labels

    d, fam = _families(rng)
    x = Encoding.fit(d).transform(d).astype(np.float64)
    lab = family_labels(x @ x.T)
    assert np.array_equal(lab[:, None] == lab[None, :], fam[:, None] == fam[None, :])  # the same partition
    u = rng.integers(0, 3, (40, 600)).astype(np.int8)  # no families: correlations near 0
    xu = Encoding.fit(u).transform(u).astype(np.float64)
    assert np.unique(family_labels(xu @ xu.T)).size == 40


def test_family_kernels_are_relationships_of_dosages_centred_within_each_family(rng):
    from gpfn_core.linear.family import family_kernels

    d, fam = _families(rng, n_fam=5, size=24)
    new = _families(rng, n_fam=1, size=6)[0]  # a family never phenotyped
    train = np.flatnonzero(np.arange(fam.size) % 8 != 0)  # every 8th individual of the 5 families is a target
    seen = np.flatnonzero(np.arange(fam.size) % 8 == 0)
    x = Encoding.fit(d[train]).transform(np.concatenate([d, new])).astype(np.float64)
    xt, xv = x[train], np.concatenate([x[seen], x[fam.size:]])
    kf_tt, kf_vt = family_kernels(xt @ xt.T, xv @ xt.T, np.einsum("ij,ij->i", xv, xv))
    ft = fam[train]
    means = np.stack([xt[ft == f].mean(0) for f in range(5)])
    wt = xt - means[ft]
    ref = (wt @ wt.T) * (ft[:, None] == ft[None, :])
    scale = np.mean(np.diag(ref))
    np.testing.assert_allclose(kf_tt, ref / scale, atol=1e-8)
    wv = x[seen] - means[fam[seen]]  # a target of a phenotyped family: centred by that family's training mean
    np.testing.assert_allclose(kf_vt[: seen.size], (wv @ wt.T) * (fam[seen][:, None] == ft[None, :]) / scale,
                               atol=1e-8)
    assert not kf_vt[seen.size:].any()  # the new family relates to no training individual
    u = rng.integers(0, 3, (30, 600)).astype(np.int8)
    xu = Encoding.fit(u).transform(u).astype(np.float64)
    assert family_kernels(xu @ xu.T, xu[:5] @ xu.T, np.einsum("ij,ij->i", xu[:5], xu[:5])) is None  # no families


def test_family_gblup_averages_gblup_the_two_kernel_model_and_gaussian_kernels_by_their_likelihoods(rng):
    from gpfn_core.linear.family import family_gblup, family_kernels
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.smoothers import bma_mean, smoother_features

    d, fam = _families(rng, n_fam=6, size=25)
    train = fam < 4  # four families phenotyped, two predicted
    enc = Encoding.fit(d[train])
    xt, xv = enc.transform(d[train]).astype(np.float64), enc.transform(d[~train]).astype(np.float64)
    z = rng.standard_normal(int(train.sum()))
    kin = Kinship.of(xt)
    coords = kin.coordinates(xt, xv)
    h2s, shares = (0.3, 0.7), (0.5,)
    grid = smoother_features(xt, z, xv, h2s, kinship=kin, coordinates=coords)
    got = family_gblup(kin, coords, xv, z, grid[1], h2s, shares, bandwidths=(0.7, 2.0))
    # the reference: dense formulas, the same profile likelihood
    k_tt, k_vt = xt @ xt.T / kin.scale, xv @ xt.T / kin.scale
    kf_tt, kf_vt = family_kernels(k_tt, k_vt, np.einsum("ij,ij->i", xv, xv) / kin.scale)
    assert not kf_vt.any()  # the targets are of other families
    preds, ll = [], []
    for f in (0.0, *shares):
        for h in h2s:
            v = h * (1 - f) * k_tt + h * f * kf_tt + (1 - h) * np.eye(z.size)
            a = np.linalg.solve(v, z)
            ll.append(-0.5 * z.size * np.log(z @ a / z.size) - 0.5 * np.linalg.slogdet(v)[1])
            preds.append(h * (1 - f) * k_vt @ a)
    # the Gaussian kernels of the genotype distances (in K's units), scaled by their median over training pairs
    from scipy.spatial.distance import cdist

    d_tt, d_vt = cdist(xt, xt, "sqeuclidean") / kin.scale, cdist(xv, xt, "sqeuclidean") / kin.scale
    med = np.median(d_tt[np.triu_indices(len(d_tt), 1)])
    for theta in (0.7, 2.0):
        g_tt, g_vt = np.exp(-d_tt / (theta * med)), np.exp(-d_vt / (theta * med))
        for h in h2s:
            v = h * g_tt + (1 - h) * np.eye(z.size)
            a = np.linalg.solve(v, z)
            ll.append(-0.5 * z.size * np.log(z @ a / z.size) - 0.5 * np.linalg.slogdet(v)[1])
            preds.append(h * g_vt @ a)
    w = np.exp(np.array(ll) - max(ll))
    np.testing.assert_allclose(got, np.column_stack(preds) @ (w / w.sum()), rtol=1e-4, atol=1e-6)  # float32 grid
    # with no families it is GBLUP averaged over h2
    u = rng.integers(0, 3, (60, 3000)).astype(np.int8)  # unrelated: correlations within +-0.08
    eu = Encoding.fit(u[:45])
    ut, uv = eu.transform(u[:45]).astype(np.float64), eu.transform(u[45:]).astype(np.float64)
    ku = Kinship.of(ut)
    cu = ku.coordinates(ut, uv)
    gu = smoother_features(ut, z[:45], uv, kinship=ku, coordinates=cu)
    np.testing.assert_allclose(family_gblup(ku, cu, uv, z[:45], gu[1], bandwidths=()), bma_mean(gu[1], ku, z[:45]),
                               rtol=1e-12)


def _dense_qtl_gblup(xt, xv, z, h2s, shares, prior, steps, scale):
    """qtl_gblup's model from dense matrices: generalised least squares with V = h2 K + (1 - h2) I."""
    n, m = xt.shape
    k_tt, k_vt = xt @ xt.T / scale, xv @ xt.T / scale
    w_prior = np.asarray(shares)[:, None] / (np.einsum("ij,ij->j", xt, xt) / n)[None, :]
    preds, ll = [], []
    for h in h2s:
        v = h * k_tt + (1 - h) * np.eye(n)
        vi = np.linalg.inv(v)
        a = np.einsum("ij,ik,kj->j", xt, vi, xt)
        s2 = z @ vi @ z / n
        se2 = s2 / a
        loglik = -0.5 * n * np.log(s2) - 0.5 * np.linalg.slogdet(v)[1]
        r, b = z.copy(), np.zeros(m)
        for _ in range(steps):
            bhat = (xt.T @ vi @ r) / a
            bf = np.sqrt(se2 / (se2 + w_prior)) * np.exp(0.5 * bhat**2 / se2 * w_prior / (se2 + w_prior))  # [S, m]
            post = (bf * w_prior / (w_prior + se2)).sum(0) / bf.sum(0) * bhat
            odds = np.concatenate([[1 - prior], prior / m * bf.mean(0)])
            loglik += np.log(odds.sum())
            step = odds[1:] / odds.sum() * post
            b += step
            r = r - xt @ step
        ll.append(loglik)
        preds.append(xv @ b + h * k_vt @ vi @ r)
    w = np.exp(np.array(ll) - max(ll))
    return np.column_stack(preds) @ (w / w.sum())


@pytest.mark.parametrize("markers", [90, 30])  # more markers than training individuals (eigh), fewer (thin SVD)
def test_qtl_gblup_equals_a_dense_reference_of_its_model(rng, markers):
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.qtl import qtl_gblup

    xt, xv, z = _encoded_split(rng, 70, 50, markers)
    xt, xv = xt.astype(np.float64), xv.astype(np.float64)
    z = z + 0.8 * xt[:, 3] / xt[:, 3].std()  # one marker with a large effect
    z = (z - z.mean()) / z.std()
    kin = Kinship.of(xt)
    coords = kin.coordinates(xt, xv)
    h2s, shares = (0.2, 0.6), (0.05, 0.3)
    for steps in (1, 3):
        got = qtl_gblup(kin, coords, xt, xv, z, h2s, candidates=markers, steps=steps, prior=0.5, shares=shares)
        ref = _dense_qtl_gblup(xt, xv, z, h2s, shares, 0.5, steps, kin.scale)
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)  # float32 marker scores and coordinates


def test_qtl_gblup_finds_a_large_effect_and_without_steps_is_the_h2_averaged_gblup(rng):
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.qtl import qtl_gblup
    from gpfn_core.linear.smoothers import bma_mean, smoother_features

    n, nv, m = 300, 200, 2000
    d = rng.binomial(2, rng.uniform(0.05, 0.5, m), (n + nv, m)).astype(np.int8)
    x = Encoding.fit(d[:n]).transform(d).astype(np.float32)
    poly = x @ rng.normal(0, 1, m)
    g = 0.5 * poly / poly.std() + x[:, 7] / x[:, 7].std()  # 80% of the genetic variance at one marker
    y = g + rng.normal(0, g.std(), n + nv)
    z = (y[:n] - y[:n].mean()) / y[:n].std()
    kin = Kinship.of(x[:n])
    coords = kin.coordinates(x[:n], x[n:])
    grid = smoother_features(x[:n], z, x[n:], kinship=kin, coordinates=coords)
    bma = bma_mean(grid[1], kin, z)
    found = qtl_gblup(kin, coords, x[:n], x[n:], z)
    r = lambda p: np.corrcoef(p, g[n:])[0, 1]
    assert r(found) > r(bma) + 0.2
    np.testing.assert_allclose(qtl_gblup(kin, coords, x[:n], x[n:], z, steps=0), bma, rtol=1e-5, atol=1e-6)
    # a trait with no marker of large effect: it stays near the h2-averaged GBLUP
    zp = poly[:n] / poly.std() + rng.normal(0, 1, n)
    zp = (zp - zp.mean()) / zp.std()
    gp = smoother_features(x[:n], zp, x[n:], kinship=kin, coordinates=coords)
    assert np.corrcoef(qtl_gblup(kin, coords, x[:n], x[n:], zp), bma_mean(gp[1], kin, zp))[0, 1] > 0.98


def test_qtl_family_gblup_adds_the_large_effects_to_family_gblup_of_the_rest(rng):
    from gpfn_core.linear.family import family_gblup
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.qtl import qtl_family_gblup, qtl_gblup
    from gpfn_core.linear.smoothers import bma_mean, smoother_features

    d, fam = _families(rng, n_fam=8, size=30, m=800)
    train = fam < 6  # six families phenotyped, two predicted
    enc = Encoding.fit(d[train])
    x = enc.transform(d).astype(np.float32)
    poly = x @ rng.normal(0, 1, x.shape[1])
    g = 0.5 * poly / poly.std() + x[:, 11] / x[:, 11].std()  # one marker with most of the genetic variance
    y = g + rng.normal(0, g.std(), len(g))
    xt, xv = x[train], x[~train]
    z = (y[train] - y[train].mean()) / y[train].std()
    kin = Kinship.of(xt)
    coords = kin.coordinates(xt, xv)
    grid = smoother_features(xt, z, xv, kinship=kin, coordinates=coords)
    both = qtl_family_gblup(kin, coords, xt, xv, z)
    r = lambda p: np.corrcoef(p, g[~train])[0, 1]
    assert r(both) > r(family_gblup(kin, coords, xv, z, grid[1])) + 0.2  # the effect carries to new families
    # without families the rest is GBLUP averaged over h2: x b + that average of z - x b
    u = rng.integers(0, 3, (80, 3000)).astype(np.int8)
    eu = Encoding.fit(u[:60])
    ut, uv = eu.transform(u[:60]), eu.transform(u[60:])
    zu = rng.standard_normal(60)
    ku = Kinship.of(ut)
    cu = ku.coordinates(ut, uv)
    _, top, b = qtl_gblup(ku, cu, ut, uv, zu, effects=True)
    rest = zu - ut[:, top].astype(np.float64) @ b
    ref = uv[:, top].astype(np.float64) @ b + bma_mean(smoother_features(ut, rest, uv, kinship=ku, coordinates=cu)[1],
                                                       ku, rest)
    np.testing.assert_allclose(qtl_family_gblup(ku, cu, ut, uv, zu, bandwidths=()), ref, rtol=1e-10, atol=1e-12)
    # its single effects are a parameter: none leaves family GBLUP of z itself, one finds the large marker
    np.testing.assert_allclose(qtl_family_gblup(kin, coords, xt, xv, z, steps=0),
                               family_gblup(kin, coords, xv, z, grid[1]), rtol=1e-10, atol=1e-12)
    assert r(qtl_family_gblup(kin, coords, xt, xv, z, steps=1)) > r(family_gblup(kin, coords, xv, z, grid[1])) + 0.2


def test_family_anchors_share_one_reduction_per_family_share_and_kernel(rng, monkeypatch):
    """Family GBLUP and the QTL anchor (family GBLUP of what its effects leave) need the same
    decompositions: one tridiagonal reduction per family share and per Gaussian kernel, none
    per h2 grid point, and no eigendecomposition; the squared distances are formed once among
    the training individuals and once from the targets to them, for every bandwidth and both anchors."""
    import gpfn_core.linear.family as family_mod
    import gpfn_core.linear.kinship as kinship_mod
    from gpfn_core.linear.family import (
        FAMILY_BANDWIDTHS,
        FAMILY_SHARES,
        FamilyModel,
        Tridiagonal,
        family_gblup,
    )
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.qtl import qtl_family_gblup
    from gpfn_core.linear.smoothers import smoother_features

    fam = np.repeat(np.arange(6), 20)
    parents = rng.integers(0, 3, (6, 400))
    d = np.clip(parents[fam] + rng.integers(-1, 2, (120, 400)), 0, 2).astype(np.int8)
    x = Encoding.fit(d[:100]).transform(d)
    xt, xv = x[:100], x[100:]
    z = rng.standard_normal(100)
    kin = Kinship.of(xt)
    coords = kin.coordinates(xt, xv)
    calls = []
    real = kinship_mod.symmetric_eigh
    monkeypatch.setattr(kinship_mod, "symmetric_eigh", lambda a: calls.append(a.shape) or real(a))
    reduce = Tridiagonal.of.__func__
    reductions = []
    monkeypatch.setattr(Tridiagonal, "of", classmethod(lambda cls, a: reductions.append(1) or reduce(cls, a)))
    distances = []
    real_distances = family_mod.squared_distances
    monkeypatch.setattr(family_mod, "squared_distances",
                        lambda k, *rest: distances.append(k.shape) or real_distances(k, *rest))
    model = FamilyModel(kin, coords, xv)
    assert model.kernels is not None
    grid = smoother_features(xt, z, xv, kinship=kin, coordinates=coords)
    a = family_gblup(kin, coords, xv, z, grid[1], family=model)
    b = qtl_family_gblup(kin, coords, xt, xv, z, family=model)
    assert len(reductions) == len(FAMILY_SHARES) + len(FAMILY_BANDWIDTHS) and not calls  # one per kernel
    assert sorted(distances) == [(20, 100), (100, 100)]  # targets x training once, training x training once
    assert np.isfinite(a).all() and np.isfinite(b).all()
    np.testing.assert_allclose(a, family_gblup(kin, coords, xv, z, grid[1]), atol=1e-6)  # the same without sharing


def test_tridiagonal_form_gives_what_the_eigendecomposition_gives(rng):
    """V(h) = h A + (1 - h) I through A's tridiagonal form: the same solves, log-determinants
    and target products as through A's eigenvectors, at every h; one and two rows too; and
    Q undoes Q^T."""
    from gpfn_core.linear.family import Tridiagonal

    for n in (1, 2, 150):
        x = rng.standard_normal((n, 60))
        a = x @ x.T / 60
        b = rng.standard_normal((7, 60)) @ x.T / 60  # other rows of the kernel
        z = rng.standard_normal(n)
        tri = Tridiagonal.of(a)
        lam, q = np.linalg.eigh(a)
        w = tri.rotate(z)
        np.testing.assert_allclose(np.linalg.norm(w), np.linalg.norm(z), rtol=1e-6)  # Q is orthogonal
        for h in (0.05, 0.5, 0.9):
            d = h * lam + (1 - h)
            s, logdet = tri.solve(h, w)
            np.testing.assert_allclose(w @ s, ((q.T @ z) ** 2 / d).sum(), rtol=1e-5)  # z' V^-1 z
            np.testing.assert_allclose(logdet, np.log(d).sum(), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(b @ tri.unrotate(s), b @ q @ ((q.T @ z) / d), rtol=1e-4, atol=1e-5)  # B V^-1 z
        np.testing.assert_allclose(tri.rotate(np.column_stack([z, 2 * z])), np.column_stack([w, 2 * w]), rtol=1e-6)
        np.testing.assert_allclose(tri.unrotate(w), z, rtol=1e-5, atol=1e-5)  # Q Q^T z = z (single precision)


def test_gblup_grid_serves_several_phenotypes_as_smoother_features_does(rng):
    """The grid's phenotype-free products are made once and reused: each phenotype's columns
    equal smoother_features' on its own, on the kinship's eigenbasis and without it."""
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.smoothers import GblupGrid, smoother_features

    xt, xv, _ = _encoded_split(rng, 120, 90, 250)
    kin = Kinship.of(xt)
    grid = GblupGrid(xt, xv, kinship=kin)
    for _ in range(2):
        y = rng.standard_normal(len(xt))
        got = grid.features(y)
        want = smoother_features(xt, y, xv)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_kinship_keeps_the_relationships_it_decomposed_when_asked(rng):
    """K from the kept x x^T equals K recomposed from the eigenvectors; in marker space (fewer
    markers than individuals) nothing n x n is kept."""
    from gpfn_core.linear.kinship import Kinship

    x, _, _ = _encoded_split(rng, 80, 60, 200)
    kept, plain = Kinship.of(x, keep=True), Kinship.of(x)
    assert kept.gram is not None and plain.gram is None
    np.testing.assert_allclose(kept.relationships(), plain.relationships(), atol=1e-5)
    np.testing.assert_allclose(kept.relationships(), x.astype(np.float64) @ x.T / kept.scale, atol=1e-5)
    assert Kinship.of(x[:, :30], keep=True).gram is None


def test_gaussian_kernels_are_left_out_past_their_training_size_cap(rng, monkeypatch):
    """Past GAUSSIAN_MAX_N training individuals family GBLUP averages the linear and family
    kernels alone (each Gaussian kernel would cost an n x n reduction); below it they take part."""
    import gpfn_core.linear.family as family_mod
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.smoothers import smoother_features

    fam = np.repeat(np.arange(5), 16)
    d = np.clip(rng.integers(0, 3, (5, 300))[fam] + rng.integers(-1, 2, (80, 300)), 0, 2).astype(np.int8)
    x = Encoding.fit(d[:60]).transform(d)
    xt, xv = x[:60], x[60:]
    z = rng.standard_normal(60)
    kin = Kinship.of(xt)
    coords = kin.coordinates(xt, xv)
    grid = smoother_features(xt, z, xv, kinship=kin, coordinates=coords)
    with_kernels = family_mod.family_gblup(kin, coords, xv, z, grid[1])
    without = family_mod.family_gblup(kin, coords, xv, z, grid[1], bandwidths=())
    assert not np.allclose(with_kernels, without)
    monkeypatch.setattr(family_mod, "GAUSSIAN_MAX_N", 59)
    np.testing.assert_allclose(family_mod.family_gblup(kin, coords, xv, z, grid[1]), without, rtol=1e-12)


def test_qtl_anchor_takes_more_single_effects_from_its_large_size_on(rng, monkeypatch):
    """Many loci of moderate effect and no background: five single effects leave most of them to
    GBLUP; from :data:`QTL_STEPS_LARGE`'s size on the anchor runs more steps by default, and
    they find them."""
    from gpfn_core.linear import qtl
    from gpfn_core.linear.kinship import Kinship

    assert qtl.qtl_steps(qtl.QTL_STEPS_LARGE[0] - 1) == qtl.QTL_STEPS
    assert qtl.qtl_steps(qtl.QTL_STEPS_LARGE[0]) == qtl.QTL_STEPS_LARGE[1] > qtl.QTL_STEPS
    n, nv, m = 400, 200, 1500
    d = rng.binomial(2, rng.uniform(0.2, 0.5, m), (n + nv, m)).astype(np.int8)
    x = Encoding.fit(d[:n]).transform(d).astype(np.float32)
    loci = rng.choice(m, 15, replace=False)
    g = (x[:, loci] / x[:, loci].std(0)) @ rng.choice([-1.0, 1.0], loci.size)  # 15 equal effects
    y = g + rng.normal(0, 0.4 * g.std(), n + nv)
    z = (y[:n] - y[:n].mean()) / y[:n].std()
    kin = Kinship.of(x[:n])
    coords = kin.coordinates(x[:n], x[n:])
    r = lambda p: np.corrcoef(p, g[n:])[0, 1]
    five = qtl.qtl_family_gblup(kin, coords, x[:n], x[n:], z)  # 400 training individuals: the small-size steps
    np.testing.assert_array_equal(five, qtl.qtl_family_gblup(kin, coords, x[:n], x[n:], z, steps=qtl.QTL_STEPS))
    monkeypatch.setattr(qtl, "QTL_STEPS_LARGE", (n, 20))
    many = qtl.qtl_family_gblup(kin, coords, x[:n], x[n:], z)
    np.testing.assert_array_equal(many, qtl.qtl_family_gblup(kin, coords, x[:n], x[n:], z, steps=20))
    assert r(many) > r(five) + 0.02
