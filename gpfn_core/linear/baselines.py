"""Classical baselines that score beside GPFN: ridge regression (penalty by exact
leave-one-out error) and a cross-validated elastic net, on all markers."""

from __future__ import annotations

import numpy as np

from gpfn_core.data.encoding import Encoding
from gpfn_core.linear.kinship import relationship


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
