"""Classical baselines that score beside GPFN: ridge regression (penalty by exact
leave-one-out error), a cross-validated elastic net, on all markers, and RKHS regression
with a Gaussian kernel."""

from __future__ import annotations

import numpy as np

from gpfn_core.data.encoding import Encoding
from gpfn_core.linear.gblup import blup, reml, training_phenotypes
from gpfn_core.linear.kinship import distance_scale, relationship, relationship_scale, squared_distances

# bandwidths of rkhs's Gaussian kernels, as multiples of the median squared distance between training
# individuals (de los Campos et al. 2010's kernel averaging spans about this range)
RKHS_BANDWIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)


def ridge(dosage_train: np.ndarray, y: np.ndarray, dosage_target: np.ndarray) -> np.ndarray:
    """Ridge regression on all markers, penalty chosen by exact leave-one-out error over a grid.

    Uses the kernel form (K = X X' / c) and one eigendecomposition, so every penalty's
    LOO residuals e_i / (1 - H_ii) come at the cost of a matrix product.
    """
    enc = Encoding.fit(dosage_train)
    k_tt, k_vt = relationship(enc.transform(dosage_train).astype(np.float64),
                              enc.transform(dosage_target).astype(np.float64))
    lam, u = np.linalg.eigh(k_tt)
    lam = np.maximum(lam, 0)
    yc = y - y.mean()
    uy = u.T @ yc
    best, best_err = None, np.inf
    for delta in np.logspace(-3, 3, 25) * max(lam.mean(), 1e-12):
        shrink = lam / (lam + delta)
        fitted = u @ (shrink * uy)
        h_diag = (u**2) @ shrink
        err = np.mean(((yc - fitted) / np.maximum(1 - h_diag, 1e-9)) ** 2)
        if err < best_err:
            best, best_err = delta, err
    alpha = u @ (uy / (lam + best))
    return y.mean() + k_vt @ alpha


def elastic_net(dosage_train: np.ndarray, y: np.ndarray, dosage_target: np.ndarray, seed: int = 0) -> np.ndarray:
    """Elastic net on all markers (l1_ratio 0.5), its penalty chosen by 3-fold CV over 20 values:
    the sparse learner of ``../shared/ACCURACY.md`` (scikit-learn's ElasticNetCV).  Where CV
    finds no signal it returns the empty model, a constant prediction (r undefined)."""
    import inspect
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    y = np.asarray(y, dtype=np.float64)
    enc = Encoding.fit(dosage_train)
    cv = KFold(3, shuffle=True, random_state=int(seed) % 2**32)  # any integer seed, e.g. a draw index
    # scikit-learn < 1.9 names the number of penalties n_alphas; later versions take it as alphas
    grid = {"n_alphas": 20} if "n_alphas" in inspect.signature(ElasticNetCV).parameters else {"alphas": 20}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        model = ElasticNetCV(l1_ratio=0.5, cv=cv, max_iter=2000, tol=1e-3, **grid)
        model.fit(enc.transform(dosage_train), y)
    return model.predict(enc.transform(dosage_target)).astype(np.float64)


def rkhs(dosage_train: np.ndarray, y: np.ndarray, dosage_target: np.ndarray,
         bandwidths: tuple[float, ...] = RKHS_BANDWIDTHS) -> np.ndarray:
    """RKHS regression (Gianola and van Kaam 2008): GBLUP's mixed model with the Gaussian kernel
    ``exp(-d_ij^2 / (theta * median d^2))`` in place of the genomic relationships, ``d_ij`` the
    Euclidean distance between two individuals' encoded genotypes.  Each bandwidth ``theta``
    (:data:`RKHS_BANDWIDTHS`) is fitted by REML, and the predictions are averaged with weights
    proportional to each fit's restricted likelihood (the kernels compete on the same
    phenotypes: a bandwidth's weight is its posterior probability under equal prior odds).
    A small bandwidth makes a local predictor (close relatives count most); a large one
    tends to GBLUP's linear kernel.  Deterministic; one n x n eigendecomposition per bandwidth."""
    y = training_phenotypes(y)
    enc = Encoding.fit(dosage_train)
    xt = enc.transform(dosage_train).astype(np.float64)
    xv = enc.transform(dosage_target).astype(np.float64)
    k_tt, k_vt = relationship(xt, xv)
    diag_t = np.diag(k_tt).copy()
    diag_v = np.einsum("ij,ij->i", xv, xv) / relationship_scale(xt)
    del xt, xv
    d_tt, d_vt = squared_distances(k_tt, diag_t, diag_t), squared_distances(k_vt, diag_v, diag_t)
    median = distance_scale(d_tt)
    fits = []
    for theta in bandwidths:
        kernel = np.exp(-d_tt / (theta * median))
        delta, loglik = reml(kernel, y)
        fits.append((loglik, blup(kernel, np.exp(-d_vt / (theta * median)), y, delta)[0]))
    logliks = np.array([f[0] for f in fits])
    w = np.exp(logliks - logliks.max())
    return np.column_stack([f[1] for f in fits]) @ (w / w.sum())
