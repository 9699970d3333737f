import numpy as np
import pytest
from click.testing import CliRunner

from gpfn_core.stacking import WEIGHT_GRID, blend, fit_weight, stack_weight


def outputs(rng, n=40):
    mean = rng.normal(size=n)
    sd = rng.uniform(0.5, 1.0, n)
    return {"mean": mean, "sd": sd, "q0.05": mean - 1.6 * sd, "q0.95": mean + 1.7 * sd}


def test_blend_moves_the_mean_and_quantiles_together_and_keeps_the_sd(rng):
    out, anchor = outputs(rng), rng.normal(size=40)
    assert blend(out, anchor, None) is out and blend(out, None, 0.3) is out  # no weight or no anchor: unchanged
    same = blend(out, anchor, 1.0)
    assert all(np.allclose(same[k], out[k]) for k in out)
    for w in (0.0, 0.4):
        b = blend(out, anchor, w)
        np.testing.assert_allclose(b["mean"], w * out["mean"] + (1 - w) * anchor)
        np.testing.assert_allclose(b["sd"], out["sd"])
        for q in ("q0.05", "q0.95"):  # the interval keeps its place around the mean
            np.testing.assert_allclose(b[q] - b["mean"], out[q] - out["mean"])
    with pytest.raises(ValueError, match="anchor of shape"):
        blend(out, anchor[:5], 0.5)


def test_fit_weight_finds_the_better_predictor_and_the_even_blend(rng):
    truths = [rng.normal(size=60) for _ in range(80)]
    noise = [rng.normal(size=60) for _ in truths]
    exact = fit_weight(truths, [t + e for t, e in zip(truths, noise)], truths)  # the network is the truth
    assert exact["weight"] == 1.0 and exact["r_network"] == pytest.approx(1.0)
    assert fit_weight([t + e for t, e in zip(truths, noise)], truths, truths)["weight"] == 0.0  # the anchor is
    other = [rng.normal(size=60) for _ in truths]
    even = fit_weight([t + e for t, e in zip(truths, noise)], [t + o for t, o in zip(truths, other)], truths)
    assert 0.3 <= even["weight"] <= 0.7  # two equally noisy, independent predictions: average them
    assert even["r_stacked"] > max(even["r_network"], even["r_anchor"]) + 0.05
    assert even["grid"] == list(WEIGHT_GRID) and even["draws"] == 80
    with pytest.raises(ValueError, match="same positive number"):
        fit_weight([], [], [])


def test_stack_weight_reads_the_file_metadata():
    assert stack_weight({}) is None and stack_weight({"stack": {"weight": 0.35}}) == 0.35


def test_prepare_keeps_the_bma_anchor_of_the_targets(rng):
    from gpfn_core.preprocess import prepare
    from gpfn_core.registry import get_registry

    def PCASelector(k):
        return get_registry().get("selector", "pca")(k, seed=1)

    x = rng.integers(0, 3, (70, 400)).astype(np.int8)
    y = x[:, :10].sum(1) + rng.normal(size=70)
    both = prepare(x[:50], y[:50], x[50:], PCASelector(5), "gblup,sparse,bma")
    bma_col = 5 + 2 * 8 + 2 * 8  # after the selector's 5, gblup's 16 and sparse's 16 columns
    np.testing.assert_allclose(both.anchor, both.target[:, bma_col], rtol=1e-5, atol=1e-6)
    assert prepare(x[:50], y[:50], x[50:], PCASelector(5), "gblup").anchor.shape == (20,)
    assert prepare(x[:50], y[:50], x[50:], PCASelector(5), "sparse").anchor is None  # no kinship, no anchor
    assert prepare(x[:50], y[:50], x[50:], PCASelector(5), "").anchor is None
