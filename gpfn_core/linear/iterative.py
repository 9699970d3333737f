"""GBLUP without an n x n matrix: conjugate gradients through the genotypes, REML by
randomised traces.

The model is :mod:`gpfn_core.linear.gblup`'s: y = 1 mu + g + e, g ~ N(0, sg2 K), e ~ N(0,
se2 I), K = x x^T / s the VanRaden relationships of the centred minor-allele counts x
(s their mean squared row norm, so K has a mean diagonal of one), delta = se2 / sg2.
Every product with K is x (x^T v) / s, two passes over the n x m genotypes and O(n m)
flops, so memory is the genotypes themselves and the time grows linearly in n for a
fixed number of iterations (BOLT-LMM's and GCTA's route past the dense limit):

- **Preconditioner.** The top ``rank`` eigenpairs of K by randomised subspace iteration
  (Halko et al. 2011; a few block products with K).  With K ~ U S U^T on them, M^-1 =
  U (S + delta)^-1 U^T + (I - U U^T) / delta inverts V = K + delta I exactly on that
  subspace, so conjugate gradients only have to resolve the flat rest of the spectrum
  (population structure sits in the top eigenvalues).
- **REML.** With P the REML projector, the derivative of the restricted log-likelihood
  (se2 profiled out) in delta vanishes where tr(P) y^T P y = (n - 1) y^T P^2 y
  (Kang et al. 2008's likelihood, differentiated).  tr(P) = tr(V^-1) - 1^T V^-2 1 /
  1^T V^-1 1; tr(V^-1) is the preconditioner's part plus Hutchinson's Rademacher probes
  of the rest (a control variate, unbiased).  The probes are fixed (a seeded generator),
  so the equation is a smooth function of log delta: bracketed on a grid, solved by
  Brent's method; every evaluation is one block conjugate-gradient solve for y, 1 and the
  probes, warm-started from the last.
- **BLUP** as the dense path: mu = 1^T V^-1 y / 1^T V^-1 1, targets x_v x_t^T V^-1 (y - mu) / s.

Where both run with a thousand or more training individuals, its predictions correlate
with the dense path's above 0.9999 (what differs is the probes' noise in delta, which
shrinks as n grows); ``tests/gpfn_core/linear/test_iterative.py`` checks them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpfn_core.data.encoding import Encoding
from gpfn_core.errors import GpfnError
from gpfn_core.linear.gblup import GblupResult, training_phenotypes
from gpfn_core.linear.kinship import relationship_scale

RANK = 64  # eigenpairs of K in the preconditioner
PROBE_BUDGET = 36_000  # probes x training individuals: the trace's relative noise goes as 1 / sqrt(probes n)
PROBES = (8, 64)  # the fewest and the most Rademacher probes of the trace
TOL = 1e-5  # relative residual at which conjugate gradients stop (the products are float32)
MAX_ITER = 500


def iterative_memory(n_train: int, n_target: int, markers: int) -> int:
    """Bytes :func:`gblup_iterative` needs at its peak, about: the genotypes (int8 dosages and
    their float32 encoding) and a few hundred float64 columns of n (the preconditioner's
    eigenvectors, the solver's blocks)."""
    n, nv, m = int(n_train), int(n_target), int(markers)
    return (n + nv) * m * 9 + n * 8 * 400


@dataclass
class IterativeStats:
    """What the solver did: solves and conjugate-gradient iterations in all, and the largest
    relative residual it stopped at (``rank`` eigenpairs in the preconditioner)."""

    solves: int = 0
    iterations: int = 0
    residual: float = 0.0
    rank: int = 0


class KinshipOperator:
    """K v = x (x^T v) / s for blocks v [n, b], in the genotypes' float32 (K itself is never formed)."""

    def __init__(self, x_train: np.ndarray) -> None:
        self.x = np.ascontiguousarray(x_train, dtype=np.float32)
        self.n = len(self.x)
        self.scale = relationship_scale(self.x)

    def __call__(self, v: np.ndarray) -> np.ndarray:
        v32 = np.asarray(v, np.float32)
        return (self.x @ (self.x.T @ v32)).astype(np.float64) / self.scale

    def cross(self, x_target: np.ndarray, v: np.ndarray) -> np.ndarray:
        """K_vt v = x_v x_t^T v / s."""
        return (np.asarray(x_target, np.float32) @ (self.x.T @ np.asarray(v, np.float32))).astype(np.float64) \
            / self.scale


def top_eigen(op: KinshipOperator, rank: int, seed: int = 0, passes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``(s [r], u [n, r])``: the ``rank`` largest eigenpairs of K by randomised subspace
    iteration (``passes`` products with K on a block of rank + 10 columns)."""
    r = min(rank, op.n - 1)
    if r < 1:
        return np.zeros(0), np.zeros((op.n, 0))
    q = np.random.default_rng(seed).standard_normal((op.n, min(r + 10, op.n)))
    for _ in range(passes):
        q, _ = np.linalg.qr(op(q))
    b = q.T @ op(q)
    s, w = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(s)[::-1][:r]
    return np.maximum(s[order], 0.0), q @ w[:, order]


class Solver:
    """(K + delta I)^-1 for blocks of right-hand sides by preconditioned conjugate gradients."""

    def __init__(self, op: KinshipOperator, rank: int = RANK, tol: float = TOL, max_iter: int = MAX_ITER) -> None:
        self.op, self.tol, self.max_iter = op, tol, max_iter
        self.s, self.u = top_eigen(op, rank)
        self.stats = IterativeStats(rank=len(self.s))

    def precondition(self, r: np.ndarray, delta: float) -> np.ndarray:
        ur = self.u.T @ r
        return self.u @ (ur / (self.s + delta)[:, None]) + (r - self.u @ ur) / delta

    def solve(self, b: np.ndarray, delta: float, x0: np.ndarray | None = None) -> np.ndarray:
        """``[n, k]``: V^-1 b, every column to a relative residual of ``tol`` (block CG with
        one step length per column, so each column is its own CG run)."""
        b = np.asarray(b, np.float64).reshape(self.op.n, -1)
        x = np.zeros_like(b) if x0 is None else np.array(x0, np.float64)
        r = b - (self.op(x) + delta * x)
        z = self.precondition(r, delta)
        p = z.copy()
        rz = (r * z).sum(0)
        norm_b = np.maximum(np.linalg.norm(b, axis=0), 1e-300)
        active = np.linalg.norm(r, axis=0) / norm_b > self.tol
        it = 0
        while active.any() and it < self.max_iter:
            it += 1
            ap = self.op(p[:, active]) + delta * p[:, active]
            alpha = rz[active] / np.maximum((p[:, active] * ap).sum(0), 1e-300)
            x[:, active] += alpha * p[:, active]
            r[:, active] -= alpha * ap
            z_a = self.precondition(r[:, active], delta)
            rz_new = (r[:, active] * z_a).sum(0)
            p[:, active] = z_a + (rz_new / np.maximum(rz[active], 1e-300)) * p[:, active]
            rz[active] = rz_new
            active = np.linalg.norm(r, axis=0) / norm_b > self.tol
        rel = float((np.linalg.norm(r, axis=0) / norm_b).max())
        if rel > max(100 * self.tol, 1e-3):
            raise GpfnError(f"iterative GBLUP: conjugate gradients stopped at relative residual {rel:.1e} "
                                  f"after {it} iterations (delta {delta:.3g})")
        self.stats.solves += 1
        self.stats.iterations += it
        self.stats.residual = max(self.stats.residual, rel)
        return x


def probes_for(n: int) -> int:
    """Rademacher probes for ``n`` training individuals: :data:`PROBE_BUDGET` / n within
    :data:`PROBES` (24 at 1,500, where REML's delta is within 10% of the dense path's; 8 from
    4,500 on, where the trace's noise is smaller still)."""
    return int(np.clip(np.ceil(PROBE_BUDGET / max(n, 1)), *PROBES))


def reml_delta_iterative(solver: Solver, y: np.ndarray, probes: int | None = None, seed: int = 0,
                         bounds: tuple[float, float] = (1e-2, 1e2), grid: int = 5,
                         solved: dict[float, np.ndarray] | None = None) -> float:
    """REML estimate of delta = se2 / sg2 for y = 1 mu + g + e (module docstring): where
    tr(P) y^T P y - (n - 1) y^T P^2 y (the restricted log-likelihood's derivative, up to a
    negative factor) crosses zero from below, found on a ``grid`` of log delta over
    ``bounds`` (h2 from 0.99 to 0.01, where K + delta I stays well enough conditioned for
    float32 products) and refined by Brent's method.  tr(V^-1) is the preconditioner's
    part, sum 1 / (s + delta), plus ``probes`` Rademacher probes of what it misses,
    z^T V^-1 z - z^T U (S + delta)^-1 U^T z (a control variate: unbiased, and with a small
    variance because U (S + delta)^-1 U^T carries the large part of V^-1).  No crossing: the
    bound the likelihood rises towards.  ``solved`` (a dict), when given, gets each evaluated
    delta's V^-1 [y, 1] (``[n, 2]``), from which the final BLUP's solve can start."""
    from scipy.optimize import brentq

    n = len(y)
    probes = probes or probes_for(n)
    u, s = solver.u, solver.s
    z = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n, probes))
    uz2 = (u.T @ z) ** 2
    rhs = np.column_stack([y, np.ones(n), z])
    last: dict[str, np.ndarray] = {}

    def score(log_delta: float) -> float:
        d = float(np.exp(log_delta))
        sol = solver.solve(rhs, d, last.get("x"))
        last["x"] = sol
        if solved is not None:
            solved[d] = sol[:, :2].copy()  # a copy: a view would keep the probes' columns alive
        vy, v1, vz = sol[:, 0], sol[:, 1], sol[:, 2:]
        trace = float((1.0 / (s + d)).sum() + ((z * vz).sum() - (uz2 / (s + d)[:, None]).sum()) / probes)
        one_v1 = v1.sum()
        py = vy - v1 * (vy.sum() / one_v1)  # P y
        trace_p = trace - float(v1 @ v1) / one_v1  # tr(P) = tr(V^-1) - 1'V^-2 1 / 1'V^-1 1
        y_py = float(y @ py)
        return (trace_p * y_py - (n - 1) * float(py @ py)) / max(trace_p * y_py, 1e-300)

    logs = np.linspace(np.log(bounds[0]), np.log(bounds[1]), grid)
    f = np.array([score(v) for v in logs])
    up = np.flatnonzero((f[:-1] < 0) & (f[1:] >= 0))
    if not up.size:  # the likelihood rises all the way to one bound
        return float(bounds[1] if (f < 0).all() else bounds[0])
    i = int(up[0])
    return float(np.exp(brentq(score, logs[i], logs[i + 1], xtol=1e-3)))


def gblup_iterative(dosage_train: np.ndarray | None, y_train: np.ndarray, dosage_target: np.ndarray | None,
                    delta: float | None = None, rank: int = RANK, probes: int | None = None,
                    x_train: np.ndarray | None = None, x_target: np.ndarray | None = None,
                    stats: list | None = None) -> GblupResult:
    """:func:`~gpfn_core.linear.gblup.gblup` (REML unless ``delta``, then BLUP) with no n x n
    matrix: memory is the float32 genotypes and a few [n, rank] blocks.  ``x_train`` /
    ``x_target``: the encoded genotypes when the caller has them (the dosages are then not
    encoded again); ``stats`` (a list) gets the solver's :class:`IterativeStats` appended."""
    y = training_phenotypes(y_train)
    if x_train is None or x_target is None:
        enc = Encoding.fit(dosage_train)
        x_train, x_target = enc.transform(dosage_train), enc.transform(dosage_target)
    op = KinshipOperator(x_train)
    solver = Solver(op, rank=rank)
    solved: dict[float, np.ndarray] = {}
    d = reml_delta_iterative(solver, y, probes, solved=solved) if delta is None else float(delta)
    # from REML's solution at the evaluated delta nearest (in log) the estimate: Brent's last points
    # are within its tolerance of it, so CG starts a few iterations from the answer, not from zero
    near = min(solved, key=lambda v: abs(np.log(v / d)), default=None)
    mu, beta = blup_effects(solver, y, d, None if near is None else solved[near])
    pred = mu + np.asarray(x_target, np.float32) @ beta.astype(np.float32)
    if stats is not None:
        stats.append(solver.stats)
    return GblupResult(pred.astype(np.float64), d, 1.0 / (1.0 + d), mu)


def marker_effects(op: KinshipOperator, alpha: np.ndarray) -> np.ndarray:
    """float64 ``[m]``: x_t^T alpha / s, so that K_vt alpha = x_v (x_t^T alpha) / s is the
    targets' genotypes times these (GBLUP's marker effects; targets stream through them)."""
    return (op.x.T @ np.asarray(alpha, np.float32)).astype(np.float64) / op.scale


def blup_effects(solver: Solver, y: np.ndarray, delta: float, x0: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """GBLUP at ``delta`` as ``(mu, beta [m])``: a target's prediction is mu + x_v beta
    (mu = 1^T V^-1 y / 1^T V^-1 1, beta = x_t^T V^-1 (y - 1 mu) / s).  ``x0``: a start for
    the solve of V^-1 [y, 1] (``[n, 2]``)."""
    y = np.asarray(y, np.float64)
    sol = solver.solve(np.column_stack([y, np.ones_like(y)]), delta, x0)
    mu = float(sol[:, 0].sum() / sol[:, 1].sum())
    return mu, marker_effects(solver.op, sol[:, 0] - mu * sol[:, 1])


CALIBRATION = 32  # candidate markers whose x' V^-1 x is solved exactly, to calibrate the others'
# in qtl_effects, a marker whose posterior probability of carrying a step's effect passes EXACT_ABOVE gets its
# x' V^-1 x solved exactly (up to EXACT_MAX a round, EXACT_ROUNDS rounds a step) and the step is taken again:
# the calibrated forms are within a few per cent on average (tests), exact where the effects are
EXACT_ABOVE, EXACT_MAX, EXACT_ROUNDS = 1e-3, 32, 4


def quadratic_forms(solver: Solver, xc: np.ndarray, delta: float, calibration: int = CALIBRATION) -> np.ndarray:
    """float64 ``[k]``: x_j^T (K + delta I)^-1 x_j for the columns of ``xc`` ``[n, k]`` without a
    solve for each (BOLT-LMM's and GRAMMAR-gamma's calibration, on the tail only).  The
    preconditioner's eigenpairs give each column's part in the top of the spectrum exactly,
    sum (u_i^T x_j)^2 / (s_i + delta); the rest, |x_j - U U^T x_j|^2 / delta where the tail
    is taken as flat, overstates it by a factor that is about the same for every marker (the
    tail's spectrum is what most markers share), so it is scaled by rho, the ratio of the
    exact tails to these over ``calibration`` columns spread evenly over the k, whose forms
    are solved exactly (one block solve) and kept as they are."""
    xc = np.asarray(xc, np.float64)
    ux = solver.u.T @ xc
    head = ((ux * ux) / (solver.s + delta)[:, None]).sum(0)
    tail = np.maximum((xc * xc).sum(0) - (ux * ux).sum(0), 0.0) / delta
    k = xc.shape[1]
    if not k:
        return head
    idx = np.unique(np.linspace(0, k - 1, min(calibration, k)).round().astype(np.int64))
    exact = (xc[:, idx] * solver.solve(xc[:, idx], delta)).sum(0)
    rho = float((exact - head[idx]).sum() / tail[idx].sum()) if tail[idx].sum() > 1e-300 else 1.0
    out = head + rho * tail
    out[idx] = exact
    return out


def qtl_effects(solver: Solver, z: np.ndarray, delta: float, steps: int, candidates: int | None = None,
                prior: float | None = None, shares: tuple[float, ...] | None = None) -> np.ndarray:
    """float64 ``[m]``: the QTL anchor's marker effects with no n x n matrix, at one variance
    ratio ``delta`` (REML's; the dense :func:`~gpfn_core.linear.qtl.qtl_gblup` averages a grid
    of h2, which the likelihood concentrates on one point as n grows): ``steps``
    Bayesian single-effect regressions (:func:`~gpfn_core.linear.qtl.single_effect`) among the
    :func:`~gpfn_core.linear.qtl.qtl_candidates` of the standardised phenotypes ``z``, each on
    what the previous left, then GBLUP of the rest, all as marker effects (a target's
    prediction is x_v beta).  Each step is one conjugate-gradient solve of V^-1 r, warm-started
    from the last; the candidates' x_j^T V^-1 x_j come from :func:`quadratic_forms`, solved
    exactly for every marker a step gives a posterior probability above :data:`EXACT_ABOVE`."""
    from gpfn_core.linear.qtl import QTL_CANDIDATES, QTL_PRIOR, QTL_SHARES, qtl_candidates, single_effect

    op = solver.op
    z = np.asarray(z, np.float64)
    n, m = op.x.shape
    h = 1.0 / (1.0 + delta)  # V = h2 K + (1 - h2) I = h2 (K + delta I)
    vr = solver.solve(z, delta)[:, 0]  # (K + delta I)^-1 r, r = z - x b
    ss, top = qtl_candidates(op.x, z, QTL_CANDIDATES if candidates is None else candidates)
    b = np.zeros(top.size)
    if top.size and steps > 0:
        xc = op.x[:, top].astype(np.float64)
        a = np.maximum(quadratic_forms(solver, xc, delta) / h, 1e-12)  # x_j^T V^-1 x_j
        exact = np.zeros(top.size, bool)
        s2 = float(z @ vr) / (h * n)  # profile scale of the polygenic model, z^T V^-1 z / n
        w_prior = np.asarray(QTL_SHARES if shares is None else shares, np.float64)[:, None] / (ss[top] / n)[None, :]
        p = QTL_PRIOR if prior is None else prior
        log_null, log_each = np.log1p(-p), np.log(p / m)
        r = z.copy()
        for _ in range(int(steps)):
            xvr = (xc.T @ vr) / h  # x_j^T V^-1 r
            for _ in range(EXACT_ROUNDS):
                _, step, prob = single_effect(xvr / a, s2 / a, w_prior, log_null, log_each)
                need = np.flatnonzero((prob > EXACT_ABOVE) & ~exact)
                if not need.size:
                    break
                need = need[np.argsort(-prob[need])][:EXACT_MAX]  # the likeliest markers' forms, solved exactly
                a[need] = np.maximum((xc[:, need] * solver.solve(xc[:, need], delta)).sum(0) / h, 1e-12)
                exact[need] = True
            else:
                _, step, _ = single_effect(xvr / a, s2 / a, w_prior, log_null, log_each)
            b += step
            r -= xc @ step
            vr = solver.solve(r, delta, vr[:, None])[:, 0]
    beta = marker_effects(op, vr)  # GBLUP of what the single effects leave: K_vt (K + delta I)^-1 r
    beta[top] += b
    return beta
