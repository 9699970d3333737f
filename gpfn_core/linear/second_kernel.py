"""GBLUP with a second kernel beside the genomic relationships, averaged over its share.

z ~ N(0, s2 (h2 ((1 - f) K + f K2) + (1 - h2) I)): a share f of the genetic variance has
the covariance K2 instead of K.  The family anchor's K2 is the within-family kernel
(:mod:`~gpfn_core.linear.family`), the dominance anchor's the relationships of
heterozygosity (:mod:`~gpfn_core.linear.dominance`).  Per share f one eigendecomposition
of A_f = (1 - f) K + f K2 serves every h2 of the grid (V(h2) = h2 A_f + (1 - h2) I has
A_f's eigenvectors); the prediction is averaged over (h2, f), f = 0 being GBLUP, by
marginal likelihood.
"""

from __future__ import annotations

import numpy as np

from gpfn_core.linear.kinship import Kinship
from gpfn_core.linear.smoothers import H2_GRID, marginal_loglik, posterior_weights


class SecondKernel:
    """The genomic relationships of one training and target population (from their one
    decomposition) and a second kernel ``kernels`` = (training ``[nt, nt]``, target x
    training ``[nv, nt]``), or None where it carries nothing; per share f the
    eigendecomposition of (1 - f) K + f K2, made once when first asked for."""

    kernels: tuple[np.ndarray, np.ndarray] | None

    def __init__(self, kin: Kinship, coordinates: np.ndarray) -> None:
        scale = kin.scale
        self.k_tt = (kin.u * (kin.lam / scale)) @ kin.u.T
        self.k_vt = (np.asarray(coordinates, np.float64) / scale) @ kin.u.T
        self.kernels = None
        self._eig: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def share(self, f: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lam, q, bq)``: eigenvalues and eigenvectors of A_f = (1 - f) K + f K2 over the
        training individuals, and the targets' ((1 - f) K_vt + f K2_vt) q."""
        if f not in self._eig:
            from gpfn_core.linear.kinship import symmetric_eigh

            k2_tt, k2_vt = self.kernels
            lam, q = symmetric_eigh((1 - f) * self.k_tt + f * k2_tt)
            self._eig[f] = (np.maximum(lam, 0.0), q, ((1 - f) * self.k_vt + f * k2_vt) @ q)
        return self._eig[f]


def second_kernel_gblup(kin: Kinship, z: np.ndarray, gblup_target: np.ndarray, model: SecondKernel,
                        shares: tuple[float, ...], h2_grid: tuple[float, ...] = H2_GRID) -> np.ndarray:
    """float64 ``[n_target]``: GBLUP with ``model``'s second kernel, averaged over the grid of
    (h2, share f) by marginal likelihood.  f = 0 is GBLUP at the grid (``gblup_target``:
    :func:`~gpfn_core.linear.smoothers.smoother_features`' target columns, and
    :func:`~gpfn_core.linear.smoothers.marginal_loglik`); each f > 0 costs one
    eigendecomposition (:meth:`SecondKernel.share`), which serves every h2.  Without a
    second kernel this is the h2-averaged GBLUP."""
    z = np.asarray(z, dtype=np.float64)
    g = len(h2_grid)
    loglik = [marginal_loglik(kin, z, h2_grid)]
    preds = [gblup_target[:, :g].astype(np.float64)]
    if model.kernels is not None:
        n = len(z)
        h = np.asarray(h2_grid, np.float64)
        for f in shares:
            lam, q, bq = model.share(f)
            d = h[None, :] * lam[:, None] + (1 - h)[None, :]  # [n, G]: eigenvalues of V(h2)
            qz = q.T @ z
            quad = np.maximum((qz[:, None] ** 2 / d).sum(0), 1e-300)  # z' V^-1 z at each h2
            loglik.append(-0.5 * n * np.log(quad / n) - 0.5 * np.log(d).sum(0))
            preds.append(h[None, :] * (bq @ (qz[:, None] / d)))  # h2 ((1 - f) K_vt + f K2_vt) V^-1 z
    w = posterior_weights(np.concatenate(loglik))
    return np.concatenate(preds, axis=1) @ w
