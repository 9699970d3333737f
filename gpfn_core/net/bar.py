"""The bar (Riemann) distribution with half-normal tails, and its losses.

Follows the ``FullSupportBarDistribution`` of Müller et al.'s PFN code
(https://github.com/automl/TransformersCanDoBayesianInference, Apache-2.0): the model
outputs logits over buckets between ``borders``; inner buckets have a uniform density;
the two outer buckets are half-normals anchored at their inner border whose scale puts
half their mass inside the bucket, so the distribution has full support on the reals.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from gpfn_core.errors import ValidationError

_HALF_NORMAL_MEDIAN = math.sqrt(2.0) * float(torch.erfinv(torch.tensor(0.5)))  # ~0.6745


class BarDistribution(nn.Module):
    """Posterior predictive over ``len(borders) - 1`` buckets (``borders`` strictly increasing)."""

    def __init__(self, borders: torch.Tensor | np.ndarray) -> None:
        super().__init__()
        b = torch.as_tensor(np.asarray(borders, dtype=np.float64), dtype=torch.float32)
        if b.ndim != 1 or b.numel() < 3 or not bool((b[1:] > b[:-1]).all()):
            raise ValidationError("bucket borders must be a strictly increasing vector of at least 3 values")
        self.register_buffer("borders", b)

    @property
    def num_buckets(self) -> int:
        return self.borders.numel() - 1

    @property
    def widths(self) -> torch.Tensor:
        return self.borders[1:] - self.borders[:-1]

    def _tail_scales(self) -> tuple[torch.Tensor, torch.Tensor]:
        w = self.widths
        return w[0] / _HALF_NORMAL_MEDIAN, w[-1] / _HALF_NORMAL_MEDIAN

    def bucket_of(self, y: torch.Tensor) -> torch.Tensor:
        idx = torch.searchsorted(self.borders[1:-1].contiguous(), y.contiguous(), right=False)
        return idx.clamp(0, self.num_buckets - 1)

    def log_density(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(y) for logits ``[..., K]`` and values ``y`` ``[...]``."""
        logp = torch.log_softmax(logits.float(), dim=-1)
        y = y.float()
        idx = self.bucket_of(y)
        lp = logp.gather(-1, idx.unsqueeze(-1)).squeeze(-1)
        s_left, s_right = self._tail_scales()
        inner = lp - torch.log(self.widths[idx])

        def half_normal(d, s):
            return math.log(math.sqrt(2.0 / math.pi)) - torch.log(s) - 0.5 * (d / s) ** 2

        left = lp + half_normal((self.borders[1] - y).clamp_min(0), s_left)
        right = lp + half_normal((y - self.borders[-2]).clamp_min(0), s_right)
        last = self.num_buckets - 1
        return torch.where(idx == 0, left, torch.where(idx == last, right, inner))

    def nll(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return -self.log_density(logits, y)

    def _bucket_moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = self.borders[:-1], self.borders[1:]
        m1 = (a + b) / 2
        m2 = (a * a + a * b + b * b) / 3
        s_l, s_r = self._tail_scales()
        c = math.sqrt(2.0 / math.pi)
        b1, bk = self.borders[1], self.borders[-2]
        m1 = torch.cat([(b1 - s_l * c).view(1), m1[1:-1], (bk + s_r * c).view(1)])
        m2 = torch.cat([(b1 * b1 - 2 * b1 * s_l * c + s_l * s_l).view(1), m2[1:-1],
                        (bk * bk + 2 * bk * s_r * c + s_r * s_r).view(1)])
        return m1, m2

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits.float(), dim=-1)
        return p @ self._bucket_moments()[0]

    def variance(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.softmax(logits.float(), dim=-1)
        m1, m2 = self._bucket_moments()
        mean = p @ m1
        return (p @ m2 - mean * mean).clamp_min(0)

    def quantile(self, logits: torch.Tensor, q: float) -> torch.Tensor:
        """The ``q`` quantile (0 < q < 1) of each distribution."""
        if not 0 < q < 1:
            raise ValidationError(f"quantile must be in (0, 1), got {q}")
        p = torch.softmax(logits.float(), dim=-1)
        cdf = torch.cumsum(p, dim=-1)
        idx = torch.searchsorted(cdf, torch.full(cdf.shape[:-1] + (1,), q, device=cdf.device)).squeeze(-1)
        idx = idx.clamp(0, self.num_buckets - 1)
        before = torch.where(idx > 0, cdf.gather(-1, (idx - 1).clamp_min(0).unsqueeze(-1)).squeeze(-1),
                             torch.zeros_like(idx, dtype=cdf.dtype))
        pb = p.gather(-1, idx.unsqueeze(-1)).squeeze(-1).clamp_min(1e-12)
        frac = ((q - before) / pb).clamp(0, 1)  # position of q inside its bucket's mass
        a, b = self.borders[idx], self.borders[idx + 1]
        inner = a + frac * (b - a)
        s_l, s_r = self._tail_scales()
        sqrt2 = math.sqrt(2.0)
        # left tail: mass runs from -inf up to borders[1]; fraction f from the left means
        # a half-normal exceedance of (1 - f) measured from borders[1].
        left = self.borders[1] - s_l * sqrt2 * torch.erfinv((1 - frac).clamp(0, 1 - 1e-6))
        right = self.borders[-2] + s_r * sqrt2 * torch.erfinv(frac.clamp(0, 1 - 1e-6))
        last = self.num_buckets - 1
        return torch.where(idx == 0, left, torch.where(idx == last, right, inner))


def estimate_borders(values: np.ndarray, num_buckets: int) -> np.ndarray:
    """Bucket borders at equal-mass quantiles of ``values`` (prior samples of the target).

    Ties (discrete values) are broken by widening to a strictly increasing vector.
    """
    if num_buckets < 2:
        raise ValidationError(f"num_buckets must be >= 2, got {num_buckets}")
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < num_buckets:
        raise ValidationError(f"need at least num_buckets={num_buckets} prior samples for the borders, got {v.size}")
    b = np.quantile(v, np.linspace(0, 1, num_buckets + 1))
    eps = max(1e-6, 1e-6 * float(np.ptp(b)))
    for i in range(1, b.size):  # one pass over at most a few thousand borders
        b[i] = max(b[i], b[i - 1] + eps)
    return b


def bar_loss(bar: BarDistribution, logits: torch.Tensor, y: torch.Tensor, kind: str = "bar") -> torch.Tensor:
    """``bar``: mean NLL; ``bar_mse``: mean NLL plus the MSE of the predictive mean."""
    nll = bar.nll(logits, y).mean()
    if kind == "bar":
        return nll
    if kind == "bar_mse":
        return nll + ((bar.mean(logits) - y.float()) ** 2).mean()
    raise ValidationError(f"loss_function must be 'bar' or 'bar_mse', got {kind!r}")
