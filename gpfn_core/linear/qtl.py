"""The QTL anchor: a few large marker effects from Bayesian single-effect regressions,
plus GBLUP (or family GBLUP) of what they leave, averaged over h2 in closed form."""

from __future__ import annotations

import numpy as np

from gpfn_core.linear.family import FAMILY_BANDWIDTHS, FamilyModel, family_gblup
from gpfn_core.linear.kinship import Kinship
from gpfn_core.linear.smoothers import (
    H2_GRID,
    GblupGrid,
    marginal_loglik,
    posterior_weights,
)

QTL_CANDIDATES = 1000  # markers, by marginal association, whose single-effect Bayes factors are computed
QTL_STEPS = 5  # single-effect regressions, one after another, each on what the previous left
# from this many training individuals on, this many steps: with thousands of lines many loci of moderate
# effect are resolvable, and five steps leave them to GBLUP where BayesB finds them.  On 20 selection draws
# of NAM at 2,500 lines with 30-100 QTL and little polygenic background the anchor gained +0.015 +- 0.005
# in r with 20 steps, and was level (+0.0001 +- 0.0012) with 3-15 QTL on a polygenic background (a step
# where no marker stands out sits on 'no effect' and changes nothing); at 100-1,000 lines 10 or 20 steps
# were level on the nam prior's draws (docs/design-record.md), so smaller sets keep five and their predictions
QTL_STEPS_LARGE = (2000, 20)
QTL_PRIOR = 0.5  # prior probability that each step has an effect at all
QTL_SHARES = (0.02, 0.08, 0.3)  # prior effect variances (shares of the phenotypic variance), mixed evenly


def qtl_gblup(kin: Kinship, coordinates: np.ndarray, x_train: np.ndarray, x_target: np.ndarray, z: np.ndarray,
              h2_grid: tuple[float, ...] = H2_GRID, candidates: int = QTL_CANDIDATES, steps: int = QTL_STEPS,
              prior: float = QTL_PRIOR, shares: tuple[float, ...] = QTL_SHARES, effects: bool = False):
    """float64 ``[n_target]``: GBLUP plus a few large marker effects found by Bayesian
    single-effect regression, averaged over h2 by marginal likelihood (a stacking anchor).

    z = x b + g + e, g ~ N(0, s2 h2 K), e ~ N(0, s2 (1 - h2) I), with b sparse.  At each h2
    of the grid, ``steps`` single-effect regressions (SuSiE's, Wang et al. 2020, with the
    polygenic part as the covariance, as EMMAX/GEMMA test a marker) run one after another
    on what the previous ones left: each has an effect with prior probability ``prior``,
    on one of the m markers uniformly, of normal size with a variance mixed evenly over
    ``shares`` of the phenotypic variance; its posterior over (no effect, marker j) comes
    from Wakefield's exact Bayes factors of the generalised-least-squares estimates, and
    its posterior mean effect is subtracted before the next.  The targets get
    x_v b + GBLUP of z - x b.  The h2 weights are the polygenic marginal likelihood
    times the steps' evidence (each step's Bayes factor against no effect), so where no
    marker stands out every step's posterior sits on 'no effect' and this is the
    h2-averaged GBLUP; BayesB and BayesC find such effects by MCMC, this in closed form
    (one fixed pass, nothing tuned at prediction time).  Only the ``candidates`` markers
    of largest marginal association are scored (the others' Bayes factors are about 1 or
    below and are left in 'no effect'); every marker lies in the span of the training
    relationships' eigenvectors, so the generalised least squares need U^T x of the
    candidates only (n r candidates flops).  Updating the scale s2 after each step, or
    weighing h2 by the residual's likelihood, did no better on NAM draws (200 draws:
    +0.0133 and −0.0035 against +0.0131 over REML).  ``effects``: also return the scored
    markers' positions and their h2-averaged posterior mean effects."""
    xt = np.asarray(x_train, dtype=np.float32)
    xv = np.asarray(x_target, dtype=np.float32)
    z = np.asarray(z, dtype=np.float64)
    n, m = xt.shape
    ss, top = qtl_candidates(xt, z, candidates)
    k = top.size
    steps = steps if k > 0 else 0  # no polymorphic marker: the h2-averaged GBLUP
    lam = kin.lam / kin.scale
    kvu = np.asarray(coordinates, np.float64) / kin.scale
    ux = kin.u.T @ xt[:, top].astype(np.float64)  # [r, k]
    xvc = xv[:, top].astype(np.float64)
    uz = kin.u.T @ z
    z_out = max(float(z @ z - uz @ uz), 0.0)  # part of z outside the span of u (no marker reaches it)
    var = ss[top] / n
    w_prior = np.asarray(shares, np.float64)[:, None] / var[None, :]  # [S, k]: effect variances on z's scale
    log_null, log_each = np.log1p(-prior), np.log(prior / m)
    loglik = marginal_loglik(kin, z, h2_grid)
    preds, bs = [], []
    hs = np.asarray(h2_grid, np.float64)
    ds = hs[:, None] * lam[None, :] + (1 - hs)[:, None]  # [G, r]: eigenvalues of V at each h2
    a_all = (1.0 / ds) @ (ux * ux)  # [G, k]: x_j' V^-1 x_j
    for gi, (h, d, a) in enumerate(zip(hs, ds, a_all)):
        s2 = ((uz**2 / d).sum() + z_out / (1 - h)) / n  # profile scale of the polygenic model
        se2 = s2 / np.maximum(a, 1e-12)
        r_u, b = uz.copy(), np.zeros(k)
        for _ in range(steps):
            bhat = (ux.T @ (r_u / d)) / np.maximum(a, 1e-12)
            evidence, step, _ = single_effect(bhat, se2, w_prior, log_null, log_each)
            loglik[gi] += evidence
            b += step
            r_u -= ux @ step
        preds.append(xvc @ b + kvu @ (h * r_u / d))  # x_v b + K_vt (K + delta I)^-1 (z - x b)
        bs.append(b)
    w = posterior_weights(loglik)
    if effects:  # the h2-averaged marker effects and their markers
        return np.column_stack(preds) @ w, top, np.column_stack(bs) @ w if bs else np.zeros(0)
    return np.column_stack(preds) @ w


def qtl_candidates(x_train: np.ndarray, z: np.ndarray, candidates: int = QTL_CANDIDATES
                   ) -> tuple[np.ndarray, np.ndarray]:
    """The markers the QTL anchor scores: every marker's sum of squares ``[m]`` (float64; the
    genotypes are centred) and the positions of the ``candidates`` polymorphic ones of
    largest marginal association with ``z`` (fewer where fewer are polymorphic)."""
    xt = np.asarray(x_train, dtype=np.float32)
    ss = np.einsum("ij,ij->j", xt, xt).astype(np.float64)  # column sums of squares (centred markers)
    score = np.where(ss > 1e-12, (xt.T @ np.asarray(z, np.float32)).astype(np.float64) ** 2 / np.maximum(ss, 1e-12),
                     -1.0)
    k = int(min(candidates, int((ss > 1e-12).sum())))
    return ss, (np.argpartition(-score, k - 1)[:k] if k > 0 else np.zeros(0, np.int64))


def single_effect(bhat: np.ndarray, se2: np.ndarray, w_prior: np.ndarray, log_null: float,
                  log_each: float) -> tuple[float, np.ndarray, np.ndarray]:
    """One Bayesian single-effect regression from the generalised-least-squares estimates
    ``bhat`` ``[k]`` of k markers and their sampling variances ``se2`` ``[k]``: an effect with
    prior log-probability ``log_null`` of none and ``log_each`` of each marker, of normal size
    with a variance mixed evenly over the rows of ``w_prior`` ``[S, k]``.  Returns the log of
    the step's Bayes factor against no effect (prior included), its posterior mean effects
    ``[k]`` and each marker's posterior probability of carrying the effect ``[k]``
    (Wakefield's Bayes factors; :func:`qtl_gblup` and the matrix-free
    :func:`~gpfn_core.linear.iterative.qtl_effects` both take their steps here)."""
    lbf_s = 0.5 * np.log(se2 / (se2 + w_prior)) + 0.5 * bhat**2 / se2 * w_prior / (se2 + w_prior)  # [S, k]
    top_s = lbf_s.max(0)
    ws = np.exp(lbf_s - top_s)
    lbf = top_s + np.log(ws.mean(0))
    post = (ws * (w_prior / (w_prior + se2))).sum(0) / ws.sum(0) * bhat  # E[b_j | the effect is at j]
    logits = np.concatenate([[log_null], log_each + lbf])
    mx = logits.max()
    p = np.exp(logits - mx)
    prob = p[1:] / p.sum()
    return float(mx + np.log(p.sum())), prob * post, prob


def qtl_steps(n_train: int) -> int:
    """The single-effect regressions the QTL anchor runs for ``n_train`` training individuals:
    :data:`QTL_STEPS`, or :data:`QTL_STEPS_LARGE`'s from its size on."""
    start, steps = QTL_STEPS_LARGE
    return steps if int(n_train) >= start else QTL_STEPS


def qtl_family_gblup(kin: Kinship, coordinates: np.ndarray, x_train: np.ndarray, x_target: np.ndarray,
                     z: np.ndarray, h2_grid: tuple[float, ...] = H2_GRID, family: FamilyModel | None = None,
                     grid: GblupGrid | None = None, steps: int | None = None,
                     bandwidths: tuple[float, ...] = FAMILY_BANDWIDTHS) -> np.ndarray:
    """float64 ``[n_target]``: the large marker effects of :func:`qtl_gblup` (averaged over h2)
    plus :func:`family_gblup` of what they leave (a stacking anchor, ``gblup_qtl``).

    The two anchors' mechanisms in one prediction: a few loci of large effect (what BayesB
    finds) and genetic variance that is each family's own (what wheat599's subpopulations
    show).  Each nests GBLUP averaged over h2, so where neither is there this is that
    average.  On 200 fresh NAM draws (~187 training individuals) it is +0.0136 ± 0.0043 over
    REML against +0.0131 for :func:`qtl_gblup` alone and −0.0003 for family GBLUP alone; on
    wheat599 (4 environments × 10 folds) +0.021 ± 0.005 against −0.0007 and +0.022.  ``family``:
    the :class:`~gpfn_core.linear.family.FamilyModel` when the caller has it (its
    decompositions do not depend on the phenotypes); ``grid``: the
    :class:`~gpfn_core.linear.smoothers.GblupGrid` of the same population and ``h2_grid``;
    ``steps``: the single-effect regressions (:func:`qtl_gblup`; default :func:`qtl_steps` of the
    training set's size)."""
    steps = qtl_steps(len(x_train)) if steps is None else int(steps)
    _, top, b = qtl_gblup(kin, coordinates, x_train, x_target, z, h2_grid, steps=steps, effects=True)
    xt = np.asarray(x_train, dtype=np.float32)
    xv = np.asarray(x_target, dtype=np.float32)
    rest = np.asarray(z, np.float64) - xt[:, top].astype(np.float64) @ b
    if grid is None or not np.array_equal(grid.h2, np.asarray(h2_grid, np.float64)):
        grid = GblupGrid(xt, xv, h2_grid, kin, coordinates)
    return xv[:, top].astype(np.float64) @ b + family_gblup(kin, coordinates, xv, rest, grid.features(rest)[1], h2_grid,
                                                            family=family, bandwidths=bandwidths)
