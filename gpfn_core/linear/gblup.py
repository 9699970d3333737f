"""GBLUP: the baseline every accuracy figure is reported against.

Model: y = 1 mu + g + e for the training individuals, g ~ N(0, sg2 K), e ~ N(0, se2 I),
with K the VanRaden genomic relationship matrix of training and target individuals
(:func:`~gpfn_core.linear.kinship.relationship`).  The variance ratio delta = se2 / sg2
is estimated by REML with the spectral method of Kang et al. (2008, EMMA), as rrBLUP's
``mixed.solve`` does: one eigendecomposition of S K S (S projects out the mean), then a
1-D search over log(delta) done on a grid for all values at once and refined by golden
section.  Targets are predicted by BLUP: mu + K_tt' (K_tt + delta I)^-1 (y - mu).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpfn_core.data.encoding import Encoding
from gpfn_core.errors import ValidationError
from gpfn_core.linear.kinship import relationship


@dataclass
class GblupResult:
    prediction: np.ndarray  # float64 [n_target]: mu + BLUP of g
    delta: float  # se2 / sg2
    h2: float  # sg2 / (sg2 + se2), in units of the mean diagonal of K
    mu: float


def reml_delta(k: np.ndarray, y: np.ndarray, grid: int = 100, fixed: np.ndarray | None = None) -> float:
    """REML estimate of se2 / sg2 for y = X b + g + e, g ~ N(0, sg2 k), X the intercept (and the
    columns of ``fixed``, covariates)."""
    return reml(k, y, grid, fixed)[0]


def reml(k: np.ndarray, y: np.ndarray, grid: int = 100, fixed: np.ndarray | None = None) -> tuple[float, float]:
    """:func:`reml_delta`'s estimate and the restricted log-likelihood there, with sg2 profiled
    out and up to a constant that depends only on ``y`` and the fixed effects: a kernel
    multiplied by a constant has the same maximum, so the maxima of different kernels on
    the same phenotypes compare as marginal likelihoods (:func:`~gpfn_core.linear.baselines.rkhs`
    averages Gaussian kernels of several bandwidths by them)."""
    from scipy.linalg import eigh

    n = y.size
    x = np.ones((n, 1)) if fixed is None else np.column_stack([np.ones(n), fixed])
    ux, sx, _ = np.linalg.svd(x, full_matrices=False)
    qb = ux[:, sx > sx.max() * max(x.shape) * np.finfo(float).eps]  # orthonormal basis of X's columns
    q = qb.shape[1]
    # S K S with S = I - Q Q^T, as one rank-2q update of a copy of K (no n x n projector): with
    # B = K Q - Q (Q^T K Q) / 2, S K S = K - Q B^T - B Q^T, applied by row blocks so that the
    # only n x n arrays are K, this copy and the eigenvectors (the dense projector and its
    # products held four more)
    kq = np.asarray(k, np.float64) @ qb
    bq = kq - qb @ (qb.T @ kq) / 2
    left, right = np.hstack([qb, bq]), np.hstack([bq, qb])
    sks = np.array(k, dtype=np.float64, copy=True)
    for i in range(0, n, 2048):
        sks[i:i + 2048] -= left[i:i + 2048] @ right.T
    xi, u = eigh(sks, overwrite_a=True, check_finite=False, driver="evd")
    del sks
    xi, u = xi[q:], u[:, q:]  # drop the null directions of the fixed effects (eigenvalue 0)
    eta2 = (u.T @ y) ** 2
    dof = n - q

    def neg_loglik(log_delta: np.ndarray) -> np.ndarray:
        d = np.exp(np.atleast_1d(log_delta))[:, None]
        lam = np.maximum(xi[None, :] + d, 1e-12)
        return dof * np.log((eta2 / lam).sum(1)) + np.log(lam).sum(1)

    logs = np.linspace(-5 * np.log(10), 5 * np.log(10), grid)
    i = int(np.argmin(neg_loglik(logs)))
    lo, hi = logs[max(i - 1, 0)], logs[min(i + 1, grid - 1)]
    phi = (np.sqrt(5) - 1) / 2
    for _ in range(40):  # golden-section refinement inside the best grid cell pair
        a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
        if neg_loglik(a)[0] < neg_loglik(b)[0]:
            hi = b
        else:
            lo = a
    best = (lo + hi) / 2
    return float(np.exp(best)), float(-0.5 * neg_loglik(best)[0])


def _v_solve(k: np.ndarray, delta: float, rhs: np.ndarray) -> np.ndarray:
    """(K + delta I)^-1 rhs, by LU on a copy of K with delta on its diagonal (no identity
    matrix).  LU, not Cholesky: the BLAS here died with SIGSEGV in the float64 Cholesky (and
    x x^T) at 16,000 individuals."""
    v = np.array(k, dtype=np.float64, copy=True)
    v.flat[:: len(v) + 1] += delta
    return np.linalg.solve(v, rhs)


def blup(k_tt: np.ndarray, k_vt: np.ndarray, y: np.ndarray, delta: float) -> tuple[np.ndarray, float]:
    """GLS mean and BLUP predictions of targets for a given ``delta``: one factorisation of
    K + delta I serves both (V^-1 (y - mu 1) = V^-1 y - mu V^-1 1)."""
    sol = _v_solve(k_tt, delta, np.stack([y, np.ones_like(y)], axis=1))
    mu = float(sol[:, 0].sum() / sol[:, 1].sum())
    return mu + k_vt @ (sol[:, 0] - mu * sol[:, 1]), mu


def training_phenotypes(y_train: np.ndarray) -> np.ndarray:
    """float64 ``y_train``, checked as every GBLUP fit needs it: three or more, all finite, not
    all equal."""
    y = np.asarray(y_train, dtype=np.float64)
    if y.size < 3 or not np.isfinite(y).all():
        raise ValidationError("GBLUP needs at least three finite training phenotypes")
    if np.ptp(y) == 0:
        raise ValidationError("GBLUP: the training phenotype is constant")
    return y


def gblup(dosage_train: np.ndarray, y_train: np.ndarray, dosage_target: np.ndarray,
          delta: float | None = None) -> GblupResult:
    """Fit GBLUP on training dosages/phenotypes and predict the targets (REML unless ``delta``)."""
    y = training_phenotypes(y_train)
    enc = Encoding.fit(dosage_train)
    xt = enc.transform(dosage_train).astype(np.float64)
    xv = enc.transform(dosage_target).astype(np.float64)
    k_tt, k_vt = relationship(xt, xv)
    del xt, xv  # n x m float64: not needed past the products
    d = reml_delta(k_tt, y) if delta is None else float(delta)
    pred, mu = blup(k_tt, k_vt, y, d)
    return GblupResult(pred, d, 1.0 / (1.0 + d), mu)


def gblup_memory(n_train: int, n_target: int, markers: int) -> int:
    """Bytes :func:`gblup` needs at its peak, about: five n x n float64 arrays in REML (K, the
    projected copy, its eigenvectors and LAPACK's workspace; 9.7 GiB measured at 16,000) or
    the float64 encoded genotypes with K, whichever is more."""
    n, nv, m = int(n_train), int(n_target), int(markers)
    return max(40 * n * n, 8 * (n + nv) * m + 8 * n * (n + nv))


def fixed_effects(dosage_train: np.ndarray, y: np.ndarray, covariates: np.ndarray) -> tuple[np.ndarray, float]:
    """Generalised least squares estimates of covariate effects (locations, years, blocks) in
    the mixed model y = 1 mu + C b + g + e, g ~ N(0, sg2 K), with the variance ratio by REML
    on the same model: ``(b [p], delta)``.  ``y - C b`` is then the phenotype with the
    covariates taken out, on which every prediction method runs."""
    y = np.asarray(y, dtype=np.float64)
    c = np.asarray(covariates, dtype=np.float64).reshape(len(y), -1)
    enc = Encoding.fit(dosage_train)
    xt = enc.transform(dosage_train).astype(np.float64)
    k, _ = relationship(xt, xt[:0])
    delta = reml_delta(k, y, fixed=c)
    x = np.column_stack([np.ones(len(y)), c])
    v_inv_x = _v_solve(k, delta, np.column_stack([x, y]))
    b = np.linalg.lstsq(x.T @ v_inv_x[:, :-1], x.T @ v_inv_x[:, -1], rcond=None)[0]
    return b[1:], delta
