"""``GPFNRegressor``: gpfn as a scikit-learn estimator, for notebooks and pipelines.

    from gpfn import GPFNRegressor
    est = GPFNRegressor(model="nam").fit(X_train, y_train)   # stores the population, fits nothing
    mean, sd = est.predict(X_target, return_std=True)
    q = est.predict_quantiles(X_target, [0.05, 0.95])       # [n_target, 2]

``X`` holds 0/1/2 allele dosages (individuals x markers, NaN for a missing call) with the
same markers in the same order for training and targets.  ``predict`` runs exactly what
``gpfn predict`` runs after reading and aligning its two datasets
(:func:`gpfn_core.predict.predict_arrays`: the one ``prepare()``, the ensemble beyond the
model's context), so the two give the same numbers (tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from gpfn_core.errors import ValidationError


def _dosages(X: Any, what: str, n_markers: int | None = None) -> np.ndarray:
    """int8 dosages (-1 = missing) from a 0/1/2 matrix with NaN for missing calls, checked."""
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValidationError(f"{what}: expected a 2-D [individuals, markers] dosage matrix, got shape {a.shape}")
    if n_markers is not None and a.shape[1] != n_markers:
        raise ValidationError(f"{what}: {a.shape[1]} markers, but the training genotypes had {n_markers}")
    missing = np.isnan(a)
    bad = ~missing & ~np.isin(a, (0.0, 1.0, 2.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValidationError(f"{what}: row {i}, column {j} is {float(a[i, j])!r}; dosages must be 0, 1, 2 or NaN "
                              f"(missing), {int(bad.sum())} such value(s)")
    return np.where(missing, -1, a).astype(np.int8)


class GPFNRegressor(RegressorMixin, BaseEstimator):
    """Predict breeding values with a GPFN model (scikit-learn conventions).

    Parameters
    ----------
    model : a shipped population type (``"nam"``; see ``gpfn models``) or a model file path.
    device : ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:0"``, ...
    ensemble : subsets averaged when the training set exceeds the model's context
        (default: as ``gpfn predict``).
    seed : seed of the preprocessing and the subsets.
    chunk : targets per forward pass (memory bound; results do not depend on it).
    """

    def __init__(self, model: str | Path = "nam", device: str = "auto", ensemble: int | None = None, seed: int = 0,
                 chunk: int = 1000) -> None:
        self.model = model
        self.device = device
        self.ensemble = ensemble
        self.seed = seed
        self.chunk = chunk

    def fit(self, X: Any, y: Any) -> GPFNRegressor:
        """Store the training population (nothing is fitted).  ``y``: one phenotype ``[n]`` (rows
        where it is NaN are dropped) or several ``[n, k]`` (NaN where an individual has no
        value; each trait is predicted from the individuals that have it, and the
        trait-independent work is shared)."""
        x = _dosages(X, "X")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
            raise ValidationError(f"y must be [{x.shape[0]}] or [{x.shape[0]}, traits] for the {x.shape[0]} "
                                  f"individuals of X, got shape {y.shape}")
        ys = y.reshape(len(y), -1)
        few = [j for j in range(ys.shape[1]) if np.isfinite(ys[:, j]).sum() < 3]
        if few:
            raise ValidationError(f"fewer than three training individuals have a finite value of trait(s) {few}")
        keep = np.isfinite(ys).any(1)
        self.X_train_, self.y_train_ = x[keep], y[keep]
        self.n_features_in_ = x.shape[1]
        self._loaded = None
        return self

    def _model(self):
        from gpfn_core.net.inference import resolve_device
        from gpfn_core.net.modelfile import load_model
        from gpfn_core.models.lookup import find_model

        key = (str(self.model), self.device)
        if getattr(self, "_loaded", None) is None or self._loaded[0] != key:
            path = Path(self.model)
            if not path.exists() and "/" not in str(self.model) and not str(self.model).endswith(".gpfn"):
                path = find_model(str(self.model))  # a population type
            self._loaded = (key, load_model(path, resolve_device(self.device)))
        return self._loaded[1]

    def _predict(self, X: Any, quantiles: tuple[float, ...]) -> dict[str, Any]:
        from gpfn_core.tasks.predict import predict_traits

        if not hasattr(self, "X_train_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("GPFNRegressor: call fit(X, y) with the training population first")
        x = _dosages(X, "X", self.n_features_in_)
        model, bar, meta = self._model()
        results = predict_traits(model, bar, meta, self.X_train_, self.y_train_, x, ensemble=self.ensemble,
                                 seed=self.seed, chunk=self.chunk, quantiles=quantiles)
        if self.y_train_.ndim == 1:
            return results[0]
        return {k: np.stack([r[k] for r in results], axis=1) for k in results[0] if isinstance(results[0][k], np.ndarray)}

    def predict(self, X: Any, return_std: bool = False):
        """Predictive means (the GEBVs), and with ``return_std`` their sd, on the phenotype's scale:
        ``[n_target]``, or ``[n_target, traits]`` where ``y`` had several."""
        out = self._predict(X, ())
        return (out["mean"], out["sd"]) if return_std else out["mean"]

    def predict_quantiles(self, X: Any, quantiles=(0.05, 0.95)) -> np.ndarray:
        """``[n_target, len(quantiles)]`` quantiles of each target's predictive distribution
        (``[n_target, traits, len(quantiles)]`` where ``y`` had several traits)."""
        from gpfn_core.tasks.predict import quantile_key

        qs = tuple(float(q) for q in np.atleast_1d(quantiles))
        if not qs or not all(0.0 < q < 1.0 for q in qs):
            raise ValidationError(f"quantiles must be in (0, 1), got {list(qs)}")
        out = self._predict(X, qs)
        return np.stack([out[quantile_key(q)] for q in qs], axis=-1)
