"""``GPFNRegressor``: gpfn as a scikit-learn estimator, for notebooks and pipelines.

    from gpfn import GPFNRegressor
    est = GPFNRegressor(model="nam").fit(X_train, y_train)   # stores the population, fits nothing
    mean, sd = est.predict(X_target, return_std=True)
    q = est.predict_quantiles(X_target, [0.05, 0.95])       # [n_target, 2]

``X`` holds 0/1/2 allele dosages (individuals x markers, NaN for a missing call): a matrix
with the same markers in the same order for training and targets; a pandas DataFrame whose
columns are marker ids; or an xarray/sgkit Dataset with ``call_dosage`` or ``call_genotype``
(variants x samples).  Named markers are matched between training and targets as ``gpfn
predict`` matches two Datasets (by id, or chromosome:position; swapped alleles flipped),
the markers dropped reported in ``alignment_``.  ``predict`` runs exactly what
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
    """int8 dosages (-1 = missing) from a 0/1/2 matrix with NaN for missing calls (or an xarray
    Dataset's ``call_dosage`` [variants, samples], whose markers are then matched by order), checked."""
    if hasattr(X, "data_vars"):
        X = np.asarray(X["call_dosage"]).T
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


def _table(X: Any, what: str):
    """A GenotypeTable of named markers from a pandas DataFrame (columns: marker ids) or an
    xarray/sgkit Dataset (``call_dosage`` or ``call_genotype``); None for a plain matrix."""
    from gpfn_core.types import GenotypeTable

    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # pandas
        markers = np.array([str(c) for c in X.columns])
        names, counts = np.unique(markers, return_counts=True)
        if (counts > 1).any():
            raise ValidationError(f"{what}: duplicate marker column {str(names[counts > 1][0])!r}")
        m = markers.size
        return GenotypeTable(np.array([str(i) for i in X.index]), markers, np.array([""] * m),
                             np.zeros(m, np.int64), np.array([""] * m), np.array([""] * m),
                             _dosages(X.to_numpy(dtype=np.float64, na_value=np.nan), what))
    if hasattr(X, "data_vars"):  # xarray / sgkit
        if "call_genotype" in X:
            from gpfn_core.data.vcz import vcz_table

            return vcz_table(_Arrays(X), what, "xarray")
        if "call_dosage" not in X:
            raise ValidationError(f"{what}: an xarray Dataset needs call_genotype (with the sgkit variant and "
                                  f"sample arrays) or call_dosage; it has {', '.join(map(str, X.data_vars))}")
    return None


class _Arrays:
    """An xarray/sgkit Dataset seen as the mapping of arrays :func:`gpfn_core.data.vcz.vcz_table`
    reads (``contig_id`` may be an attribute, as older sgkit keeps it)."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds

    def __contains__(self, name: str) -> bool:
        return name in self.ds.variables or (name == "contig_id" and "contig_id" in self.ds.attrs)

    def __getitem__(self, name: str) -> Any:
        if name not in self.ds.variables:
            return np.asarray(self.ds.attrs[name])
        return _Array(self.ds[name])


class _Array:
    """An xarray DataArray with the ``shape``, ``ndim``, ``chunks`` and slicing of a zarr array."""

    def __init__(self, da: Any) -> None:
        self.da, self.shape, self.ndim = da, tuple(da.shape), da.ndim
        self.chunks = (da.chunks[0][0] if da.chunks and da.chunks[0] else max(1, da.shape[0] if da.ndim else 1),)

    def __getitem__(self, rows: Any) -> np.ndarray:
        return np.asarray(self.da[rows])


def _subset(table, rows: np.ndarray):
    from gpfn_core.types import GenotypeTable

    return GenotypeTable(table.taxa[rows], table.marker, table.chrom, table.pos, table.ref, table.alt,
                         table.dosage[rows], table.source, table.info)


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
        table = _table(X, "X")
        x = _dosages(X, "X") if table is None else table.dosage
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
        self.table_ = None if table is None else _subset(table, keep)
        if table is not None and hasattr(X, "columns"):
            self.feature_names_in_ = np.asarray(table.marker, dtype=object)
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
        x_train, x = self._aligned(X)
        model, bar, meta = self._model()
        results = predict_traits(model, bar, meta, x_train, self.y_train_, x, ensemble=self.ensemble,
                                 seed=self.seed, chunk=self.chunk, quantiles=quantiles)
        if self.y_train_.ndim == 1:
            return results[0]
        return {k: np.stack([r[k] for r in results], axis=1) for k in results[0] if isinstance(results[0][k], np.ndarray)}

    def _aligned(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Training and target dosages on the same markers: matched by name (as ``gpfn predict``
        matches Datasets) where both have names, else by position, which needs equal widths."""
        table = _table(X, "X")
        if table is None or self.table_ is None:
            self.alignment_ = {"matched_by": "column order", "shared_markers": self.n_features_in_}
            x = _dosages(X, "X", self.n_features_in_) if table is None else table.dosage
            if x.shape[1] != self.n_features_in_:
                raise ValidationError(f"X: {x.shape[1]} markers, but the training genotypes had {self.n_features_in_}")
            return self.X_train_, x
        from gpfn_core.data.dataset import Dataset
        from gpfn_core.tasks.predict import align

        al = align(Dataset(self.table_), Dataset(table))
        self.alignment_ = al.report
        dropped = {k: v for k, v in al.report.items() if k.startswith("dropped") and v}
        if dropped:
            import warnings

            warnings.warn(f"GPFNRegressor: {al.report['shared_markers']} shared markers; dropped "
                          + ", ".join(f"{v} {k.removeprefix('dropped_').replace('_', ' ')}" for k, v in dropped.items()),
                          stacklevel=3)
        return al.train, al.target

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
