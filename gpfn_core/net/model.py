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

    def _qkv(self, h: torch.Tensor) -> torch.Tensor:
        b, n, e = h.shape  # -> [3, B, heads, n, head width]
        return self.qkv(self.norm1(h)).view(b, n, 3, self.heads, e // self.heads).permute(2, 0, 3, 1, 4)

    def _update(self, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        b, n, e = h.shape
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(b, n, e)))
        return h + self.drop(self.mlp(self.norm2(h)))

    def keys_values(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The training tokens' keys and values (all the targets read from this layer)."""
        _, k, v = self._qkv(h)
        return k, v

    def train_tokens(self, h: torch.Tensor, r_train: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Training tokens attend to each other (``r_train`` [B, n_train, n_train]: their
        relationships, or None): their next state, and this layer's keys and values."""
        q, k, v = self._qkv(h)
        bias = None if r_train is None else r_train.unsqueeze(1).to(q.dtype) * self.rel_scale.view(1, -1, 1, 1).to(q.dtype)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=self.p if self.training else 0.0)
        return self._update(h, a), k, v

    def target_tokens(self, h: torch.Tensor, k_train: torch.Tensor, v_train: torch.Tensor,
                      rel: torch.Tensor | None = None) -> torch.Tensor:
        """Target tokens attend to the training tokens' keys and values and to their own key,
        never to each other (``rel`` [B, n_t, n_train + 1]: their relationships to the
        training individuals, then to themselves; or None).  The softmax runs over the
        training keys and the one own key, so no [n_t, n_t] mask is built and a chunk of
        targets costs O(n_t x n_train)."""
        q, k, v = self._qkv(h)
        s = torch.cat([q @ k_train.transpose(-1, -2), (q * k).sum(-1, keepdim=True)], -1) * q.shape[-1] ** -0.5
        if rel is not None:  # [B, heads, n_t, n_train + 1]
            s = s + rel.unsqueeze(1).to(q.dtype) * self.rel_scale.view(1, -1, 1, 1).to(q.dtype)
        w = torch.softmax(s, -1)
        if self.training and self.p:
            w = F.dropout(w, self.p)
        n_train = k_train.shape[2]
        return self._update(h, w[..., :n_train] @ v_train + w[..., n_train:] * v)


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
        return self._scaled(x, self._scale_of(x[:, :n_train]))

    def _scale_of(self, x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The training rows' means and scale (:meth:`normalise`), or None for ``none``."""
        mode = self.config.input_norm
        if mode == "none":
            return None
        mean = x_train.mean(1, keepdim=True)
        xc = x_train - mean
        if mode == "feature":
            sd = xc.std(1, keepdim=True, unbiased=False) if x_train.shape[1] > 1 else torch.ones_like(x_train[:, :1])
        else:
            sd = xc.pow(2).mean((1, 2), keepdim=True).sqrt()
        return mean, sd

    @staticmethod
    def _scaled(x: torch.Tensor, scale: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        if scale is None:
            return x
        return ((x - scale[0]) / (scale[1] + 1e-6)).clamp(-100, 100)

    def relationships(self, xn: torch.Tensor, n_train: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``R = xn xn^T / F`` in float32: between training individuals [B, n_train, n_train],
        from each target to them [B, n_t, n_train], and of each target with itself [B, n_t]."""
        xt, xe = xn[:, :n_train], xn[:, n_train:]
        return self._relationship(xt, xt), self._relationship(xe, xt), self._self_relationship(xe)

    @staticmethod
    def _relationship(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``a b^T / F`` [B, rows of a, rows of b] in float32."""
        return a.float() @ b.float().transpose(1, 2) / a.shape[-1]

    @staticmethod
    def _self_relationship(a: torch.Tensor) -> torch.Tensor:
        """The diagonal of ``a a^T / F`` [B, rows] in float32."""
        return a.float().pow(2).sum(-1) / a.shape[-1]

    def kernel_means(self, rel: tuple[torch.Tensor, ...], y_train: torch.Tensor) -> torch.Tensor:
        """``[B, n, m]``: for every individual (training, then targets), m softmax(b_j R)-weighted
        means of the other training individuals' phenotypes (:meth:`relationships`' ``rel``)."""
        return torch.cat([self._kernel_means(rel[0], y_train, True), self._kernel_means(rel[1], y_train, False)], 1)

    def _kernel_means(self, r: torch.Tensor, y_train: torch.Tensor, leave_one_out: bool) -> torch.Tensor:
        """``r`` [B, rows, n_train]; ``leave_one_out``: the rows are the training individuals,
        each left out of its own mean."""
        n_train = r.shape[2]
        b = self.kernel_log_scale.exp().float()
        logits = r.unsqueeze(1) * b.view(1, -1, 1, 1)
        if leave_one_out:  # masked after the product: no inf * b in the backward pass
            logits = logits.masked_fill(torch.eye(n_train, dtype=torch.bool, device=r.device), float("-inf"))
        w = torch.softmax(logits, dim=-1)
        s = (w @ y_train.float().view(y_train.shape[0], 1, n_train, 1)).squeeze(-1)  # [B, m, rows]
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
        """``x`` [B, n, F] (training individuals first), ``y_train`` [B, n_train]: logits of
        the targets; :meth:`context` then :meth:`targets`, as inference runs them."""
        c = self.config
        width = c.n_features + c.smoother_features
        if x.ndim != 3 or x.shape[-1] != width:
            raise ValidationError(f"x must be [batch, individuals, {width}], got {tuple(x.shape)}")
        n_train = y_train.shape[1]
        if not 0 < n_train <= x.shape[1]:
            raise ValidationError(f"need 1..{x.shape[1]} training individuals, got {n_train}")
        return self.targets(self.context(x[:, :n_train], y_train), x[:, n_train:])

    def context(self, x_train: torch.Tensor, y_train: torch.Tensor) -> dict:
        """Everything targets read from the training set: its feature scale, normalised
        features, phenotypes, smoother statistics and each layer's keys and values.
        Training tokens never attend to targets, so this is computed once and any number
        of target chunks are predicted from it (:meth:`targets`)."""
        c = self.config
        x, sm = x_train[..., : c.n_features], x_train[..., c.n_features :]
        scale = self._scale_of(x)
        xn = self._scaled(x, scale)
        r_train = self._relationship(xn, xn) if c.relationship_bias or c.kernel_features else None
        h = self.x_encoder(xn)
        if c.kernel_features:
            h = h + self.kernel_encoder(self._kernel_means(r_train, y_train, True).to(h.dtype))
        fit = None
        if c.smoother_features:
            sm = sm.clamp(-20, 20).to(h.dtype)
            h = h + self.smoother_encoder(sm)
            if c.smoother_stats:
                fit = self.smoother_stats_encoder(self.smoother_fit(sm, y_train).to(h.dtype))
                h = h + fit
        h = h + self.y_encoder(y_train.unsqueeze(-1).to(h.dtype))
        kv = []
        for i, layer in enumerate(self.layers):
            if i == len(self.layers) - 1:  # the last layer's training outputs are never read
                kv.append(layer.keys_values(h))
            else:
                h, k, v = layer.train_tokens(h, r_train if c.relationship_bias else None)
                kv.append((k, v))
        return {"scale": scale, "xn": xn, "y": y_train, "fit": fit, "kv": kv}

    def targets(self, context: dict, x_target: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_t, num_buckets] of targets ``x_target`` [B, n_t, F] given the training
        set's :meth:`context`; each target's depend on it and the context alone."""
        c = self.config
        x, sm = x_target[..., : c.n_features], x_target[..., c.n_features :]
        xn = self._scaled(x, context["scale"])
        r_cross = self._relationship(xn, context["xn"]) if c.relationship_bias or c.kernel_features else None
        h = self.x_encoder(xn)
        if c.kernel_features:
            h = h + self.kernel_encoder(self._kernel_means(r_cross, context["y"], False).to(h.dtype))
        if c.smoother_features:
            sm = sm.clamp(-20, 20).to(h.dtype)
            h = h + self.smoother_encoder(sm)
            if context["fit"] is not None:
                h = h + context["fit"]
        rel = torch.cat([r_cross, self._self_relationship(xn).unsqueeze(-1)], -1) if c.relationship_bias else None
        for layer, (k, v) in zip(self.layers, context["kv"]):
            h = layer.target_tokens(h, k, v, rel)
        out = self.norm(h)
        if c.smoother_features:
            out = out + self.smoother_skip(sm)
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
