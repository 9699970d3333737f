"""The ``sparse`` smoother: GBLUP with a marker-weighted kernel, cross-fitted.

The kernel weighs the markers most associated with the phenotype; its training rows
get weights estimated without their own fold, and each fold's leave-one-out values
come from a Schur complement instead of a decomposition of the whole kernel.
"""

from __future__ import annotations

import numpy as np

from gpfn_core.linear.kinship import Kinship, marker_space, relationship_scale
from gpfn_core.linear.smoothers import H2_GRID, _loo_columns, smoother_features

SPARSE_TOP = 1000  # markers kept by the marker-weighted kernel
SPARSE_FOLDS = 5  # cross-fitting folds of the marker weights for the training rows


def marker_weights(x: np.ndarray, y: np.ndarray, top: int = SPARSE_TOP) -> tuple[np.ndarray, np.ndarray]:
    """The ``top`` markers by marginal association with ``y`` and their weights z^4 (z^2: the
    marginal regression's chi-square), so a few strong markers dominate the kernel."""
    return fold_marker_weights(x, y, None, top)[-1]


def fold_marker_weights(x: np.ndarray, y: np.ndarray, fold: np.ndarray | None,
                        top: int = SPARSE_TOP) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`marker_weights` without each fold (``fold[i]`` in 0..k-1), then with every row,
    from one pass over ``x``: the marginal regressions' sums (of x, x^2 and x y) per fold,
    so a fold's weights are the totals minus its own rows (k + 1 results; ``fold`` None:
    only the last)."""
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    wanted = fold is not None  # None: one group holding every row, and only the all-rows result
    fold = np.asarray(fold) if wanted else np.zeros(len(x), np.int64)
    k = int(fold.max()) + 1 if fold.size else 0
    ind = np.zeros((k + 1, len(x)), np.float64)  # rows 0..k-1: each fold's members; row k: nobody
    ind[fold, np.arange(len(x))] = 1.0
    n_f = ind.sum(1)
    ind32 = ind.astype(np.float32)
    s_f = ind32 @ x  # [k+1, m] sums of x per fold
    q_f = _fold_sums_of_squares(ind32, x)  # sums of x^2
    xy_f = (ind * y).astype(np.float32) @ x  # sums of x y
    sy_f, syy_f = ind @ y, ind @ (y * y)
    s_all, q_all, xy_all = (a.sum(0, dtype=np.float64) for a in (s_f, q_f, xy_f))  # totals over every row
    out = []
    for f in [*range(k if wanted else 0), k]:  # the rows outside fold f (f = k: all rows)
        n = len(x) - n_f[f]
        s = s_all - s_f[f]
        mean, ybar = s / max(n, 1), (sy_f.sum() - sy_f[f]) / max(n, 1)
        ss = (q_all - q_f[f]) - n * mean**2
        num = (xy_all - xy_f[f]) - ybar * s  # sum (x - xbar)(y - ybar)
        rss = max(float(syy_f.sum() - syy_f[f] - n * ybar**2), 1e-12)
        z2 = np.where(ss > 1e-6, num**2 / np.maximum(ss, 1e-6) / rss * max(n - 2, 1), 0.0)
        t = min(top, x.shape[1])
        idx = np.sort(np.argpartition(-z2, t - 1)[:t])
        out.append((idx, (z2[idx] ** 2).astype(np.float32) + 1e-6))
    return out


def _fold_sums_of_squares(ind: np.ndarray, x: np.ndarray, rows: int = 64) -> np.ndarray:
    """``ind @ x**2`` without an ``x``-sized temporary: squares ``rows`` rows at a time into
    one small buffer (half the time of the whole-matrix square on 500 x 12,000)."""
    out = np.zeros((len(ind), x.shape[1]), np.float32)
    buf = np.empty((min(rows, len(x)), x.shape[1]), np.float32)
    for i in range(0, len(x), rows):
        b = buf[: min(rows, len(x) - i)]
        np.square(x[i : i + rows], out=b)
        out += ind[:, i : i + rows] @ b
    return out


def sparse_smoother_features(x_train: np.ndarray, y: np.ndarray, x_target: np.ndarray,
                             h2_grid: tuple[float, ...] = H2_GRID, top: int = SPARSE_TOP,
                             folds: int = SPARSE_FOLDS) -> tuple[np.ndarray, np.ndarray]:
    """:func:`smoother_features` with a marker-weighted kernel: marker-level evidence for sparse traits.

    The kernel is ``x W x^T`` over the ``top`` markers most associated with the
    phenotype, W = z^4 (:func:`marker_weights`); with a few large QTL it is far more
    accurate than GBLUP, with a polygenic trait it is noise, and the model learns from
    the prior which it faces.  The weights are cross-fitted for the training rows: a
    training individual's features come from weights estimated without its fold, so its
    own phenotype never reaches its features (the leave-one-out values would otherwise
    look better than the targets' will be).  Targets use weights from every training
    individual.  All closed form: marginal regressions, one decomposition of the kernel
    for the targets and, per fold, one of the other folds' rows (:func:`leave_one_out_rows`).
    """
    xt = np.asarray(x_train, dtype=np.float32)
    xv = np.asarray(x_target, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    nt = len(xt)
    k = min(folds, nt)  # small training sets: leave-one-out weights
    fold = np.random.default_rng(nt).permutation(nt) % k if k >= 2 else None
    weights = fold_marker_weights(xt, y, fold, top)
    idx, w = weights[-1]
    sw = np.sqrt(w)
    f_train, f_target = smoother_features(xt[:, idx] * sw, y, xv[:, idx] * sw, h2_grid)
    if k >= 2:
        for f in range(k):
            idx, w = weights[f]
            rows = fold == f
            f_train[rows] = leave_one_out_rows(xt[:, idx] * np.sqrt(w), y, rows, h2_grid)
    return f_train, f_target


def leave_one_out_rows(z: np.ndarray, y: np.ndarray, rows: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID
                       ) -> np.ndarray:
    """``[rows.sum(), 2G]``: :func:`smoother_features`' training columns (leave-one-out mean
    and sd at each h2, kernel ``z z^T`` scaled to mean diagonal one over *every* row) for
    the rows ``rows`` (bool ``[n]``) only, equal to them up to rounding.

    Only the wanted rows F of ``A^-1`` (``A = K + delta I``) are formed, never the whole
    kernel's decomposition.  With fewer markers than the other rows R, in marker space
    (:func:`_woodbury_rows`): one decomposition of ``z^T z`` serves every h2 and every row.
    Otherwise the other rows are eliminated: the block of ``A^-1`` on F is ``S^-1``, S the
    Schur complement ``A_FF - K_FR A_RR^-1 K_RF``, and ``(A^-1 y)_F = S^-1 (y_F - K_FR
    A_RR^-1 y_R)``; one decomposition of ``K_RR`` serves every h2, and the rest are
    |F|-sized.  The sparse smoother's cross-fitting needs the leave-one-out values of one
    fold per kernel, so each fold costs a decomposition of 4/5 of the rows (about half the
    work) instead of all, or of the markers' m x m product where that is smaller.
    """
    z = np.asarray(z, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64)
    rows = np.asarray(rows, dtype=bool)
    scale = relationship_scale(z)
    h2 = np.asarray(h2_grid, dtype=np.float64)
    delta = (1.0 - h2) / h2
    if z.shape[1] <= int((~rows).sum()):
        alpha, c_ii = _woodbury_rows(z, y, rows, scale, delta)
        return _loo_columns(y[rows], alpha, c_ii, h2)
    zr, zf = z[~rows], z[rows]
    kin = Kinship.of(zr)  # n-space: more markers than rows
    u, lam = kin.u, kin.lam / scale
    p = kin.coordinates(zr, zf).T / scale  # U^T K_RF, [r, F]
    uy = u.T @ y[~rows]  # y_R outside the span of u meets K_FR in 0
    kff = (zf @ zf.T) / scale
    d = 1.0 / (lam[None, :] + delta[:, None])  # [G, r]
    # the Schur complements and their inverses in single precision (half the time): S >= delta I,
    # delta >= 0.11, and the kernel is scaled to a mean diagonal of one, so rounding stays near 1e-6
    p32, eye = p.astype(np.float32), np.eye(len(zf), dtype=np.float32)
    schur = np.stack([kff + np.float32(dl) * eye - p32.T @ (dg.astype(np.float32)[:, None] * p32)
                      for dl, dg in zip(delta, d)])
    inv = np.linalg.inv(schur).astype(np.float64)  # [G, F, F]: the block of (K + delta I)^-1 on the rows F
    alpha = np.einsum("gfh,gh->gf", inv, y[rows][None, :] - (d * uy) @ p)
    return _loo_columns(y[rows], alpha, np.einsum("gff->gf", inv), h2)


def _woodbury_rows(z: np.ndarray, y: np.ndarray, rows: np.ndarray, scale: float, delta: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(A^-1 y)_F`` and the diagonal of ``A^-1`` on the rows F (both ``[G, |F|]``) for
    ``A = z z^T / scale + delta I`` at each delta, in marker space: with ``w = z / sqrt(scale)``
    and ``w^T w = V diag(mu) V^T``, ``A^-1 = (I - w V diag(1 / (delta + mu)) V^T w^T) / delta``
    (Woodbury), so a row needs only its coordinates ``w_F V``.  Double precision, by the
    decomposition :meth:`Kinship.of` works in marker space with (:func:`marker_space`; the
    weighted markers are ill-conditioned)."""
    w = z.astype(np.float64) / np.sqrt(scale)
    mu, v = marker_space(w)
    wf = w[rows] @ v  # [F, r]: the wanted rows' coordinates
    vy = v.T @ (w.T @ y)  # [r]
    inv = 1.0 / (delta[:, None] + mu[None, :])  # [G, r]
    c_ii = (1.0 - inv @ (wf * wf).T) / delta[:, None]
    alpha = (y[rows][None, :] - (inv * vy) @ wf.T) / delta[:, None]
    return alpha, c_ii
