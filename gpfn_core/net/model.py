"""The PFN transformer (Müller et al. 2022, as used by the original GPFN).

Tokens are individuals: a linear encoding of their features (normalised by the
training individuals' statistics), plus an encoding of the standardised phenotype for
training individuals.  Attention: training tokens attend to training tokens; target
tokens attend to training tokens and themselves, never to each other, so any number
of targets can be predicted in chunks with identical results.  A decoder maps each
target token to logits over the buckets of a :class:`~gpfn_core.bar.BarDistribution`.

Layers are pre-norm (LayerNorm before attention and MLP), which trains more stably
than the original's post-norm at no cost.

Relationship-biased attention (``relationship_bias``, gpfn's own): every head adds
``beta_h * R[i, j]`` to its attention logits, where ``R = x x^T / F`` is the relationship
of the two individuals in the normalised feature space (with principal components
scaled by their singular values this is the genomic relationship matrix restricted to
those components, the quantity GBLUP works from) and ``beta_h`` is a learnt scale per
layer and head, initialised log-spaced from 0.25 to 4.  An untrained model therefore
already averages the phenotypes of an individual's relatives (a kernel smoother that
reaches about 90% of GBLUP's accuracy on NAM draws), where a plain transformer first
has to discover relatedness by itself: on CPU budgets it stayed on the plateau of
predicting the mean.

Kernel features (``kernel_features`` = m, gpfn's own): before the first layer every
individual gets m relationship-weighted means of the training phenotypes,
``s_j = sum_i softmax_i(b_j R[., i]) y_i`` over the *other* training individuals
(leave-one-out for training individuals, so theirs are distributed as the targets'),
for m learnt bandwidths ``b_j`` (initialised log-spaced from 0.25 to 16).  This is one
fixed-form attention step whose values are the raw phenotypes; it gives the decoder a
direct path to a predictor correlated with the breeding value from the first step, so
the gradient signal does not have to pass through a randomly initialised attention
stack first.  Everything stays one forward pass; nothing is fitted per prediction.

Smoother features (``smoother_features`` = s, preprocessing version 2): the last s
columns of ``x`` are closed-form predictions computed in
:func:`~gpfn_core.net.preprocess.prepare` from all markers and all training phenotypes
(GBLUP at a grid of h2 and a marker-weighted kernel, leave-one-out or cross-fitted for
training rows; see :mod:`gpfn_core.linear`).  They are already on the standardised
phenotype scale, so they bypass the feature normalisation and get their own encoder,
and a linear read-out of them (``smoother_skip``) is added to the decoder's input:
the model starts from "a weighted average of the smoothers" and learns from the prior
how to weigh them (the h2 to trust, sparse against polygenic) from how well each
predicts the training individuals it can see.  This is how every training individual
reaches every target when the training set exceeds the transformer's context.

Smoother statistics (``smoother_stats``): how well each smoother column predicts the
training phenotypes, computed in the forward pass from the training rows' leave-one-out
values (mean squared error and correlation, the quantities cross-validation would
choose by) and added to every token through a zero-initialised encoder, so the model
can weigh the heritability grid and sparse against polygenic per population directly,
instead of having to rediscover these averages through attention.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gpfn_core.net.architecture import ModelConfig  # noqa: F401 (re-exported: the architecture options)
from gpfn_core.errors import ValidationError


class Layer(nn.Module):
    def __init__(self, c: ModelConfig) -> None:
        super().__init__()
        self.heads = c.num_heads
        self.norm1 = nn.LayerNorm(c.emb_size)
        self.qkv = nn.Linear(c.emb_size, 3 * c.emb_size)
        self.proj = nn.Linear(c.emb_size, c.emb_size)
        self.norm2 = nn.LayerNorm(c.emb_size)
        self.mlp = nn.Sequential(nn.Linear(c.emb_size, c.hidden_dim), nn.GELU(), nn.Linear(c.hidden_dim, c.emb_size))
        self.drop = nn.Dropout(c.dropout)
        self.p = c.dropout
        if c.relationship_bias:
            self.rel_scale = nn.Parameter(torch.logspace(math.log10(0.25), math.log10(4.0), c.num_heads))

    def forward(self, h: torch.Tensor, n_train: int, rel: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """``rel``: relationships (train x train [B, n_train, n_train], target x train+self
        [B, n_t, n_train + n_t], zero off the diagonal of the target block), or None."""
        b, n, e = h.shape
        q, k, v = self.qkv(self.norm1(h)).view(b, n, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)
        p = self.p if self.training else 0.0
        tr = slice(0, n_train)
        n_t = n - n_train
        train_mask = target_mask = None
        if n_t:
            # Targets see all training keys plus their own key: mask [targets, train + targets].
            eye = torch.eye(n_t, dtype=torch.bool, device=h.device)
            target_mask = torch.cat([torch.ones(n_t, n_train, dtype=torch.bool, device=h.device), eye], dim=1)
        if rel is not None:
            scale = self.rel_scale.view(1, -1, 1, 1).to(q.dtype)
            train_mask = rel[0].unsqueeze(1).to(q.dtype) * scale
            if n_t:  # masked_fill after the product: no inf * scale in the backward pass
                target_mask = (rel[1].unsqueeze(1).to(q.dtype) * scale).masked_fill(~target_mask, float("-inf"))
        out = [F.scaled_dot_product_attention(q[:, :, tr], k[:, :, tr], v[:, :, tr], attn_mask=train_mask, dropout_p=p)]
        if n_t:
            out.append(F.scaled_dot_product_attention(q[:, :, n_train:], k, v, attn_mask=target_mask, dropout_p=p))
        a = torch.cat(out, dim=2).transpose(1, 2).reshape(b, n, e)
        h = h + self.drop(self.proj(a))
        return h + self.drop(self.mlp(self.norm2(h)))


class PFN(nn.Module):
    """``forward(x [B, n, F], y_train [B, n_train]) -> logits [B, n - n_train, num_buckets]``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.x_encoder = nn.Linear(c.n_features, c.emb_size)
        self.y_encoder = nn.Linear(1, c.emb_size)
        if c.kernel_features:
            self.kernel_log_scale = nn.Parameter(torch.linspace(math.log(0.25), math.log(16.0), c.kernel_features))
            self.kernel_encoder = nn.Linear(c.kernel_features, c.emb_size)
        if c.smoother_features:
            self.smoother_encoder = nn.Sequential(nn.Linear(c.smoother_features, c.emb_size), nn.GELU(),
                                                  nn.Linear(c.emb_size, c.emb_size))
            self.smoother_skip = nn.Linear(c.smoother_features, c.emb_size)
            if c.smoother_stats:  # zero-initialised: a model grown from one without them starts unchanged
                self.smoother_stats_encoder = nn.Linear(2 * c.smoother_features, c.emb_size)
                nn.init.zeros_(self.smoother_stats_encoder.weight)
                nn.init.zeros_(self.smoother_stats_encoder.bias)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.num_layers))
        self.norm = nn.LayerNorm(c.emb_size)
        self.decoder = nn.Sequential(nn.Linear(c.emb_size, c.hidden_dim), nn.GELU(), nn.Linear(c.hidden_dim, c.num_buckets))

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def normalise(self, x: torch.Tensor, n_train: int) -> torch.Tensor:
        """Centre features by the training individuals' means, then scale per draw.

        ``global`` (default): one scale per draw, the training RMS over all features, so
        the relative variances of the features survive (for principal components they
        carry the relationship structure GBLUP uses); ``feature``: each feature to unit
        variance (the original PFN's normalisation); ``none``: as given.  In a short
        A/B on the ril prior (20 PCA features, 500 steps) ``global`` reached a bar NLL
        of 1.09 where ``feature`` was at 1.17.
        """
        mode = self.config.input_norm
        if mode == "none":
            return x
        x = x - x[:, :n_train].mean(1, keepdim=True)
        if mode == "feature":
            sd = x[:, :n_train].std(1, keepdim=True, unbiased=False) if n_train > 1 else torch.ones_like(x[:, :1])
        else:
            sd = x[:, :n_train].pow(2).mean((1, 2), keepdim=True).sqrt()
        return (x / (sd + 1e-6)).clamp(-100, 100)

    def relationships(self, xn: torch.Tensor, n_train: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``R = xn xn^T / F`` between training individuals, and from each target to the
        training individuals and itself (its other entries 0), computed in float32."""
        xn = xn.float()
        f = xn.shape[-1]
        xt, xe = xn[:, :n_train], xn[:, n_train:]
        r_train = xt @ xt.transpose(1, 2) / f
        n_t = xe.shape[1]
        r_self = torch.zeros((xn.shape[0], n_t, n_t), device=xn.device)
        r_self.diagonal(dim1=1, dim2=2).copy_(xe.pow(2).sum(-1) / f)
        return r_train, torch.cat([xe @ xt.transpose(1, 2) / f, r_self], dim=2)

    def kernel_means(self, rel: tuple[torch.Tensor, torch.Tensor], y_train: torch.Tensor) -> torch.Tensor:
        """``[B, n, m]``: for every individual, m softmax(b_j R)-weighted means of the other
        training individuals' phenotypes."""
        r_train, r_target = rel
        n_train = r_train.shape[1]
        r = torch.cat([r_train, r_target[:, :, :n_train]], dim=1)  # [B, n, n_train]
        loo = torch.eye(r.shape[1], n_train, dtype=torch.bool, device=r.device)  # self, for training rows
        b = self.kernel_log_scale.exp().float()
        # masked after the product: no inf * b in the backward pass
        w = torch.softmax((r.unsqueeze(1) * b.view(1, -1, 1, 1)).masked_fill(loo, float("-inf")), dim=-1)
        s = (w @ y_train.float().view(y_train.shape[0], 1, n_train, 1)).squeeze(-1)  # [B, m, n]
        return torch.nan_to_num(s.transpose(1, 2))  # one training individual: no others, 0

    @staticmethod
    def smoother_fit(sm_train: torch.Tensor, y_train: torch.Tensor) -> torch.Tensor:
        """``[B, 1, 2s]``: per smoother column, the mean squared error and the Pearson r of the
        training rows' (leave-one-out) values against their phenotypes."""
        s, y = sm_train.float(), y_train.float().unsqueeze(-1)
        mse = (s - y).pow(2).mean(1)
        sc, yc = s - s.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
        r = (sc * yc).sum(1) / (sc.pow(2).sum(1).sqrt() * yc.pow(2).sum(1).sqrt() + 1e-6)
        return torch.cat([mse.clamp(max=10.0), r], dim=-1).unsqueeze(1)

    def forward(self, x: torch.Tensor, y_train: torch.Tensor) -> torch.Tensor:
        c = self.config
        width = c.n_features + c.smoother_features
        if x.ndim != 3 or x.shape[-1] != width:
            raise ValidationError(f"x must be [batch, individuals, {width}], got {tuple(x.shape)}")
        n_train = y_train.shape[1]
        if not 0 < n_train <= x.shape[1]:
            raise ValidationError(f"need 1..{x.shape[1]} training individuals, got {n_train}")
        x, sm = x[..., : c.n_features], x[..., c.n_features :]
        xn = self.normalise(x, n_train)
        rel = self.relationships(xn, n_train) if c.relationship_bias or c.kernel_features else None
        h = self.x_encoder(xn)
        if c.kernel_features:
            h = h + self.kernel_encoder(self.kernel_means(rel, y_train).to(h.dtype))
        if c.smoother_features:
            sm = sm.clamp(-20, 20).to(h.dtype)
            h = h + self.smoother_encoder(sm)
            if c.smoother_stats:
                h = h + self.smoother_stats_encoder(self.smoother_fit(sm[:, :n_train], y_train).to(h.dtype))
        if not c.relationship_bias:
            rel = None
        h = torch.cat([h[:, :n_train] + self.y_encoder(y_train.unsqueeze(-1).to(h.dtype)), h[:, n_train:]], dim=1)
        for layer in self.layers:
            h = layer(h, n_train, rel)
        out = self.norm(h[:, n_train:])
        if c.smoother_features:
            out = out + self.smoother_skip(sm[:, n_train:])
        return self.decoder(out)


def grow_smoother_inputs(state: dict[str, torch.Tensor], old: int, new: int) -> dict[str, torch.Tensor]:
    """A PFN state dict with ``old`` smoother columns, for a model with ``new`` >= ``old``
    (the new columns appended after the old ones, as ``--init-from`` with more
    ``--smoothers`` gives): the weights reading the new columns, and their statistics,
    are zero, so the grown model computes exactly what the old one did until training
    moves them."""
    if new < old:
        raise ValidationError(f"cannot shrink the smoother inputs from {old} to {new} columns")
    out = dict(state)

    def pad(w: torch.Tensor, blocks: int) -> torch.Tensor:  # [E, blocks * old] -> [E, blocks * new]
        grown = w.new_zeros(w.shape[0], blocks * new)
        for b in range(blocks):
            grown[:, b * new : b * new + old] = w[:, b * old : (b + 1) * old]
        return grown

    for key, blocks in (("smoother_encoder.0.weight", 1), ("smoother_skip.weight", 1),
                        ("smoother_stats_encoder.weight", 2)):  # statistics: [mse of each column, r of each]
        if key in out:
            out[key] = pad(out[key], blocks)
    return out
