"""The training individuals' genomic relationships and their one eigendecomposition.

K is the VanRaden genomic relationship matrix of centred minor-allele counts
(:class:`~gpfn_core.data.encoding.Encoding`), scaled so that its mean training diagonal
is one.  :class:`Kinship` decomposes the training relationships once per population;
GBLUP's smoothers, the family and QTL anchors and the ``pca`` selector all reuse it.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass

import numpy as np

from gpfn_core.data.encoding import is_lazy
from gpfn_core.errors import ValidationError


def relationship(x_train: np.ndarray, x_target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K among training individuals ``[nt, nt]`` and target x training ``[nv, nt]``.

    The encoded genotypes may be Dask arrays (read chunk by chunk from Zarr Datasets,
    ``docs/scale.md``): the products then run blockwise wherever Dask schedules them (a
    local or a distributed cluster), both in one pass over the genotypes, and come back
    as numpy arrays; only these n x n products need to fit in memory here."""
    scale = relationship_scale(x_train)
    if is_lazy(x_train):
        import dask

        k_tt, k_vt = dask.compute((x_train @ x_train.T) / scale, (x_target @ x_train.T) / scale)
        return np.asarray(k_tt), np.asarray(k_vt)
    # by row blocks: numpy's single x x^T (BLAS syrk) crashed with SIGSEGV at 16,000 x 10,000 in float64
    x_train, x_target = np.asarray(x_train), np.asarray(x_target)
    k_tt = np.empty((len(x_train), len(x_train)), dtype=np.result_type(x_train.dtype, np.float32))
    for i in range(0, len(x_train), RELATIONSHIP_BLOCK):
        k_tt[i:i + RELATIONSHIP_BLOCK] = x_train[i:i + RELATIONSHIP_BLOCK] @ x_train.T
    k_tt /= scale
    return k_tt, (x_target @ x_train.T) / scale


RELATIONSHIP_BLOCK = 4096  # rows of x x^T formed at a time


def squared_distances(k: np.ndarray, d_rows: np.ndarray, d_cols: np.ndarray, dtype=np.float64) -> np.ndarray:
    """``[rows, cols]`` squared Euclidean distances between encoded genotypes in the units of the
    relationships ``k`` (rows x cols), from them and the two sides' diagonals ``d``:
    d_i + d_j - 2 k_ij, at least 0, in ``dtype`` (float32 halves an n x n array)."""
    out = (-2.0 * np.asarray(k)).astype(dtype)
    out += np.asarray(d_rows)[:, None].astype(dtype)
    out += np.asarray(d_cols)[None, :].astype(dtype)
    return np.maximum(out, 0.0, out=out)


def distance_scale(d_tt: np.ndarray) -> float:
    """The median of the training individuals' squared distances ``d_tt`` over pairs: the unit of
    the Gaussian kernels' bandwidths (the mean where most pairs are identical, 1 where all are)."""
    pairs = d_tt[np.triu_indices(len(d_tt), 1)]
    med = float(np.median(pairs)) if pairs.size else 0.0
    if not med > 0:
        med = float(pairs.mean()) if pairs.size and pairs.mean() > 0 else 1.0
    return med


def relationship_scale(x_train: np.ndarray) -> float:
    """Mean diagonal of ``x x^T`` over the training individuals: the VanRaden scale that
    gives K a mean diagonal of one."""
    # squared row norms in the input's own precision (float32: 5x the speed of a float64 einsum), summed in float64
    scale = float(np.einsum("ij,ij->i", x_train, x_train).sum(dtype=np.float64)) / max(len(x_train), 1)
    if not scale > 0:
        raise ValidationError("GBLUP: every marker is monomorphic in the training individuals")
    return scale


def symmetric_eigh(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the symmetric float32 matrix ``a``, as float64.

    LAPACK's divide-and-conquer solver (``syevd``) in single precision: half the time of
    numpy's double-precision ``eigh`` on the n x n relationship matrices every draw and
    every prediction decomposes (96 ms against 186 ms at n = 990, one core).  Single
    precision is ample here: the smoothers add delta >= 0.11 (h2 <= 0.9) to eigenvalues
    scaled to a mean of one, so rounding of order 1e-7 relative moves their outputs by
    about 1e-5.  ``a`` is overwritten.

    scipy's LAPACK comes with its own BLAS thread pool, beside numpy's.  Below
    :data:`EIGH_THREADS_FROM` rows the solve runs on one thread: two pools that each
    start a thread per core and take turns on many small matrices spin against each
    other (a NAM draw at population 300 took 0.25 s on two threads against 0.08 s on
    one); a large matrix keeps every thread (n = 3,000: 1.3 s on two, 2.3 s on one).
    """
    from scipy.linalg import eigh

    a = np.asarray(a, dtype=np.float32)
    threads = (_blas_threads().limit(limits=1, user_api="blas") if len(a) < EIGH_THREADS_FROM
               else contextlib.nullcontext())
    with threads:
        lam, u = eigh(a, driver="evd", overwrite_a=True, check_finite=False)
    return lam.astype(np.float64), u.astype(np.float64)


MARKER_SPACE_FLOOR = 1e-10  # eigenvalues of x^T x kept, relative to the largest (rounding is ~1e-13)


def marker_space(x64: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors ``[m, r]`` of ``x^T x`` for float64 ``x``
    ``[n, m]``, the directions with an eigenvalue below :data:`MARKER_SPACE_FLOOR` of the
    largest left out (monomorphic markers, rounding: x has no variance there)."""
    from scipy.linalg import eigh

    lam, v = eigh(x64.T @ x64, driver="evd", overwrite_a=True, check_finite=False)
    kept = lam > MARKER_SPACE_FLOOR * max(float(lam.max()), 1e-300)
    return lam[kept], v[:, kept]


EIGH_THREADS_FROM = 1500  # rows from which symmetric_eigh uses every BLAS thread


@functools.cache
def _blas_threads():
    """The BLAS libraries loaded once scipy.linalg is (numpy's and scipy's), made once:
    a ThreadpoolController's limit() then costs 0.02 ms, threadpool_limits' scan 0.8 ms."""
    import scipy.linalg  # noqa: F401 (loads scipy's BLAS, so the controller sees it)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@dataclass(frozen=True)
class Kinship:
    """The training individuals' relationships ``x x^T``, decomposed once per population.

    ``x`` holds encoded (centred) training genotypes ``[n, m]``; ``x x^T = u diag(lam) u^T``
    with ``u`` ``[n, r]`` orthonormal and ``lam`` ``[r]`` >= 0 (unscaled), r = min(n, m).
    When markers are fewer than individuals it is the thin SVD of ``x`` and ``vt``
    ``[r, m]`` holds the right singular vectors (else None), from the m x m eigenproblem of
    ``x^T x``, so the cost follows the smaller of n and m.  ``scale`` is
    :func:`relationship_scale`.  The ``gblup`` smoother uses all of it and the ``pca``
    selector its top components (:meth:`~gpfn_core.interfaces.FeatureSelector.fit_kinship`),
    so preprocessing decomposes the training relationships once, not twice.  ``gram``:
    ``x x^T`` itself (float32, unscaled) when :meth:`of` was asked to keep it and formed it
    (more markers than individuals), for the family kernels, which would otherwise
    recompose it from ``u`` and ``lam`` (n^3 flops in double precision).
    """

    u: np.ndarray  # float64 [n, r]
    lam: np.ndarray  # float64 [r], ascending
    vt: np.ndarray | None  # float64 [r, m] (markers < individuals) or None
    scale: float
    gram: np.ndarray | None = None  # float32 [n, n] or None

    def relationships(self) -> np.ndarray:
        """float64 ``[n, n]``: K, the relationships scaled to a mean diagonal of one (``gram``
        when kept, else ``u diag(lam) u^T``)."""
        if self.gram is not None:
            return self.gram.astype(np.float64) / self.scale
        return (self.u * (self.lam / self.scale)) @ self.u.T

    @classmethod
    def of(cls, x_train: np.ndarray, keep: bool = False) -> Kinship:
        xt = np.asarray(x_train, dtype=np.float32)
        scale = relationship_scale(xt)
        if xt.shape[1] < len(xt):  # rank <= markers: work in marker space, the rest has eigenvalue 0
            # x^T x = v diag(lam) v^T (m x m: m^3, not n^3) and u = x v / sqrt(lam): the thin SVD of x
            # at a third of its time (5,000 x 4,000: 7.3 s against 21.7 s), in double precision as
            # the SVD was (the sparse smoother's weighted markers are ill-conditioned; the square
            # of their condition number must stay representable).  Directions with lam below
            # MARKER_SPACE_FLOOR of the largest (monomorphic markers, rounding) are left out:
            # x has no variance there, as in the rest of the space.
            x64 = xt.astype(np.float64)
            lam, v = marker_space(x64)
            u = (x64 @ v) / np.sqrt(lam)
            return cls(u, lam, np.ascontiguousarray(v.T), scale)
        gram = xt @ xt.T
        lam, u = symmetric_eigh(gram.copy() if keep else gram)
        return cls(u, np.maximum(lam, 0.0), None, scale, gram if keep else None)

    def top(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` largest eigenvalues (descending) and their columns of ``u``."""
        order = self.top_order(k)
        return self.lam[order], self.u[:, order]

    def top_order(self, k: int) -> np.ndarray:
        """Positions in ``lam`` of the ``k`` largest eigenvalues, largest first."""
        return np.argsort(-self.lam, kind="stable")[:k]

    def coordinates(self, x_train: np.ndarray, x_other: np.ndarray) -> np.ndarray:
        """float64 ``[n_other, r]``: ``x_other x_train^T u`` (unscaled), the relationships of other
        individuals to the training ones in the eigenbasis.  The ``gblup`` smoother's targets
        and the ``pca`` selector's target features both come from it, so preprocessing
        forms the target x training products once (float32 products: half the time)."""
        return self.products(x_train, x_other)[0]

    def products(self, x_train: np.ndarray, x_other: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`coordinates`, and the float32 ``x_other x_train^T`` they were made from (None in
        marker space, where they come from ``vt`` without it): the family kernels need it too."""
        xv = np.asarray(x_other, dtype=np.float32)
        if self.vt is not None:  # x_v x_t^T u = x_v v s
            return (xv.astype(np.float64) @ self.vt.T) * np.sqrt(self.lam), None
        cross = xv @ np.asarray(x_train, dtype=np.float32).T
        return (cross @ self.u.astype(np.float32)).astype(np.float64), cross
