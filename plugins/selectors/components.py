"""Selectors that make new features: window means, principal components (whole genome and
by window), sparse random projections, relationships with anchor individuals, and the
composite of relationships and correlated markers."""

from __future__ import annotations

import numpy as np

from gpfn_core.errors import ValidationError
from gpfn_plugins.selectors._base import _EPS, _Selector, _components_of, _top_components
from gpfn_plugins.selectors.markers import Correlation

class Downsample(_Selector):
    """Mean of each of ``n_features`` contiguous windows of markers (genome order)."""

    name = "downsample"
    description = "mean of n_features contiguous marker windows"

    def _fit(self, x, y, rng):
        self._need_markers(int(self.polymorphic_.sum()))
        self.edges_ = np.linspace(0, x.shape[1], self.n_features + 1).round().astype(np.int64)

    def _transform(self, x):
        lo, hi = self.edges_[:-1], self.edges_[1:]
        return np.add.reduceat(x, lo, axis=1) / (hi - lo).astype(np.float32)


class PCA(_Selector):
    """Principal components of the training individuals (randomized, deterministic).

    A training set whose genotypes have rank below ``n_features`` (fewer individuals
    than features, e.g. 42 phenotyped lines and 100 features) gets all of its
    components and zero columns for the rest: a component with no variance, which is
    what the missing directions are.
    """

    name = "pca"
    description = "principal components fitted on the training individuals"

    def _fit(self, x, y, rng):
        self._fit_kinship(x, y, rng, None)

    def _fit_kinship(self, x, y, rng, kinship):
        rank = min(x.shape[0] - 1, int(self.polymorphic_.sum()))
        self.mean_ = x.mean(0)
        k = min(self.n_features, max(rank, 0))
        self.kinship_ = self.signs_ = None  # for transform_kinship: set when fitted on a kinship
        if not k:
            comps = np.zeros((x.shape[1], 0), np.float32)
        elif kinship is not None:  # the smoother's decomposition of x x^T (x is centred): no second one
            comps, self.signs_ = _components_of(x, kinship, k)
            self.kinship_ = kinship
        else:
            comps = _top_components(x, k, rng)
        self.components_ = np.concatenate([comps, np.zeros((x.shape[1], self.n_features - k), np.float32)], axis=1)

    def transform_kinship(self, kinship, target_coordinates):
        """Training features ``u s`` and target features ``coordinates / s`` of the top
        components (``x V = x x^T u / s``), signed as :attr:`components_`: what
        :meth:`transform` gives, without the two [n, markers] x [markers, k] products."""
        if kinship is None or kinship is not getattr(self, "kinship_", None):
            return None
        k = len(self.signs_)
        order = kinship.top_order(k)
        s = np.sqrt(np.maximum(kinship.lam[order], _EPS))
        c = self.mean_ @ self.components_  # transform's offset (about 0: the columns are centred)

        def fill(f: np.ndarray) -> np.ndarray:
            out = np.zeros((len(f), self.n_features), np.float32)
            out[:, :k] = f * self.signs_
            return out - c

        return fill(kinship.u[:, order] * s), fill(np.asarray(target_coordinates)[:, order] / s)

    def _transform(self, x):
        return x @ self.components_ - self.mean_ @ self.components_


class StridedPCA(_Selector):
    """Principal components within contiguous windows of the genome.

    As the original: 20 windows (fewer when n_features < 20), each contributing its
    share of components; unlike it, the remainder of ``n_features / windows`` goes to
    the first windows, so exactly ``n_features`` come back.
    """

    name = "strided_pca"
    description = "principal components within 20 contiguous genome windows"
    n_windows = 20

    def _fit(self, x, y, rng):
        w = min(self.n_windows, self.n_features)
        edges = np.linspace(0, x.shape[1], w + 1).round().astype(np.int64)
        per = np.full(w, self.n_features // w) + (np.arange(w) < self.n_features % w)
        self.windows_, self.means_, self.components_ = [], [], []
        for lo, hi, k in zip(edges[:-1], edges[1:], per):
            xw = x[:, lo:hi]
            rank = min(x.shape[0] - 1, int(self.polymorphic_[lo:hi].sum()))
            if k > rank:
                raise ValidationError(
                    f"{self.name}: window of markers {lo}..{hi - 1} needs {k} components but its rank is {rank}"
                )
            self.windows_.append((lo, hi))
            self.means_.append(xw.mean(0))
            self.components_.append(_top_components(xw, int(k), rng))

    def _transform(self, x):
        return np.concatenate(
            [x[:, lo:hi] @ c - mu @ c for (lo, hi), mu, c in zip(self.windows_, self.means_, self.components_)], axis=1
        )


class RandomProjection(_Selector):
    """Sparse random projection (Li et al. 2006 density 1/sqrt(m)), as scikit-learn's."""

    name = "rp"
    description = "sparse random projection (density 1/sqrt(markers))"

    def _fit(self, x, y, rng):
        self._need_markers(int(self.polymorphic_.sum()))  # more would only add linearly dependent features
        m, k = x.shape[1], self.n_features
        density = 1.0 / np.sqrt(m)
        nonzero = rng.random((m, k)) < density
        signs = rng.choice(np.array([-1.0, 1.0], np.float32), (m, k))
        self.projection_ = np.where(nonzero, signs, 0.0).astype(np.float32) * np.float32(
            np.sqrt(1.0 / density) / np.sqrt(k)
        )

    def _transform(self, x):
        return x @ self.projection_


class Relationship(_Selector):
    """Genomic relationships (VanRaden) with ``n_features`` anchor training individuals.

    G(a, b) = x_a . x_b / sum_j var(x_j) on the centred encoding, so the mean diagonal
    is about one.  Anchors are training individuals drawn with ``seed`` (the original
    took the first ones of training + target, and padded with zero columns when too
    few; here too few training individuals is an error).
    """

    name = "g"
    description = "genomic relationship with n_features anchor training individuals"

    def _fit(self, x, y, rng):
        if x.shape[0] < self.n_features:
            raise ValidationError(
                f"{self.name}: n_features={self.n_features} needs as many training individuals (anchors), "
                f"got {x.shape[0]}"
            )
        self.mean_ = x.mean(0)
        xc = x - self.mean_
        scale = float((xc * xc).sum() / x.shape[0])
        if not scale > _EPS:
            raise ValidationError(f"{self.name}: every marker is monomorphic in the training individuals")
        self.anchors_ = np.sort(rng.choice(x.shape[0], self.n_features, replace=False))
        self.anchor_x_ = xc[self.anchors_] / np.float32(scale)

    def _transform(self, x):
        return x @ self.anchor_x_.T - self.mean_ @ self.anchor_x_.T


class Composite(_Selector):
    """Half relationship columns (``g``), half most-correlated markers (``correlation``).

    The original appended a variable number of relationship columns (one per
    individual); here the split is fixed so the width is always ``n_features``.
    """

    name = "composite"
    description = "genomic relationship columns + most-correlated markers, half each"

    def _fit(self, x, y, rng):
        if self.n_features < 2:
            raise ValidationError(f"{self.name}: n_features must be >= 2 (one of each kind), got {self.n_features}")
        half = self.n_features // 2
        try:
            self.parts_ = (Relationship(half, self.seed).fit(x, y),
                           Correlation(self.n_features - half, self.seed).fit(x, y))
        except ValidationError as exc:
            raise ValidationError(f"{self.name}: {exc}") from None

    def _transform(self, x):
        return np.concatenate([p.transform(x) for p in self.parts_], axis=1)
