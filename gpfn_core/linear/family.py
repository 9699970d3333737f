"""Family GBLUP: a second, within-family kernel beside the genomic relationships.

Genetic variance that is each family's own (a locus whose effect differs between the
crosses it segregates in) makes relatives within a family alike but does not carry to
a family never phenotyped.  Families are found from the genomic relationships.
"""

from __future__ import annotations

import numpy as np

from gpfn_core.linear.kinship import Kinship, distance_scale, squared_distances
from gpfn_core.linear.smoothers import H2_GRID, marginal_loglik, posterior_weights

FAMILY_SHARES = (0.2, 0.4, 0.6)  # the within-family kernel's share of the genetic variance, beside 0 (GBLUP)
FAMILY_CUT = 0.85  # average-linkage height (1 - genomic correlation) at which clusters are families
# Gaussian kernels exp(-d^2 / (theta median d^2)) that compete with the linear and family kernels in family GBLUP's
# model average (bandwidths theta; linear.baselines.rkhs's middle three), on training sets of up to
# GAUSSIAN_MAX_N individuals (each costs one n x n reduction: 3 x ~75 s at 16,000)
FAMILY_BANDWIDTHS = (0.5, 1.0, 2.0)
GAUSSIAN_MAX_N = 8000


def family_labels(k_tt: np.ndarray, cut: float = FAMILY_CUT) -> np.ndarray:
    """int ``[n]`` cluster labels (0..C-1) of individuals from their relationships ``k_tt``:
    average linkage on 1 - the genomic correlation, cut at ``cut``.  In a NAM population
    the clusters are its families (full-sib lines correlate about 0.4-0.5, lines of two
    crosses sharing the common parent about 0.15-0.2); where there are no families the
    clusters are small and the family kernel made from them earns no likelihood.  ``k_tt``
    is symmetric: its upper triangle is read."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    n = len(k_tt)
    if n < 2:
        return np.zeros(n, np.int64)
    d = np.sqrt(np.maximum(np.diag(k_tt), 1e-12))
    dist = np.array(k_tt, dtype=np.float64)  # one n x n copy, worked in place
    dist /= d[:, None]
    dist /= d[None, :]
    np.subtract(1.0, dist, out=dist)
    np.maximum(dist, 0.0, out=dist)
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
    fam = Families.of(k_tt, cut)
    return None if fam is None else (fam.kf_tt, fam.rows(k_vt, k_vv))


class Families:
    """The training individuals' families (:func:`family_labels`) and their within-family
    relationships ``kf_tt``; :meth:`rows` gives any targets' within-family relationships to
    them, so targets can come in chunks against one training population."""

    def __init__(self, lab, cnt, own, b, d_t, kf_tt, scale, cut):
        self.lab, self.cnt, self.own, self.b, self.d_t = lab, cnt, own, b, d_t
        self.kf_tt, self.scale, self.cut = kf_tt, scale, cut
        self.order = np.argsort(lab, kind="stable")  # the training individuals family by family
        self.starts = np.concatenate([[0], np.cumsum(cnt[:-1])]).astype(np.int64)  # each family's first in order

    @classmethod
    def of(cls, k_tt: np.ndarray, cut: float = FAMILY_CUT) -> Families | None:
        """None when every family is a single individual (or the kernel vanishes)."""
        from scipy.sparse import csr_matrix

        lab = family_labels(k_tt, cut)
        n, c = len(lab), int(lab.max()) + 1
        if c == n:
            return None
        ind = csr_matrix((np.ones(n), (np.arange(n), lab)), shape=(n, c))  # membership, n nonzeros
        cnt = np.bincount(lab, minlength=c).astype(np.float64)
        a_t = np.asarray(ind.T @ k_tt).T / cnt  # [nt, C]: mean relationship to each family (k_tt symmetric)
        own = a_t[np.arange(n), lab]  # to one's own family
        b = np.bincount(lab, weights=own, minlength=c) / cnt  # [C]: mean relationship within each family
        # only the pairs within a family are non-zero: their positions, family by family
        reps = cnt.astype(np.int64)[lab]  # each individual's family size
        rows = np.repeat(np.arange(n), reps)
        offset = np.arange(rows.size) - np.repeat(np.cumsum(reps) - reps, reps)
        first = np.concatenate([[0], np.cumsum(cnt[:-1])]).astype(np.int64)
        cols = np.argsort(lab, kind="stable")[np.repeat(first[lab], reps) + offset]
        kf_tt = np.zeros((n, n))
        kf_tt[rows, cols] = k_tt[rows, cols] - own[rows] - own[cols] + b[lab[rows]]
        scale = float(np.mean(np.diag(kf_tt)))
        if not scale > 1e-9:
            return None
        d_t = np.sqrt(np.maximum(np.diag(k_tt), 1e-12))
        return cls(lab, cnt, own, b, d_t, kf_tt / scale, scale, cut)

    def rows(self, k_vt: np.ndarray, k_vv: np.ndarray) -> np.ndarray:
        """float64 ``[nv, nt]``: the within-family relationships of targets (their relationships
        ``k_vt`` to the training individuals and their own ``k_vv``) to the training individuals."""
        lab, cnt, order, starts = self.lab, self.cnt, self.order, self.starts
        k_vt = np.asarray(k_vt, np.float64)
        by_family = k_vt[:, order]
        a_v = np.add.reduceat(by_family, starts, axis=1) / cnt  # [nv, C]: mean relationship to each family
        by_family /= self.d_t[order][None, :]
        d_v = np.sqrt(np.maximum(np.asarray(k_vv, np.float64), 1e-12))
        corr = np.add.reduceat(by_family, starts, axis=1) / cnt / d_v[:, None]  # [nv, C]: mean genomic correlation
        del by_family
        best = np.argmax(corr, axis=1)
        joined = 1.0 - corr[np.arange(len(best)), best] <= self.cut
        kf_vt = k_vt - self.own[None, :]
        kf_vt += (self.b[best] - a_v[np.arange(len(best)), best])[:, None]
        kf_vt[(lab[None, :] != best[:, None]) | ~joined[:, None]] = 0.0
        kf_vt /= self.scale
        return kf_vt


class FamilyModel:
    """The family kernels of one training and target population, and per family share f the
    Householder tridiagonal form of A_f = (1 - f) K + f K_fam (:class:`Tridiagonal`): one
    reduction per share serves every h2 of the grid (V(h2) = h2 A_f + (1 - h2) I is
    Q (h2 T + (1 - h2) I) Q^T), and both anchors that use family GBLUP (``gblup_family``,
    and ``gblup_qtl`` on what its marker effects leave) share them.  ``kernels`` is None
    where every family is a single individual.  :meth:`for_targets` gives the model of
    other targets of the same training population, sharing every training-side part (the
    families and the reductions): targets in chunks cost no n^3 work after the first."""

    def __init__(self, kin: Kinship, coordinates: np.ndarray, x_target: np.ndarray,
                 cross: np.ndarray | None = None, _training: tuple | None = None) -> None:
        scale = kin.scale
        if _training is None:
            k_tt = kin.relationships()
            _training = (k_tt, Families.of(k_tt), {})  # the reductions, per share, made when first asked for
        self._training = _training
        self.k_tt, families, _ = _training
        # the targets' relationships to the training individuals: x_v x_t^T (``cross``) when the caller
        # formed it, else recomposed from the coordinates (n_v n^2 flops)
        self.k_vt = (np.asarray(cross, np.float64) / scale if cross is not None
                     else (np.asarray(coordinates, np.float64) / scale) @ kin.u.T)
        xv = np.asarray(x_target, dtype=np.float32)
        self.k_vv = np.einsum("ij,ij->i", xv, xv).astype(np.float64) / scale
        self.kernels = None if families is None else (families.kf_tt, families.rows(self.k_vt, self.k_vv))
        self._target_distances: np.ndarray | None = None  # float64 [n_v, n], made when a Gaussian kernel first asks

    def for_targets(self, kin: Kinship, coordinates: np.ndarray, x_target: np.ndarray,
                    cross: np.ndarray | None = None) -> FamilyModel:
        """The model of other targets (``kin`` the same training individuals' kinship)."""
        return FamilyModel(kin, coordinates, x_target, cross, _training=self._training)

    def share(self, f: float) -> Tridiagonal:
        """:class:`Tridiagonal` of A_f = (1 - f) K + f K_fam over the training individuals (made
        once per share, whatever the targets)."""
        reduced = self._training[2]
        if f not in reduced:
            reduced[f] = Tridiagonal.of((1 - f) * self.k_tt + f * self.kernels[0])
        return reduced[f]

    def _distances(self) -> tuple[np.ndarray, float]:
        """float32 ``[n, n]``: the training individuals' squared genotype distances in K's units
        (K_ii + K_jj - 2 K_ij), and their median over pairs (:func:`distance_scale`); made once,
        for every bandwidth."""
        reduced = self._training[2]
        if "distances" not in reduced:
            d = np.diag(self.k_tt)
            dist = squared_distances(self.k_tt, d, d, np.float32)
            reduced["distances"] = (dist, distance_scale(dist))
        return reduced["distances"]

    def gaussian(self, theta: float) -> Tridiagonal:
        """:class:`Tridiagonal` of the Gaussian kernel exp(-d^2 / (theta median d^2)) over the training
        individuals (diagonal one, K's mean diagonal), made once per bandwidth (one n x n float32
        array beside the distances)."""
        reduced = self._training[2]
        if ("gaussian", theta) not in reduced:
            dist, med = self._distances()
            kernel = np.exp(dist * np.float32(-1.0 / (theta * med)))
            reduced[("gaussian", theta)] = Tridiagonal.of(kernel.T)  # symmetric: its transpose is Fortran order
        return reduced[("gaussian", theta)]

    def gaussian_rows(self, theta: float, a: np.ndarray) -> np.ndarray:
        """The targets' rows of the Gaussian kernel of bandwidth ``theta`` times ``a`` (``[n]`` or
        ``[n, k]``), formed in one [n_v, n] array from the targets' squared distances to the
        training individuals, which are made once for every bandwidth and both anchors that use
        family GBLUP (with 20,000 targets they had been a tenth of a prediction's time, made six times)."""
        _, med = self._distances()
        if self._target_distances is None:
            self._target_distances = squared_distances(self.k_vt, self.k_vv, np.diag(self.k_tt))
        rows = self._target_distances * (-1.0 / (theta * med))
        np.exp(rows, out=rows)
        return rows @ a

    def target_rows(self, f: float, a: np.ndarray) -> np.ndarray:
        """((1 - f) K_vt + f K_fam,vt) ``a``: the targets' rows of A_f times training-space vectors
        ``a`` ``[n]`` or ``[n, k]`` (n_v n k flops; the rows themselves are never formed)."""
        return (1 - f) * (self.k_vt @ a) + f * (self.kernels[1] @ a)


class Tridiagonal:
    """A symmetric positive semi-definite A = Q T Q^T, T tridiagonal (LAPACK ``sytrd``, single
    precision, Q kept as its Householder reflectors).  What GBLUP with V(h) = h A + (1 - h) I
    needs at every h comes from it without an eigendecomposition: V(h)^-1 z = Q (h T + (1 - h) I)^-1 Q^T z
    (:meth:`rotate`, :meth:`solve`, :meth:`unrotate`) and log det V(h) from an O(n) LDL^T of the
    shifted T (``solve``); other individuals' predictions are their rows of A times that vector.
    The reduction is the first of an eigendecomposition's three stages (4,000 rows: 1.2 s of
    ``syevd``'s 2.8 s here), and the eigenvectors, n^2 numbers each in double precision, are never formed."""

    def __init__(self, diag: np.ndarray, off: np.ndarray, reflectors, tau) -> None:
        self.diag, self.off, self.reflectors, self.tau = diag, off, reflectors, tau

    @classmethod
    def of(cls, a: np.ndarray) -> Tridiagonal:
        import torch
        from scipy.linalg import lapack

        a = np.asarray(a, dtype=np.float32, order="F")
        n = len(a)
        lwork = max(int(lapack.ssytrd_lwork(n, lower=1)[0]), 1) if n > 1 else 1
        c, d, e, tau, info = lapack.ssytrd(a, lower=1, lwork=lwork, overwrite_a=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"ssytrd failed (info {info})")
        # Q = diag(1, Q'), Q' the product of the reflectors in QR (geqrf) layout below T's diagonal
        refl = torch.from_numpy(np.ascontiguousarray(c[1:, :-1]))
        tau = torch.from_numpy(np.ascontiguousarray(tau[: n - 1]))
        return cls(d.astype(np.float64), e.astype(np.float64), refl, tau)

    def unrotate(self, s: np.ndarray) -> np.ndarray:
        """float64 Q s for ``s`` ``[n]`` or ``[n, k]`` (the inverse of :meth:`rotate`)."""
        return self._apply(s, transpose=False)

    def rotate(self, z: np.ndarray) -> np.ndarray:
        """float64 Q^T z for ``z`` ``[n]`` or ``[n, k]``."""
        return self._apply(z, transpose=True)

    def _apply(self, z: np.ndarray, transpose: bool) -> np.ndarray:
        import torch

        z = np.asarray(z, dtype=np.float64)
        w = z.copy()
        if len(z) > 1:
            rest = torch.from_numpy(z[1:].reshape(len(z) - 1, -1).astype(np.float32))
            w[1:] = torch.ormqr(self.reflectors, self.tau, rest, left=True,
                                transpose=transpose).numpy().reshape(z[1:].shape)
        return w

    def solve(self, h: float, w: np.ndarray) -> tuple[np.ndarray, float]:
        """``(s, logdet)``: s = (h T + (1 - h) I)^-1 w (``w`` = :meth:`rotate` of z, so that
        V(h)^-1 z = Q s) and log det V(h).  0 <= h < 1."""
        from scipy.linalg import lapack

        if len(self.diag) == 1:  # no off-diagonal (LAPACK's wrapper wants one)
            d = float(h * self.diag[0] + (1 - h))
            return np.asarray(w, np.float64) / d, float(np.log(d))
        df, ef, info = lapack.dpttrf(h * self.diag + (1 - h), h * self.off)
        if info != 0:
            raise np.linalg.LinAlgError(f"h A + (1 - h) I is not positive definite at h = {h} (dpttrf info {info})")
        s, info = lapack.dpttrs(df, ef, w)
        return s, float(np.log(df).sum())


def family_gblup(kin: Kinship, coordinates: np.ndarray, x_target: np.ndarray, z: np.ndarray,
                 gblup_target: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID,
                 shares: tuple[float, ...] = FAMILY_SHARES, family: FamilyModel | None = None,
                 bandwidths: tuple[float, ...] = FAMILY_BANDWIDTHS) -> np.ndarray:
    """float64 ``[n_target]``: GBLUP with a second, within-family kernel, averaged over a
    grid of (h2, family share) by marginal likelihood (a stacking anchor).

    z ~ N(0, s2 (h2 ((1 - f) K + f K_fam) + (1 - h2) I)): a share f of the genetic
    variance is each family's own (:func:`family_kernels`), as where a locus's effect
    differs between the crosses it segregates in (the prior's ``family_share``).  Such
    variance makes relatives within a family alike but does not carry to a family never
    phenotyped, so GBLUP, which has one kernel, overstates how far within-family
    differences predict other families.  f = 0 is GBLUP at the grid (``gblup_target``:
    :func:`smoother_features`' target columns, and :func:`marginal_loglik`); each f > 0
    costs one tridiagonal reduction (:class:`FamilyModel`, shared with the QTL anchor),
    which serves every h2.

    Gaussian kernels exp(-d_ij^2 / (theta median d^2)) of the genotype distances (RKHS
    regression's, ``bandwidths``: :data:`FAMILY_BANDWIDTHS`) compete in the same average, each
    over the h2 grid with the same profile likelihood (their diagonal is one, K's mean
    diagonal), on training sets of up to :data:`GAUSSIAN_MAX_N`: where relatives resemble
    each other more than the linear kernel says (non-additive variance, or marker
    relationships that are noisier among distant than among close relatives) the likelihood
    moves the average towards them; elsewhere it keeps the linear and family kernels.  With
    the shipped stacking weights unchanged they moved the blend on held-out prior draws by
    -0.0001 to +0.0005 and on wheat599 by +0.024 (docs/design-record.md).  Nothing is
    estimated but the closed-form likelihood weights of a fixed grid.  ``family``: the
    :class:`FamilyModel` when the caller has it."""
    z = np.asarray(z, dtype=np.float64)
    g = len(h2_grid)
    loglik = [marginal_loglik(kin, z, h2_grid)]
    preds = [gblup_target[:, :g].astype(np.float64)]
    family = FamilyModel(kin, coordinates, x_target) if family is None else family
    h = np.asarray(h2_grid, np.float64)
    kernels = [(family.share(f), lambda a, f=f: family.target_rows(f, a)) for f in shares] \
        if family.kernels is not None else []  # (h2 A + (1 - h2) I, the targets' rows of A times a vector)
    if len(z) <= GAUSSIAN_MAX_N:
        kernels += [(family.gaussian(t), lambda a, t=t: family.gaussian_rows(t, a)) for t in bandwidths]
    for tri, target_rows in kernels:
        w = tri.rotate(z)
        sol = [tri.solve(hh, w) for hh in h]  # V(h2)^-1 z in Q's basis and log det V(h2), each h2
        s = np.column_stack([v for v, _ in sol])  # [n, G]
        quad = np.maximum(w @ s, 1e-300)  # z' V^-1 z at each h2
        loglik.append(-0.5 * len(z) * np.log(quad / len(z)) - 0.5 * np.array([ld for _, ld in sol]))
        preds.append(h[None, :] * target_rows(tri.unrotate(s)))  # h2 A_vt V^-1 z
    w = posterior_weights(np.concatenate(loglik))
    return np.concatenate(preds, axis=1) @ w
