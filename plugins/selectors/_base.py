"""What the built-in selectors share: array handling, polymorphism, principal components,
and the :class:`_Selector` and :class:`_MarkerSubset` bases."""

from __future__ import annotations

import numpy as np

from gpfn_core import FeatureSelector
from gpfn_core.errors import ValidationError

_EPS = 1e-8


def _as_array(x) -> tuple[np.ndarray, bool]:
    is_torch = type(x).__module__.startswith("torch")
    if is_torch:
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32), is_torch


def _polymorphic(x: np.ndarray) -> np.ndarray:
    """bool [m]: the column takes more than one value (no temporary copy of ``x``)."""
    return (x.max(axis=0) - x.min(axis=0)) > _EPS


def _correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|Pearson r| of every column with ``y``; 0 for constant columns."""
    n = x.shape[0]
    yc = (y - y.mean()).astype(np.float32)
    num = yc @ x  # sum (x - xbar)(y - ybar) = sum x (y - ybar)
    mean = x.mean(0, dtype=np.float64)
    ss = np.einsum("ij,ij->j", x, x, dtype=np.float64) - n * mean**2
    den = np.sqrt(np.maximum(ss, 0)) * np.sqrt(float(yc @ yc))
    return np.where(den > _EPS, np.abs(num) / np.maximum(den, _EPS), 0.0)


def _top_components(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Orthonormal loadings ``[m, k]`` of the top-k principal components of centred ``x``.

    Works on the smaller of the two Gram matrices (``x x^T`` when individuals are fewer
    than markers), with a randomized eigensolver (``2k + 10`` vectors, 6 power
    iterations on the Gram matrix, cheap beside forming it) when ``k`` is small
    against it.  Signs are fixed so each component's largest loading is positive.
    """
    n, m = x.shape
    mu = x.mean(0)
    small = min(n, m)
    if n <= m:  # centred x x^T without a centred copy of x: K - r1' - 1r' + mu.mu, r = x mu
        r = (x @ mu).astype(np.float64)
        gram = (x @ x.T).astype(np.float64) - r[:, None] - r[None, :] + float(mu @ mu)
    else:
        gram = (x.T @ x).astype(np.float64) - n * np.outer(mu, mu)
    width = 2 * k + 10
    if 2 * width < small:
        q = np.linalg.qr(gram @ rng.standard_normal((small, width)))[0]
        for _ in range(6):
            q = np.linalg.qr(gram @ q)[0]
        w, v = np.linalg.eigh(q.T @ gram @ q)
        vecs, vals = q @ v[:, ::-1][:, :k], w[::-1][:k]
    else:
        w, v = np.linalg.eigh(gram)
        vecs, vals = v[:, ::-1][:, :k], w[::-1][:k]
    return _signed(_loadings(x, mu, vecs, vals) if n <= m else vecs.astype(np.float32))


def _loadings(x: np.ndarray, mu: np.ndarray, u: np.ndarray, vals: np.ndarray) -> np.ndarray:
    """Loadings ``(x - mu)^T u / s`` of components whose left singular vectors are ``u``
    (eigenvalues ``vals`` of the centred ``x x^T``), without a centred copy of ``x``."""
    u = u.astype(np.float32)
    return (x.T @ u - np.outer(mu, u.sum(0))) / np.sqrt(np.maximum(vals, _EPS)).astype(np.float32)


def _signs(load: np.ndarray) -> np.ndarray:
    """float32 ``[k]``: +1 or -1 per column, the sign that makes its largest entry positive."""
    sign = np.sign(load[np.abs(load).argmax(0), np.arange(load.shape[1])])
    return np.where(sign == 0, 1, sign).astype(np.float32)


def _signed(load: np.ndarray) -> np.ndarray:
    """Loadings with each column's largest entry positive."""
    return (load * _signs(load)).astype(np.float32)


def _components_of(x: np.ndarray, kinship, k: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_top_components` from an exact decomposition of ``x x^T`` that preprocessing
    holds already (:class:`gpfn_core.linear.kinship.Kinship`; ``x`` centred, as encoded genotypes
    are): the right singular vectors when it has them, else ``x^T u / s``; and the sign
    each got from :func:`_signed` (components = sign * x^T u / s)."""
    if kinship.vt is not None:
        load = kinship.vt[kinship.top_order(k)].T.astype(np.float32)
    else:
        vals, u = kinship.top(k)
        load = _loadings(x, x.mean(0), u, vals)
    sign = _signs(load)
    return (load * sign).astype(np.float32), sign


class _Selector(FeatureSelector):
    """Input checks and numpy/torch handling shared by the built-ins."""

    def fit(self, x_train, y_train):
        x, y = self._checked(x_train, y_train)
        self._fit(x, y, np.random.default_rng(self.seed))
        return self

    def fit_kinship(self, x_train, y_train, kinship):
        x, y = self._checked(x_train, y_train)
        if kinship.u.shape[0] != x.shape[0]:
            raise ValidationError(f"{self.name}: kinship of {kinship.u.shape[0]} individuals for {x.shape[0]} rows")
        self._fit_kinship(x, y, np.random.default_rng(self.seed), kinship)
        return self

    def _checked(self, x_train, y_train) -> tuple[np.ndarray, np.ndarray]:
        """The training inputs as arrays, checked; records the marker count and which are polymorphic."""
        x, _ = _as_array(x_train)
        y = np.asarray(y_train.detach().cpu().numpy() if hasattr(y_train, "detach") else y_train, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
            raise ValidationError(f"{self.name}: x_train must be [individuals >= 2, markers >= 1], got {x.shape}")
        if y.shape != (x.shape[0],):
            raise ValidationError(f"{self.name}: y_train must have {x.shape[0]} values, got shape {y.shape}")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValidationError(f"{self.name}: inputs must be finite (impute missing genotypes first)")
        self.n_markers_ = x.shape[1]
        self.polymorphic_ = _polymorphic(x)
        return x, y

    def transform(self, x):
        if not hasattr(self, "n_markers_"):
            raise ValidationError(f"{self.name}: transform called before fit")
        arr, is_torch = _as_array(x)
        if arr.ndim != 2 or arr.shape[1] != self.n_markers_:
            raise ValidationError(f"{self.name}: expected [n, {self.n_markers_}] genotypes, got {arr.shape}")
        out = np.ascontiguousarray(self._transform(arr), dtype=np.float32)
        if is_torch:
            import torch

            return torch.from_numpy(out)
        return out

    def _need_markers(self, available: int) -> None:
        if available < self.n_features:
            raise ValidationError(
                f"{self.name}: n_features={self.n_features} but the training individuals have only "
                f"{available} polymorphic markers"
            )

    def _fit(self, x, y, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_kinship(self, x, y, rng, kinship):
        """Only selectors that use the decomposition of ``x x^T`` (pca) override this."""
        self._fit(x, y, rng)

    def _transform(self, x):  # pragma: no cover - abstract
        raise NotImplementedError


class _MarkerSubset(_Selector):
    """Selectors that keep a subset of markers: features are those markers' values."""

    def _choose(self, scores: np.ndarray) -> None:
        """Keep the n_features polymorphic markers with the highest scores (ties: lower index)."""
        self._need_markers(int(self.polymorphic_.sum()))
        scores = np.where(self.polymorphic_, scores, -np.inf)
        self.markers_ = np.sort(np.argsort(-scores, kind="stable")[: self.n_features])

    def _transform(self, x):
        return x[:, self.markers_]
