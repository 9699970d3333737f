import numpy as np
import pytest
import torch

from gpfn_core import ValidationError
from gpfn_core.net.bar import BarDistribution
from gpfn_core.net.inference import member_outputs, predict_features
from gpfn_core.net.model import PFN, ModelConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=5, emb_size=16, num_layers=2, num_heads=2, hidden_dim=16, num_buckets=12,
                        smoother_features=2, smoother_stats=True))
    torch.nn.init.normal_(m.smoother_stats_encoder.weight)
    return m, BarDistribution(torch.linspace(-3, 3, 13))


def test_members_are_their_subsets_predicted_alone(model):
    m, bar = model
    rng = np.random.default_rng(0)
    ft, fv, y = rng.normal(size=(90, 7)), rng.normal(size=(23, 7)), rng.normal(size=90)
    outs = member_outputs(m, bar, ft, y, fv, context=30, seed=3, chunk=10, quantiles=(0.1,))
    assert len(outs) == 6  # max(4, ceil(2 * 90 / 30))
    rng = np.random.default_rng(3)
    alone = [predict_features(m, bar, ft[r], y[r], fv, quantiles=(0.1,))
             for r in (np.sort(rng.choice(90, 30, replace=False)) for _ in range(6))]
    for a, c in zip(outs, alone):
        for k in ("mean", "sd", "q0.1"):
            assert a[k].shape == (23,)
            np.testing.assert_allclose(a[k], c[k], atol=1e-5)
    assert np.std([o["mean"] for o in outs], axis=0).max() > 1e-4  # the members differ
    whole = member_outputs(m, bar, ft[:31], y[:31], fv, context=30)  # within the slack: one member, every row
    np.testing.assert_allclose(whole[0]["mean"], predict_features(m, bar, ft[:31], y[:31], fv)["mean"])


def test_bad_feature_shapes_are_named(model):
    m, bar = model
    with pytest.raises(ValidationError, match=r"features must be \[individuals, 7\]"):
        predict_features(m, bar, np.zeros((10, 6)), np.zeros(10), np.zeros((3, 7)))
    with pytest.raises(ValidationError, match="10 training rows with 9 phenotypes"):
        predict_features(m, bar, np.zeros((10, 7)), np.zeros(9), np.zeros((3, 7)))
