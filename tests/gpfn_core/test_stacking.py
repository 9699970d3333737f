import numpy as np
import pytest

from gpfn_core.stacking import blend, fit_weights, simplex, stack_weights


def outputs(rng, n=40):
    mean = rng.normal(size=n)
    sd = rng.uniform(0.5, 1.0, n)
    return {"mean": mean, "sd": sd, "q0.05": mean - 1.6 * sd, "q0.95": mean + 1.7 * sd}


def test_blend_moves_the_mean_and_quantiles_together_and_keeps_the_sd(rng):
    out, anchors = outputs(rng), rng.normal(size=(40, 2))
    assert blend(out, anchors, None) is out and blend(out, None, (0.3, [0.7, 0.0])) is out  # nothing to blend
    same = blend(out, anchors, (1.0, [0.0, 0.0]))
    assert all(np.allclose(same[k], out[k]) for k in out)
    for w, a in ((0.0, [1.0, 0.0]), (0.4, [0.25, 0.35])):
        b = blend(out, anchors, (w, a))
        np.testing.assert_allclose(b["mean"], w * out["mean"] + anchors @ np.array(a))
        np.testing.assert_allclose(b["sd"], out["sd"])
        for q in ("q0.05", "q0.95"):  # the interval keeps its place around the mean
            np.testing.assert_allclose(b[q] - b["mean"], out[q] - out["mean"])
    with pytest.raises(ValueError, match="anchors of shape"):
        blend(out, anchors[:5], (0.5, [0.5, 0.0]))


def test_simplex_holds_every_grid_point_summing_to_one():
    g = simplex(3, 0.05)
    assert g.shape == (231, 3) and np.allclose(g.sum(1), 1) and (g >= 0).all()
    assert len({tuple(np.round(r, 6)) for r in g}) == 231 and [1.0, 0.0, 0.0] in g.tolist()
    assert simplex(2, 0.5).tolist() == [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]


def test_fit_weights_finds_the_better_predictor_and_the_even_blend(rng):
    truths = [rng.normal(size=60) for _ in range(80)]
    noisy = [t + rng.normal(size=60) for t in truths]
    junk = [rng.normal(size=(60, 1)) for _ in truths]
    exact = fit_weights(truths, [np.column_stack([n, j]) for n, j in zip(noisy, junk)], truths)
    assert exact["weights"] == [1.0, 0.0, 0.0] and exact["r_alone"][0] == pytest.approx(1.0)
    second = fit_weights(noisy, [np.column_stack([j, t]) for j, t in zip(junk, truths)], truths)
    assert second["weights"] == [0.0, 0.0, 1.0]  # the second anchor is the truth
    other = [t + rng.normal(size=60) for t in truths]
    even = fit_weights(noisy, [np.column_stack([o, j]) for o, j in zip(other, junk)], truths)
    assert 0.3 <= even["weights"][0] <= 0.7 and even["weights"][2] <= 0.1  # two equally noisy, independent: average
    assert even["r_stacked"] > max(even["r_alone"]) + 0.05 and even["draws"] == 80
    with pytest.raises(ValueError, match="same positive number"):
        fit_weights([], [], [])


def test_stack_weights_read_the_file_metadata():
    assert stack_weights({}) is None
    w, a = stack_weights({"stack": {"weight": 0.35, "anchor_weights": {"gblup_bma": 0.4, "loo_choice": 0.25}}})
    assert w == 0.35 and a.tolist() == [0.4, 0.25]
    assert stack_weights({"stack": {"weight": 0.6}})[1].tolist() == pytest.approx([0.4, 0.0])  # the GBLUP average only


def test_prepare_keeps_the_anchors_of_the_targets(rng):
    from gpfn_core.preprocess import prepare
    from gpfn_core.registry import get_registry

    def pca(k):
        return get_registry().get("selector", "pca")(k, seed=1)

    x = rng.integers(0, 3, (70, 400)).astype(np.int8)
    y = x[:, :10].sum(1) + rng.normal(size=70)
    both = prepare(x[:50], y[:50], x[50:], pca(5), "gblup,sparse,bma")
    bma_col = 5 + 2 * 8 + 2 * 8  # after the selector's 5, gblup's 16 and sparse's 16 columns
    np.testing.assert_allclose(both.anchors[:, 0], both.target[:, bma_col], rtol=1e-5, atol=1e-6)
    means = [5 + j for j in range(8)] + [5 + 16 + j for j in range(8)] + [bma_col]
    err = ((both.train[:, means] - both.y_train[:, None]) ** 2).mean(0)
    np.testing.assert_allclose(both.anchors[:, 1], both.target[:, means[int(np.argmin(err))]])
    assert prepare(x[:50], y[:50], x[50:], pca(5), "gblup").anchors.shape == (20, 2)
    assert prepare(x[:50], y[:50], x[50:], pca(5), "sparse").anchors is None  # no kinship, no anchors
    assert prepare(x[:50], y[:50], x[50:], pca(5), "").anchors is None
