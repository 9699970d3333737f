"""GBLUP at a fixed grid of heritabilities as closed-form model inputs (the ``gblup`` and
``bma`` smoothers), their exact leave-one-out values, and the marginal likelihood that
averages them over h2.

Nothing here is estimated by a search: one decomposition of the training relationships
(:class:`~gpfn_core.linear.kinship.Kinship`) serves every h2 of :data:`H2_GRID`.
"""

from __future__ import annotations

import numpy as np

from gpfn_core.errors import ValidationError
from gpfn_core.linear.kinship import Kinship

H2_GRID = (0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.75, 0.9)


def smoother_features(x_train: np.ndarray, y: np.ndarray, x_target: np.ndarray,
                      h2_grid: tuple[float, ...] = H2_GRID,
                      kinship: Kinship | None = None, coordinates: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """GBLUP at a fixed grid of heritabilities, as model inputs: ``[n_train, 2G]``, ``[n_target, 2G]``.

    ``x_*`` are encoded dosages of *all* markers (centred by the training means, see
    :class:`~gpfn_core.data.encoding.Encoding`), ``y`` the standardised training phenotypes.
    For each ``h2`` (delta = (1 - h2) / h2, K = x x^T scaled to mean diagonal one) the
    first G columns are the BLUP of g and the last G its posterior sd, both on the
    standardised phenotype scale (sg2 = h2).  Training rows get the exact leave-one-out
    values (each individual predicted from all the others, by the closed form of a
    Gaussian process: mean y_i - a_i / C_ii, variance 1 / C_ii - delta, with
    a = (K + delta I)^-1 y and C = (K + delta I)^-1), so they are distributed as the
    targets' are.  One decomposition (:class:`Kinship`, or ``kinship`` when the caller
    has it already) serves every h2; nothing is estimated from the data, so the model,
    not a REML search, decides how to weigh the grid.  ``coordinates``: the targets'
    :meth:`Kinship.coordinates` when the caller has them already.  Several phenotypes of
    the same individuals: :class:`GblupGrid` once, then its ``features`` per phenotype.
    """
    return GblupGrid(x_train, x_target, h2_grid, kinship, coordinates).features(y)


class GblupGrid:
    """:func:`smoother_features` of one training and target population, its parts that do not
    depend on the phenotypes made once: the diagonal of (K + delta I)^-1 at each h2 and the
    targets' posterior variances.  ``features(y)`` is then two products with the
    decomposition per phenotype (several traits, a QTL anchor's residual);
    :meth:`for_targets` gives the grid of other targets of the same training population,
    its training-side parts shared."""

    def __init__(self, x_train: np.ndarray, x_target: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID,
                 kinship: Kinship | None = None, coordinates: np.ndarray | None = None) -> None:
        xt = np.asarray(x_train, dtype=np.float32)
        kin = Kinship.of(xt) if kinship is None else kinship
        if kin.u.shape[0] != len(xt):
            raise ValidationError(f"kinship of {kin.u.shape[0]} individuals given for {len(xt)} training rows")
        u = kin.u
        lam = kin.lam / kin.scale
        self.u, self.scale = u, kin.scale
        self.h2 = np.asarray(h2_grid, dtype=np.float64)
        delta = (1.0 - self.h2) / self.h2
        self.inv = 1.0 / (lam[None, :] + delta[:, None])  # [G, r]
        self.rest = 1.0 / delta[:, None]  # (K + delta I)^-1 outside the span of u
        u2 = u * u
        self.c_ii = self.inv @ u2.T + self.rest * (1.0 - u2.sum(1))[None, :]  # diagonal of (K + delta I)^-1
        del u2
        self._targets(kin, xt, x_target, coordinates)

    def _targets(self, kin: Kinship, xt: np.ndarray, x_target: np.ndarray, coordinates: np.ndarray | None) -> None:
        xv = np.asarray(x_target, dtype=np.float32)
        self.kvu = (kin.coordinates(xt, xv) if coordinates is None else coordinates) / self.scale  # K_target,train u
        k_vv = np.einsum("ij,ij->i", xv, xv).astype(np.float64) / self.scale
        t_var = np.maximum(k_vv[None, :] - self.inv @ (self.kvu * self.kvu).T, 0.0)
        self.t_sd = np.sqrt(self.h2[:, None] * t_var)  # [G, nv]

    def for_targets(self, kin: Kinship, x_train: np.ndarray, x_target: np.ndarray,
                    coordinates: np.ndarray | None = None) -> GblupGrid:
        """The grid of other targets ``x_target`` against the same training individuals."""
        import copy

        other = copy.copy(self)  # the training-side arrays shared, not copied
        other._targets(kin, np.asarray(x_train, dtype=np.float32), x_target, coordinates)
        return other

    def features(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`smoother_features`' ``[n_train, 2G]`` and ``[n_target, 2G]`` columns for ``y``."""
        y = np.asarray(y, dtype=np.float64)
        u, inv = self.u, self.inv
        uy = u.T @ y
        y_out = y - u @ uy  # component of y outside the span of u (0 when u is complete)
        alpha = (inv * uy) @ u.T + self.rest * y_out[None, :]  # (K + delta I)^-1 y, [G, nt]
        t_mean = (inv * uy) @ self.kvu.T  # [G, nv]
        f_target = np.concatenate([t_mean, self.t_sd]).T
        return _loo_columns(y, alpha, self.c_ii, self.h2), f_target.astype(np.float32)


def _loo_columns(y: np.ndarray, alpha: np.ndarray, c_ii: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """float32 ``[n, 2G]``: leave-one-out means and sds at each h2 from ``alpha`` = (K + delta I)^-1 y
    and the diagonal ``c_ii`` of (K + delta I)^-1 (both ``[G, n]``), for ``y`` ``[n]``: mean
    y_i - alpha_i / c_ii, variance 1 / c_ii - delta, sd on the scale sg2 = h2."""
    delta = (1.0 - h2) / h2
    loo_mean = y[None, :] - alpha / c_ii
    loo_var = np.maximum(1.0 / c_ii - delta[:, None], 0.0)
    return np.concatenate([loo_mean, np.sqrt(h2[:, None] * loo_var)]).T.astype(np.float32)


def marginal_loglik(kin: Kinship, z: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID) -> np.ndarray:
    """``[G]``: profile log-likelihood of the standardised phenotypes ``z`` at each h2 of the
    grid, z ~ N(0, s2 (h2 K + (1 - h2) I)) with K at mean diagonal one and s2 at its
    maximum.  Closed form from the training relationships' decomposition (O(n G))."""
    z = np.asarray(z, dtype=np.float64)
    lam = kin.lam / kin.scale
    uy = kin.u.T @ z
    y_out, n_out, n = float(z @ z - uy @ uy), len(z) - len(lam), len(z)
    out = []
    for h in np.asarray(h2_grid, dtype=np.float64):
        ev = h * lam + (1 - h)
        q = (uy**2 / ev).sum() + max(y_out, 0.0) / (1 - h)
        out.append(-0.5 * n * np.log(q / n) - 0.5 * (np.log(ev).sum() + n_out * np.log(1 - h)))
    return np.array(out)


def posterior_weights(loglik: np.ndarray) -> np.ndarray:
    """Normalised weights from log-likelihoods (a uniform prior over the candidates, e.g. the h2 grid)."""
    p = np.exp(loglik - loglik.max())
    return p / p.sum()


def h2_weights(kin: Kinship, z: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID) -> np.ndarray:
    """``[G]`` posterior weights of the h2 grid given the standardised phenotypes ``z``
    (uniform prior over the grid, :func:`marginal_loglik`)."""
    return posterior_weights(marginal_loglik(kin, z, h2_grid)).astype(np.float64)


def bma_mean(gblup_target: np.ndarray, kin: Kinship, z: np.ndarray,
             h2_grid: tuple[float, ...] = H2_GRID) -> np.ndarray:
    """float64 ``[n_target]``: GBLUP averaged over the h2 grid by marginal likelihood (the
    first column of :func:`bma_features`; ``gblup_target`` are :func:`smoother_features`'
    target columns).  Closed form, no search: the anchor :mod:`gpfn_core.net.stacking`
    blends the network's prediction with."""
    return gblup_target[:, : len(h2_grid)].astype(np.float64) @ h2_weights(kin, z, h2_grid)


BMA_WIDTH = 2 + len(H2_GRID)  # columns of the `bma` smoother


def bma_features(gblup_train: np.ndarray, gblup_target: np.ndarray, kin: Kinship, y: np.ndarray,
                 h2_grid: tuple[float, ...] = H2_GRID) -> tuple[np.ndarray, np.ndarray]:
    """GBLUP averaged over the h2 grid by marginal likelihood, as model inputs:
    ``[n_train, 2 + G]``, ``[n_target, 2 + G]``.

    ``gblup_*`` are :func:`smoother_features`' columns (G means, G sds).  Column 0 is the
    Bayesian model average of the G means (posterior weights from
    :func:`marginal_loglik`), column 1 its sd (the mixture's), and the last G columns the
    posterior weights themselves, the same on every row: the evidence about h2 that a
    choice by leave-one-out fit does not give.  Leave-one-out fit misleads where the
    targets relate to the training individuals unlike the training individuals to one
    another (a selected generation predicting its offspring): there the leave-one-out
    choice among the grid loses 0.011 to REML and this average gains 0.002
    (``bench_ceiling``).  The training rows keep their leave-one-out means; the weights
    use every training phenotype (one scalar per h2, as REML's estimate would).
    """
    g = len(h2_grid)
    w = h2_weights(kin, y, h2_grid)

    def average(f: np.ndarray) -> np.ndarray:
        m, s = f[:, :g].astype(np.float64), f[:, g : 2 * g].astype(np.float64)
        mean = m @ w
        sd = np.sqrt(np.maximum((s * s + m * m) @ w - mean * mean, 0.0))
        return np.column_stack([mean, sd, np.broadcast_to(w, (len(f), g))]).astype(np.float32)

    return average(gblup_train), average(gblup_target)
