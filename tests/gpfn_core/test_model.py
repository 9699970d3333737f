import pytest
import torch

from gpfn_core import ValidationError
from gpfn_core.model import PFN, ModelConfig


@pytest.fixture
def model():
    torch.manual_seed(0)
    return PFN(ModelConfig(n_features=6, emb_size=16, num_layers=2, num_heads=2, hidden_dim=32, num_buckets=10)).eval()


def test_targets_never_attend_to_each_other(model):
    x, y = torch.randn(1, 25, 6), torch.randn(1, 15)
    out = model(x, y)
    x2 = x.clone()
    x2[0, 20] += 5.0  # change one target
    out2 = model(x2, y)
    changed = (out - out2).abs().amax(-1)[0]
    assert changed[5] > 1e-3
    assert torch.all(changed[torch.arange(10) != 5] < 1e-5)


def test_chunked_prediction_equals_full(model):
    x, y = torch.randn(2, 40, 6), torch.randn(2, 30)
    full = model(x, y)
    chunks = torch.cat([model(torch.cat([x[:, :30], x[:, 30 + i : 30 + i + 4]], 1), y) for i in range(0, 10, 4)], 1)
    torch.testing.assert_close(full, chunks, atol=1e-5, rtol=1e-5)


def test_training_tokens_matter(model):
    x, y = torch.randn(1, 25, 6), torch.randn(1, 15)
    assert (model(x, y) - model(x, -y)).abs().max() > 1e-3


@pytest.mark.parametrize("mode", ["global", "feature", "none"])
def test_input_normalisation_uses_training_rows_only(mode):
    torch.manual_seed(0)
    m = PFN(ModelConfig(n_features=4, emb_size=8, num_layers=1, num_heads=2, hidden_dim=8, num_buckets=5,
                        input_norm=mode))
    x = torch.randn(1, 12, 4) * torch.tensor([5.0, 1.0, 0.1, 2.0]) + 3.0
    z = m.normalise(x, 8)
    x2 = x.clone()
    x2[0, 10] += 100.0  # a target's values never change how anyone else is scaled
    z2 = m.normalise(x2, 8)
    keep = torch.arange(12) != 10
    torch.testing.assert_close(z[0, keep], z2[0, keep])
    if mode == "global":
        assert z[0, :8].pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)
        ratio = z[0, :8].std(0) / x[0, :8].std(0)
        torch.testing.assert_close(ratio, ratio[0].expand(4))  # relative scales kept
    elif mode == "feature":
        torch.testing.assert_close(z[0, :8].std(0, unbiased=False), torch.ones(4), atol=1e-4, rtol=1e-4)


def test_bad_config_and_input(model):
    with pytest.raises(ValidationError, match="divisible"):
        ModelConfig(emb_size=10, num_heads=3)
    with pytest.raises(ValidationError, match="input_norm"):
        ModelConfig(input_norm="both")
    with pytest.raises(ValidationError, match="x must be"):
        model(torch.randn(1, 5, 7), torch.randn(1, 3))
