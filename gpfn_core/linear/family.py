"""Family GBLUP: a second, within-family kernel beside the genomic relationships.

Genetic variance that is each family's own (a locus whose effect differs between the
crosses it segregates in) makes relatives within a family alike but does not carry to
a family never phenotyped.  Families are found from the genomic relationships.
"""

from __future__ import annotations

import numpy as np

from gpfn_core.linear.kinship import Kinship
from gpfn_core.linear.smoothers import H2_GRID, marginal_loglik, posterior_weights

FAMILY_SHARES = (0.2, 0.4, 0.6)  # the within-family kernel's share of the genetic variance, beside 0 (GBLUP)
FAMILY_CUT = 0.85  # average-linkage height (1 - genomic correlation) at which clusters are families


def family_labels(k_tt: np.ndarray, cut: float = FAMILY_CUT) -> np.ndarray:
    """int ``[n]`` cluster labels (0..C-1) of individuals from their relationships ``k_tt``:
    average linkage on 1 - the genomic correlation, cut at ``cut``.  In a NAM population
    the clusters are its families (full-sib lines correlate about 0.4-0.5, lines of two
    crosses sharing the common parent about 0.15-0.2); where there are no families the
    clusters are small and the family kernel made from them earns no likelihood."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(k_tt)
    if n < 2:
        return np.zeros(n, np.int64)
    d = np.sqrt(np.maximum(np.diag(k_tt), 1e-12))
    dist = 1.0 - np.asarray(k_tt, np.float64) / d[:, None] / d[None, :]
    dist = np.maximum((dist + dist.T) / 2, 0.0)
    np.fill_diagonal(dist, 0.0)
    lab = fcluster(linkage(squareform(dist, checks=False), "average"), t=cut, criterion="distance")
    return np.unique(lab, return_inverse=True)[1].astype(np.int64)


def family_kernels(k_tt: np.ndarray, k_vt: np.ndarray, k_vv: np.ndarray, cut: float = FAMILY_CUT
                   ) -> tuple[np.ndarray, np.ndarray] | None:
    """The within-family relationships of training ``[nt, nt]`` and target x training
    ``[nv, nt]`` individuals: relationships on dosages centred within each family
    (:func:`family_labels` of the training individuals; a target joins the family it
    correlates with most on average if that clears ``cut`` as a linkage would, else it
    is of a family never phenotyped and relates to no training individual here), zero
    between families, scaled to a mean training diagonal of one.  Double-centring ``k``
    within each family block gives them without touching the markers.  ``k_vv``: the
    targets' own relationships (diagonal).  None when every family is a single individual."""
    lab = family_labels(k_tt, cut)
    c = int(lab.max()) + 1
    if c == len(lab):
        return None
    ind = np.zeros((len(lab), c))
    ind[np.arange(len(lab)), lab] = 1.0
    cnt = ind.sum(0)
    a_t = (k_tt @ ind) / cnt  # [nt, C]: mean relationship to each family
    own = a_t[np.arange(len(lab)), lab]  # to one's own family
    b = (ind.T @ own) / cnt  # [C]: mean relationship within each family
    same = lab[:, None] == lab[None, :]
    kf_tt = np.where(same, k_tt - own[:, None] - own[None, :] + b[lab][None, :], 0.0)
    scale = float(np.mean(np.diag(kf_tt)))
    if not scale > 1e-9:
        return None
    a_v = (k_vt @ ind) / cnt  # [nv, C]
    d_t = np.sqrt(np.maximum(np.diag(k_tt), 1e-12))
    d_v = np.sqrt(np.maximum(np.asarray(k_vv, np.float64), 1e-12))
    corr = ((k_vt / d_t[None, :]) @ ind) / cnt / d_v[:, None]  # [nv, C]: mean genomic correlation with each family
    best = np.argmax(corr, axis=1)
    joined = 1.0 - corr[np.arange(len(best)), best] <= cut
    kf_vt = np.where((lab[None, :] == best[:, None]) & joined[:, None],
                     k_vt - a_v[np.arange(len(best)), best][:, None] - own[None, :] + b[best][:, None], 0.0)
    return kf_tt / scale, kf_vt / scale


class FamilyModel:
    """The family kernels of one training and target population, and per family share f the
    eigendecomposition of (1 - f) K + f K_fam: one decomposition per share serves every h2
    of the grid (V(h2) = h2 A_f + (1 - h2) I has A_f's eigenvectors), and both anchors that
    use family GBLUP (``gblup_family``, and ``gblup_qtl`` on what its marker effects leave)
    share them.  ``kernels`` is None where every family is a single individual."""

    def __init__(self, kin: Kinship, coordinates: np.ndarray, x_target: np.ndarray) -> None:
        scale = kin.scale
        self.k_tt = (kin.u * (kin.lam / scale)) @ kin.u.T
        self.k_vt = (np.asarray(coordinates, np.float64) / scale) @ kin.u.T
        xv = np.asarray(x_target, dtype=np.float32)
        k_vv = np.einsum("ij,ij->i", xv, xv).astype(np.float64) / scale
        self.kernels = family_kernels(self.k_tt, self.k_vt, k_vv)
        self._eig: dict[float, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def share(self, f: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(lam, q, bq)``: eigenvalues and eigenvectors of A_f = (1 - f) K + f K_fam over the
        training individuals, and the targets' ((1 - f) K_vt + f K_fam,vt) q."""
        if f not in self._eig:
            from gpfn_core.linear.kinship import symmetric_eigh

            kf_tt, kf_vt = self.kernels
            lam, q = symmetric_eigh((1 - f) * self.k_tt + f * kf_tt)
            self._eig[f] = (np.maximum(lam, 0.0), q, ((1 - f) * self.k_vt + f * kf_vt) @ q)
        return self._eig[f]


def family_gblup(kin: Kinship, coordinates: np.ndarray, x_target: np.ndarray, z: np.ndarray,
                 gblup_target: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID,
                 shares: tuple[float, ...] = FAMILY_SHARES, family: FamilyModel | None = None) -> np.ndarray:
    """float64 ``[n_target]``: GBLUP with a second, within-family kernel, averaged over a
    grid of (h2, family share) by marginal likelihood (a stacking anchor).

    z ~ N(0, s2 (h2 ((1 - f) K + f K_fam) + (1 - h2) I)): a share f of the genetic
    variance is each family's own (:func:`family_kernels`), as where a locus's effect
    differs between the crosses it segregates in (the prior's ``family_share``).  Such
    variance makes relatives within a family alike but does not carry to a family never
    phenotyped, so GBLUP, which has one kernel, overstates how far within-family
    differences predict other families.  f = 0 is GBLUP at the grid (``gblup_target``:
    :func:`smoother_features`' target columns, and :func:`marginal_loglik`); each f > 0
    costs one eigendecomposition (:class:`FamilyModel`, shared with the QTL anchor), which
    serves every h2.  Nothing is estimated but the closed-form likelihood weights of a
    fixed grid.  ``family``: the :class:`FamilyModel` when the caller has it."""
    z = np.asarray(z, dtype=np.float64)
    g = len(h2_grid)
    loglik = [marginal_loglik(kin, z, h2_grid)]
    preds = [gblup_target[:, :g].astype(np.float64)]
    family = FamilyModel(kin, coordinates, x_target) if family is None else family
    if family.kernels is not None:
        n = len(z)
        h = np.asarray(h2_grid, np.float64)
        for f in shares:
            lam, q, bq = family.share(f)
            d = h[None, :] * lam[:, None] + (1 - h)[None, :]  # [n, G]: eigenvalues of V(h2)
            qz = q.T @ z
            quad = np.maximum((qz[:, None] ** 2 / d).sum(0), 1e-300)  # z' V^-1 z at each h2
            loglik.append(-0.5 * n * np.log(quad / n) - 0.5 * np.log(d).sum(0))
            preds.append(h[None, :] * (bq @ (qz[:, None] / d)))  # h2 ((1 - f) K_vt + f K_fam,vt) V^-1 z
    w = posterior_weights(np.concatenate(loglik))
    return np.concatenate(preds, axis=1) @ w
