import numpy as np
import pytest

from gpfn_core.net.stackfit import fit_weights, interval_scale, simplex, stack_sizes
from gpfn_core.net.stacking import blend, Stack, stack_weights


def outputs(rng, n=40):
    mean = rng.normal(size=n)
    sd = rng.uniform(0.5, 1.0, n)
    return {"mean": mean, "sd": sd, "q0.05": mean - 1.6 * sd, "q0.95": mean + 1.7 * sd}


def test_blend_moves_the_mean_and_quantiles_together_and_scales_the_interval(rng):
    out, anchors = outputs(rng), rng.normal(size=(40, 2))
    assert blend(out, anchors, None) is out and blend(out, None, [0.3, 0.7, 0.0]) is out  # nothing to blend
    same = blend(out, anchors, [1.0, 0.0, 0.0])
    assert all(np.allclose(same[k], out[k]) for k in out)
    for w, scale in (([0.0, 1.0, 0.0], 1.0), ([0.4, 0.25, 0.35], 1.0), ([0.4, 0.25, 0.35], 1.3)):
        b = blend(out, anchors, w, scale)
        np.testing.assert_allclose(b["mean"], w[0] * out["mean"] + anchors @ np.array(w[1:]))
        np.testing.assert_allclose(b["sd"], scale * out["sd"])
        for q in ("q0.05", "q0.95"):  # the interval keeps its place around the mean, scaled
            np.testing.assert_allclose(b[q] - b["mean"], scale * (out[q] - out["mean"]))
    with pytest.raises(ValueError, match="anchors of shape"):
        blend(out, anchors[:5], [0.5, 0.5, 0.0])


def test_interval_scale_gives_the_nominal_coverage(rng):
    """Intervals built for errors of sd 1 on errors of sd 2 need twice their width; the fitted
    scale gets 90% coverage on the draws it was fitted on."""
    truths = [rng.normal(size=200) for _ in range(30)]
    means = [t + 2.0 * rng.normal(size=200) for t in truths]
    low, high = [np.full(200, -1.645)] * 30, [np.full(200, 1.645)] * 30
    c = interval_scale(means, low, high, truths)
    assert 1.9 <= c <= 2.1
    inside = np.mean([((m + c * lo <= t) & (t <= m + c * hi)).mean() for m, lo, hi, t in zip(means, low, high, truths)])
    assert 0.895 <= inside <= 0.91
    assert interval_scale(truths, low, high, truths) == 0.25  # exact means: the smallest scale allowed


def test_the_stack_interpolates_in_log_n_and_is_constant_beyond_its_sizes():
    st = Stack(np.array([30.0, 300.0]), np.array([[0.8, 0.2, 0.0], [0.4, 0.2, 0.4]]), np.array([1.2, 1.0]))
    w, c = st.at(int(np.sqrt(30 * 300)))  # halfway in log n: halfway between the rows
    np.testing.assert_allclose(w, [0.6, 0.2, 0.2], atol=2e-3)
    assert c == pytest.approx(1.1, abs=1e-3)
    assert st.at(5)[0].tolist() == [0.8, 0.2, 0.0] and st.at(5)[1] == 1.2
    assert st.at(10_000)[0].tolist() == [0.4, 0.2, 0.4] and st.at(10_000)[1] == 1.0


def test_stack_sizes_fit_the_model_population(rng):
    from types import SimpleNamespace

    big = SimpleNamespace(pop_max_size=1250, stack_sizes=(1000, 30, 100, 300))
    assert stack_sizes(big) == [(30, 230), (100, 300), (300, 500), (1000, 1200)]
    small = SimpleNamespace(pop_max_size=60, stack_sizes=(30, 100))
    assert stack_sizes(small) == [(30, 60)] and stack_sizes(small, (10, 30)) == [(10, 60), (30, 60)]
    assert stack_sizes(SimpleNamespace(pop_max_size=40, stack_sizes=(30,))) == [None]  # too few targets left


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
    from gpfn_core.errors import GpfnError

    assert stack_weights({}) is None
    one = stack_weights({"stack": {"weight": 0.35, "anchor_weights": {"gblup_bma": 0.4, "loo_choice": 0.25}}})
    assert one.at(20)[0].tolist() == one.at(5000)[0].tolist() == [0.35, 0.4, 0.25, 0.0, 0.0, 0.0] and one.at(20)[1] == 1.0
    assert stack_weights({"stack": {"weight": 0.6}}).at(100)[0].tolist() == pytest.approx([0.6, 0.4, 0.0, 0.0, 0.0, 0.0])
    sized = stack_weights({"stack": {"weight": 0.5, "anchor_weights": {"gblup_bma": 0.5}, "sizes": [
        {"n_train": 300, "weight": 0.4, "anchor_weights": {"gblup_bma": 0.2, "loo_choice": 0.4}, "interval_scale": 0.9},
        {"n_train": 30, "weight": 0.8, "anchor_weights": {"gblup_bma": 0.2, "loo_choice": 0.0}, "interval_scale": 1.3}]}})
    assert sized.n_train.tolist() == [30, 300]  # the sizes, not the top-level weight
    assert sized.at(30)[0].tolist() == [0.8, 0.2, 0.0, 0.0, 0.0, 0.0] and sized.at(300)[1] == 0.9
    with pytest.raises(GpfnError, match="does not compute"):
        stack_weights({"stack": {"weight": 0.5, "anchor_weights": {"bayesr": 0.5}}})


def test_prepare_keeps_the_anchors_of_the_targets(rng):
    from gpfn_core.net.preprocess import prepare
    from gpfn_core.registry import get_registry

    def pca(k):
        return get_registry().get("selector", "pca")(k, seed=1)

    x = rng.integers(0, 3, (70, 400)).astype(np.int8)
    y = x[:, :10].sum(1) + rng.normal(size=70)
    both = prepare(x[:50], y[:50], x[50:], pca(5), "gblup,sparse,bma")
    bma_col = 5 + 2 * 8 + 2 * 8  # after the selector's 5, gblup's 16 and sparse's 16 columns
    np.testing.assert_allclose(both.anchors[:, 0], both.target[:, bma_col], rtol=1e-5, atol=1e-6)
    means = [5 + j for j in range(8)] + [5 + 16 + j for j in range(8)] + [bma_col]
    from gpfn_core.net.preprocess import loo_choice

    np.testing.assert_allclose(both.anchors[:, 1], loo_choice(both.train, both.y_train, both.target, 5,
                                                              "gblup,sparse,bma"))
    cols = both.target[:, means].astype(np.float64)  # a weighted mean of the smoothers' mean columns
    assert np.all(cols.min(1) - 1e-6 <= both.anchors[:, 1]) and np.all(both.anchors[:, 1] <= cols.max(1) + 1e-6)
    from gpfn_core.linear.kinship import Kinship
    from gpfn_core.linear.qtl import qtl_family_gblup
    from gpfn_core.data.encoding import Encoding

    enc = Encoding.fit(x[:50])
    xt, xv = enc.transform(x[:50]), enc.transform(x[50:])
    kin = Kinship.of(xt, keep=True)  # as prepare makes it
    np.testing.assert_allclose(both.anchors[:, 3], qtl_family_gblup(kin, kin.coordinates(xt, xv), xt, xv, both.y_train),
                               rtol=1e-5, atol=1e-6)  # the fourth: family GBLUP + QTL, from the same encoding (to rounding)
    from gpfn_core.linear.bayes import short_chain

    np.testing.assert_array_equal(both.anchors[:, 4], short_chain(xt, both.y_train, xv))  # the fifth: BayesB's chain
    assert prepare(x[:50], y[:50], x[50:], pca(5), "gblup").anchors.shape == (20, 5)
    some = prepare(x[:50], y[:50], x[50:], pca(5), "gblup,sparse,bma", anchors=("loo_choice",))
    np.testing.assert_allclose(some.anchors[:, 1], both.anchors[:, 1])  # asked for: as before
    assert not some.anchors[:, [0, 2, 3, 4]].any()  # not asked for: zero (weighed zero)
    assert prepare(x[:50], y[:50], x[50:], pca(5), "gblup", anchors=False).anchors is None
    assert prepare(x[:50], y[:50], x[50:], pca(5), "sparse").anchors is None  # no kinship, no anchors
    assert prepare(x[:50], y[:50], x[50:], pca(5), "").anchors is None


def test_validation_computes_the_anchors_a_size_tries_and_refuses_a_stacking_that_weighs_others(model_path):
    """By default a validation computes the anchors a stacking at its draws' size tries (no BayesB
    chain below 2,000 lines); scoring a stacking that weighs one it did not compute is an error,
    not a blend with a zero column."""
    from gpfn_core import GpfnError
    from gpfn_core.net.config import config_of_model
    from gpfn_core.net.draws import build
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.net.preprocess import STACK_ANCHORS
    from gpfn_core.net.stacking import Stack
    from gpfn_core.net.validation import Validation

    model, bar, meta = load_model(model_path)
    cfg = config_of_model(model_path, meta)
    prior, selector = build(cfg)
    fixed = {"pop_size": 60, "train_fraction": 0.5}
    val = Validation(prior, selector, cfg, draws=2, fixed=fixed)
    assert all(c == set(STACK_ANCHORS) - {"bayesb"} for c in val.computed)
    assert not np.any([a[:, STACK_ANCHORS.index("bayesb")] for *_, a in val.items])
    on_bayesb = Stack(np.array([10.0]), np.array([[0.0, 0.0, 0.0, 0.0, 0.5, 0.5]]), np.array([1.0]))
    with pytest.raises(GpfnError, match="bayesb"):
        val.evaluate(model, bar, stack=on_bayesb)
    full = Validation(prior, selector, cfg, draws=2, fixed=fixed, anchors=STACK_ANCHORS)
    assert np.isfinite(full.evaluate(model, bar, stack=on_bayesb)["model_r"])


def test_an_anchor_tried_from_a_size_on_ramps_in_from_that_size():
    """BayesB is tried from 2,000 lines on: its weight is 0 up to 2,000 (no chain runs), grows
    in log n to its fitted weight, the others keep the sum at one, and nothing jumps."""
    from gpfn_core.net.preprocess import ANCHOR_FROM, STACK_ANCHORS
    from gpfn_core.net.stacking import Stack

    b = 1 + STACK_ANCHORS.index("bayesb")
    start = ANCHOR_FROM["bayesb"]
    st = Stack(np.array([300.0, 1000.0, 2500.0]),
               np.array([[0.2, 0.3, 0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.2, 0.8, 0.0], [0.0, 0.0, 0.0, 0.1, 0.6, 0.3]]),
               np.array([1.0, 1.0, 1.0]))
    ns = np.unique(np.geomspace(200, 4000, 400).astype(int))
    ws = np.array([st.at(n)[0] for n in ns])
    np.testing.assert_allclose(ws.sum(1), 1.0)
    assert np.all(ws[ns <= start, b] == 0) and np.all(ws[ns > start, b] > 0)
    np.testing.assert_allclose(st.at(1000)[0], [0.0, 0.0, 0.0, 0.2, 0.8, 0.0])  # fitted sizes unchanged
    np.testing.assert_allclose(st.at(2500)[0], [0.0, 0.0, 0.0, 0.1, 0.6, 0.3])
    np.testing.assert_allclose(st.at(300)[0], [0.2, 0.3, 0.0, 0.0, 0.5, 0.0])
    assert np.abs(np.diff(ws, axis=0)).max() < 0.02  # continuous: small steps on a fine grid of n
    never = Stack(st.n_train[:2], st.weights[:2], st.interval_scale[:2])  # never tried: plain interpolation
    np.testing.assert_allclose(never.at(5000)[0], [0.0, 0.0, 0.0, 0.2, 0.8, 0.0])
    # the anchors a prediction computes: those weighed at its size, BayesB's chain only past its start
    assert st.anchors_at(1000) == ("gblup_family", "gblup_qtl")
    assert st.anchors_at(start) == ("gblup_family", "gblup_qtl")
    assert st.anchors_at(2500) == ("gblup_family", "gblup_qtl", "bayesb")
    assert st.anchors_at(300) == ("gblup_bma", "gblup_qtl")
