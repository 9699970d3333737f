import numpy as np
import pytest
import torch

from gpfn_core import ValidationError
from gpfn_core.net.bar import BarDistribution, bar_loss, estimate_borders


@pytest.fixture
def bar():
    return BarDistribution(estimate_borders(np.random.default_rng(0).standard_normal(5000), 40))


def numeric(bar, logits):
    ys = torch.linspace(-40, 40, 400001)
    dens = bar.log_density(logits[:, None, :].expand(-1, ys.numel(), -1), ys[None].expand(logits.shape[0], -1)).exp()
    dy = 80.0 / 400000  # exact spacing (a float32 difference of neighbours is 1% off)
    mass = dens.sum(1) * dy
    mean = (dens * ys).sum(1) * dy
    var = (dens * ys**2).sum(1) * dy - mean**2
    return mass, mean, var, torch.cumsum(dens.double(), 1) * dy, ys


def test_density_moments_and_quantiles_agree_with_integration(bar):
    logits = torch.randn(3, 40, generator=torch.Generator().manual_seed(1)) * 2
    mass, mean, var, cdf, ys = numeric(bar, logits)
    np.testing.assert_allclose(mass, 1.0, atol=5e-3)
    np.testing.assert_allclose(bar.mean(logits), mean, atol=5e-3)
    np.testing.assert_allclose(bar.variance(logits), var, rtol=1e-2)
    for q in (0.02, 0.05, 0.5, 0.95, 0.99):
        at = torch.searchsorted(ys, bar.quantile(logits, q).contiguous()[:, None])  # numeric CDF at the quantile
        np.testing.assert_allclose(cdf.gather(1, at).squeeze(1), q, atol=5e-3)  # as the mass


def test_full_support_and_losses(bar):
    logits = torch.zeros(2, 40)
    far = torch.tensor([-50.0, 50.0])
    assert torch.isfinite(bar.nll(logits, far)).all()
    y = torch.tensor([0.1, -0.3])
    assert bar_loss(bar, logits, y, "bar_mse") > bar_loss(bar, logits, y, "bar")
    with pytest.raises(ValidationError, match="loss_function"):
        bar_loss(bar, logits, y, "l1")


def test_borders_are_strictly_increasing_even_with_ties():
    b = estimate_borders(np.repeat([0.0, 1.0, 2.0], 100), 30)
    assert b.size == 31 and (np.diff(b) > 0).all()
    with pytest.raises(ValidationError, match="num_buckets"):
        estimate_borders(np.arange(10.0), 50)
