"""The eleven built-in feature selectors of the original GPFN, vectorized.

All take the encoded training matrix (centred minor-allele counts, see
:mod:`gpfn_core.preprocess`) and standardised phenotypes, accept numpy arrays or torch
tensors (a tensor in gives a tensor out), are deterministic given ``seed``, return
exactly ``n_features`` columns or raise a :class:`ValidationError` saying why, and
never select a marker that is monomorphic in the training individuals.

Where a definition departs from the original GPFN's (scikit-learn based) one, the
class docstring says how and why.
"""

from __future__ import annotations

import numpy as np

from gpfn_core import FeatureSelector, hookimpl
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
    holds already (:class:`gpfn_core.gblup.Kinship`; ``x`` centred, as encoded genotypes
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


class Correlation(_MarkerSubset):
    """The markers most correlated (|Pearson r|) with the phenotype."""

    name = "correlation"
    description = "markers with the largest |correlation| with the phenotype"

    def _fit(self, x, y, rng):
        self._choose(_correlations(x, y))


class MutualInformation(_MarkerSubset):
    """The markers sharing most information with the phenotype.

    The original used scikit-learn's k-nearest-neighbour estimator (seconds per marker
    set); genotypes are discrete, so here the plug-in estimate between the genotype
    class and the phenotype in 8 quantile bins is computed for all markers at once.
    """

    name = "mi"
    description = "markers with the largest mutual information with the phenotype (genotype class x phenotype bins)"
    n_bins = 8

    def _fit(self, x, y, rng):
        n = x.shape[0]
        bins = max(2, min(self.n_bins, n // 5))
        edges = np.quantile(y, np.linspace(0, 1, bins + 1)[1:-1])
        yb = np.searchsorted(edges, y, side="right")
        y_onehot = np.eye(bins, dtype=np.float32)[yb]  # [n, B]
        cls = np.rint(x - x.min(0)).clip(0, 2)
        joint = np.stack([(cls == c).astype(np.float32).T @ y_onehot for c in range(3)]) / n  # [3, m, B]
        px = joint.sum(2, keepdims=True)
        py = joint.sum((0, 1), keepdims=True) / joint.sum((0, 2), keepdims=True).clip(_EPS)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(joint > 0, joint * np.log(joint / (px * py)), 0.0)
        self._choose(terms.sum((0, 2)))


class Regression(_MarkerSubset):
    """The markers with the largest |coefficient| in an elastic net.

    As the original: alpha 0.015, no intercept.  To bound the cost on tens of
    thousands of markers, the net is fitted (FISTA, 300 iterations) on the
    ``max(10 n_features, 1000)`` markers most correlated with the phenotype; ties among
    zero coefficients are broken by that correlation.
    """

    name = "regression"
    description = "markers with the largest |elastic-net coefficient| (alpha 0.015, l1_ratio 0.5)"
    alpha, l1_ratio, iterations = 0.015, 0.5, 300

    def _fit(self, x, y, rng):
        self._need_markers(int(self.polymorphic_.sum()))
        corr = np.where(self.polymorphic_, _correlations(x, y), -1.0)
        pool = np.argsort(-corr, kind="stable")[: min(int(self.polymorphic_.sum()), max(10 * self.n_features, 1000))]
        xs = x[:, pool].astype(np.float64)
        n = xs.shape[0]
        lip = np.linalg.norm(xs, 2) ** 2 / n + self.alpha * (1 - self.l1_ratio)
        w = z = np.zeros(xs.shape[1])
        t = 1.0
        for _ in range(self.iterations):
            grad = xs.T @ (xs @ z - y) / n + self.alpha * (1 - self.l1_ratio) * z
            v = z - grad / lip
            w_new = np.sign(v) * np.maximum(np.abs(v) - self.alpha * self.l1_ratio / lip, 0.0)
            t_new = (1 + np.sqrt(1 + 4 * t * t)) / 2
            z = w_new + (t - 1) / t_new * (w_new - w)
            w, t = w_new, t_new
        self.coef_ = w
        scores = np.full(x.shape[1], -np.inf)
        scores[pool] = np.abs(w) + 1e-6 * corr[pool]  # zeros ordered by correlation
        self._choose(scores)


class Sequential(_MarkerSubset):
    """Forward selection with decision trees, bounded.

    The original ran scikit-learn's SequentialFeatureSelector with a full decision tree
    (cross-validated refits for every candidate at every step: hours on 20k markers).
    Here each step fits a depth-1 regression tree (stump: a split of the genotype
    classes) on the current residual for every candidate, keeps the marker with the
    largest reduction of squared error, and subtracts its fit (boosting).  Cost is
    bounded: candidates are the ``max(20 n_features, 500)`` markers most correlated
    with the phenotype, so each step is one ``[n, candidates]`` pass.
    """

    name = "sequential"
    description = "forward selection of markers by boosted decision stumps (bounded candidate pool)"

    def _fit(self, x, y, rng):
        n_poly = int(self.polymorphic_.sum())
        self._need_markers(n_poly)
        corr = np.where(self.polymorphic_, _correlations(x, y), -1.0)
        pool = np.argsort(-corr, kind="stable")[: min(n_poly, max(20 * self.n_features, 500))]
        cls = np.rint(x[:, pool] - x[:, pool].min(0)).clip(0, 2)
        onehot = np.stack([(cls == c).astype(np.float32) for c in range(3)])  # [3, n, P]
        counts = onehot.sum(1)  # [3, P]
        r = (y - y.mean()).astype(np.float32)
        chosen = np.zeros(pool.size, bool)
        order = []
        for _ in range(self.n_features):
            sums = np.einsum("cnp,n->cp", onehot, r)
            best_gain, best_split = np.full(pool.size, -np.inf), np.zeros(pool.size, np.int64)
            for split in (1, 2):  # classes < split go left
                nl, sl = counts[:split].sum(0), sums[:split].sum(0)
                nr, sr = counts[split:].sum(0), sums[split:].sum(0)
                ok = (nl > 0) & (nr > 0)
                gain = np.where(ok, sl**2 / np.maximum(nl, 1) + sr**2 / np.maximum(nr, 1), -np.inf)
                better = gain > best_gain
                best_gain, best_split = np.where(better, gain, best_gain), np.where(better, split, best_split)
            best_gain[chosen] = -np.inf
            j = int(np.argmax(best_gain))
            chosen[j] = True
            order.append(pool[j])
            left = cls[:, j] < best_split[j]
            r = r - np.where(left, r[left].mean() if left.any() else 0, r[~left].mean() if (~left).any() else 0)
        self.order_ = np.array(order)
        self.markers_ = np.sort(self.order_)


class Greedy(_MarkerSubset):
    """Unsupervised, covariance-based: start from the most variable marker, then keep
    adding the marker least covarying (largest |covariance| with any chosen marker is
    smallest) with those already chosen.

    As the original, markers whose commonest genotype class exceeds 95% are skipped
    (the original wrote 0.85 but its error message said 95%).  Unlike the original,
    which built the full m x m covariance matrix (3 GB for 20k markers), each step
    computes one covariance row, and redundancy is |covariance| rather than signed.
    """

    name = "greedy"
    description = "greedy least-redundant markers by covariance, starting from the most variable one"
    max_class_frequency = 0.95

    def _fit(self, x, y, rng):
        n = x.shape[0]
        cls = np.rint(x - x.min(0)).clip(0, 2)
        top_class = np.max(np.stack([(cls == c).mean(0) for c in range(3)]), axis=0)
        usable = self.polymorphic_ & (top_class <= self.max_class_frequency)
        if usable.sum() < self.n_features:
            raise ValidationError(
                f"{self.name}: n_features={self.n_features} but only {int(usable.sum())} markers have no genotype "
                f"class above {self.max_class_frequency:.0%} in the training individuals"
            )
        xc = x - x.mean(0)
        var = (xc * xc).sum(0) / n
        first = int(np.argmax(np.where(usable, var, -np.inf)))
        worst = np.abs(xc[:, first] @ xc) / n
        worst[~usable] = np.inf
        chosen = [first]
        worst[first] = np.inf
        for _ in range(1, self.n_features):
            j = int(np.argmin(worst))
            chosen.append(j)
            worst = np.maximum(worst, np.abs(xc[:, j] @ xc) / n)
            worst[j] = np.inf
        self.order_ = np.array(chosen)
        self.markers_ = np.sort(self.order_)


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


@hookimpl
def gpfn_feature_selectors():
    return [Greedy, Correlation, MutualInformation, Sequential, Regression, RandomProjection, Relationship,
            Composite, PCA, StridedPCA, Downsample]
