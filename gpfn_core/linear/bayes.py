"""BayesB and BayesCπ: the Bayesian-alphabet baselines breeders run through BGLR.

Model: y = 1 mu + X b + e, e ~ N(0, se2 I), X the centred minor-allele counts of
:class:`~gpfn_core.data.encoding.Encoding` (missing calls imputed with the training mean, as
everywhere else), and a spike-and-slab prior on every marker effect:
b_j = 0 with probability 1 - pi, else b_j ~ N(0, s_j^2), pi ~ Beta.

- **BayesCπ** (Habier et al. 2011): one slab variance for all markers, s_j^2 = sb2.
- **BayesB** (Meuwissen et al. 2001): a variance per marker, s_j^2 ~ scaled-inv-chi2(df0, S),
  with the scale S itself sampled (Gamma hyperprior), as BGLR does.

Priors and hyperparameter rules are BGLR's defaults (Pérez & de los Campos 2014):
``R2 = 0.5`` of var(y) expected from markers, ``df0 = 5``, ``probIn = 0.5`` with
``counts = 10`` (pi ~ Beta(5, 5)), residual ``S0 = var(y) (1 - R2) (df0 + 2)``, slab
``S0 = var(y) R2 / MSx (df0 + 2) / probIn`` with MSx the sum of the marker variances,
and for BayesB ``S ~ Gamma(shape 1.1, rate 0.1 / S0)``.

The sampler is single-site Gibbs over markers with each marker's effect integrated out
of its inclusion step (the collapsed update of Habier et al., which mixes better than
sampling inclusion given the current effect), updating the residual in place: one pass
costs two length-n vector operations per marker and no n x m copies.  The loop over
markers is sequential by nature, so it is compiled with numba (a pure-Python loop over
50,000 markers x 6,000 iterations would take hours).  Predictions use the posterior mean
of the effects over the iterations after burn-in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from gpfn_core.errors import ValidationError
from gpfn_core.data.encoding import Encoding

METHODS = ("bayesb", "bayescpi")
PROB_IN, COUNTS, DF0, R2 = 0.5, 10.0, 5.0, 0.5  # BGLR's defaults (module docstring)


@dataclass
class BayesResult:
    prediction: np.ndarray  # float64 [n_target]
    effects: np.ndarray  # float64 [m]: posterior mean marker effects (centred minor-allele counts)
    mu: float
    pi: float  # posterior mean share of markers with an effect
    var_e: float  # posterior mean residual variance
    seconds: float


def _kernel():
    from numba import njit

    # reassociation lets the compiler vectorise the dot products (5x here); no flag that
    # assumes finite values, since the prior log-odds may be +-inf (pi fixed at 1 or 0)
    @njit(cache=True, fastmath={"reassoc", "contract"})
    def gibbs(xt, xx, y, n_iter, burn, seed, bayes_b, pi_a, pi_b, fixed_pi, df0, s0_b, s0_e, shape0, rate0,
              var0, fixed_b, fixed_e):
        np.random.seed(seed)
        m, n = xt.shape
        mu = y.mean()
        e = y - mu
        b = np.zeros(m)
        var_b = s0_b / (df0 + 2.0) if fixed_b <= 0.0 else fixed_b  # prior modes, or the given variances
        var_j = np.full(m, var_b)
        var_e = s0_e / (df0 + 2.0) if fixed_e <= 0.0 else fixed_e
        pi = pi_a / (pi_a + pi_b) if fixed_pi < 0 else fixed_pi
        scale = s0_b
        post_b = np.zeros(m)
        post = np.zeros(3)  # mu, pi, var_e
        kept = 0
        for it in range(n_iter):
            e += mu
            mu = e.mean() + np.sqrt(var_e / n) * np.random.normal()
            e -= mu
            if pi >= 1.0:
                log_prior_odds = np.inf
            elif pi <= 0.0:
                log_prior_odds = -np.inf
            else:
                log_prior_odds = np.log(pi / (1.0 - pi))
            k = 0
            ssb = 0.0
            inv_sum = 0.0
            for j in range(m):
                xj = xt[j]
                old = b[j]
                rhs = 0.0
                for i in range(n):
                    rhs += xj[i] * e[i]
                rhs += xx[j] * old
                vj = var_j[j] if bayes_b else var_b
                c = xx[j] + var_e / vj
                log_odds = log_prior_odds - 0.5 * np.log(vj * c / var_e) + rhs * rhs / (2.0 * var_e * c)
                c0 = 1.0
                if var0 > 0.0:  # the 'excluded' component is a small normal, not a point mass at zero
                    c0 = xx[j] + var_e / var0
                    log_odds -= -0.5 * np.log(var0 * c0 / var_e) + rhs * rhs / (2.0 * var_e * c0)
                if log_odds > 30.0:
                    p_in = 1.0
                elif log_odds < -30.0:
                    p_in = 0.0
                else:
                    p_in = 1.0 / (1.0 + np.exp(-log_odds))
                new = 0.0
                if np.random.random() < p_in:
                    new = rhs / c + np.sqrt(var_e / c) * np.random.normal()
                    k += 1
                    ssb += new * new
                elif var0 > 0.0:
                    new = rhs / c0 + np.sqrt(var_e / c0) * np.random.normal()
                if new != old:
                    delta = new - old
                    for i in range(n):
                        e[i] -= xj[i] * delta
                b[j] = new
                if bayes_b:
                    if new != 0.0:
                        var_j[j] = (scale + new * new) / np.random.chisquare(df0 + 1.0)
                    else:
                        var_j[j] = scale / np.random.chisquare(df0)
                    inv_sum += 1.0 / var_j[j]
            if bayes_b:
                scale = np.random.gamma(shape0 + m * df0 / 2.0, 1.0 / (rate0 + inv_sum / 2.0))
            elif fixed_b <= 0.0:
                var_b = (s0_b + ssb) / np.random.chisquare(df0 + k)
            if fixed_pi < 0:
                pi = np.random.beta(pi_a + k, pi_b + m - k)
            if fixed_e <= 0.0:
                var_e = (s0_e + (e * e).sum()) / np.random.chisquare(df0 + n)
            if it >= burn:
                post_b += b
                post[0] += mu
                post[1] += k / m
                post[2] += var_e
                kept += 1
        return post_b / kept, post / kept

    return gibbs


_GIBBS = None


def bayes(
    dosage_train: np.ndarray, y: np.ndarray, dosage_target: np.ndarray, method: str = "bayesb", *,
    iterations: int = 6000, burn_in: int = 1000, seed: int = 0, prob_in: float = PROB_IN, counts: float = COUNTS,
    df0: float = DF0, r2: float = R2, s0_b: float | None = None, spike_var: float = 0.0,
    slab_var: float | None = None, residual_var: float | None = None,
) -> BayesResult:
    """Fit BayesB or BayesCπ (``method``) on the training dosages and predict the targets.

    ``counts = 0`` fixes pi at ``prob_in`` (BGLR's limit of infinite counts); ``s0_b``
    overrides BGLR's rule for the slab's scale.  ``spike_var`` > 0 makes the markers
    outside the slab N(0, spike_var) instead of exactly 0 (a polygenic background under
    the large effects: BayesR's mixture of two normals).  ``slab_var`` (BayesCπ only) and
    ``residual_var`` fix those variances instead of sampling them: with ``counts = 0`` too,
    every hyperparameter is given, as when the architecture is known (a reference for
    what knowing it is worth, ``benchmarks/bench_bayes.py`` section 4).
    """
    if method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not 0 <= burn_in < iterations:
        raise ValidationError(f"need 0 <= burn-in ({burn_in}) < iterations ({iterations})")
    if not 0.0 <= prob_in <= 1.0 or counts < 0 or df0 <= 0 or not 0.0 < r2 < 1.0:
        raise ValidationError(f"need prob_in in [0, 1] ({prob_in}), counts >= 0 ({counts}), df0 > 0 ({df0}), "
                              f"0 < r2 < 1 ({r2})")
    if not spike_var >= 0 or (slab_var is not None and not slab_var > 0) or (
            residual_var is not None and not residual_var > 0):
        raise ValidationError(f"need spike_var >= 0 ({spike_var}), slab_var > 0 ({slab_var}) and residual_var > 0 "
                              f"({residual_var}) where given")
    if slab_var is not None and method != "bayescpi":
        raise ValidationError(f"slab_var fixes BayesCπ's one slab variance; {method} has a variance per marker")
    y = np.asarray(y, dtype=np.float64)
    if len(y) != len(dosage_train) or len(y) < 3 or not np.isfinite(y).all():
        raise ValidationError(f"need >= 3 finite phenotypes, one per training individual (got {len(y)} for "
                              f"{len(dosage_train)} individuals)")
    t0 = time.perf_counter()
    enc = Encoding.fit(dosage_train)
    effects, post = _fit(enc.transform(dosage_train), y, method, iterations, burn_in, seed, prob_in, counts, df0, r2,
                         s0_b, spike_var, slab_var, residual_var)
    pred = post[0] + enc.transform(dosage_target).astype(np.float64) @ effects
    return BayesResult(pred, effects, float(post[0]), float(post[1]), float(post[2]), time.perf_counter() - t0)


def _fit(x_train: np.ndarray, y: np.ndarray, method: str, iterations: int, burn_in: int, seed: int,
         prob_in: float = PROB_IN, counts: float = COUNTS, df0: float = DF0, r2: float = R2,
         s0_b: float | None = None, spike_var: float = 0.0,
         slab_var: float | None = None, residual_var: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The sampler on encoded (centred) training genotypes ``[n, m]``: posterior mean effects
    ``[m]`` and ``[mu, pi, var_e]``; the defaults are BGLR's, as :func:`bayes`'s.  :func:`bayes` and
    :func:`short_chain` share it."""
    global _GIBBS
    xt = np.ascontiguousarray(np.asarray(x_train, dtype=np.float32).T)  # float32 [m, n]: one row per marker
    xx = np.einsum("ij,ij->i", xt, xt, dtype=np.float64)
    var_y = float(y.var(ddof=1))
    if not var_y > 0:
        raise ValidationError("the training phenotype is constant: nothing to predict from")
    msx = float(xx.sum()) / (len(y) - 1)  # sum of the marker variances
    if not msx > 0:
        raise ValidationError("every marker is monomorphic in the training individuals")
    if s0_b is None:
        s0_b = var_y * r2 / msx * (df0 + 2) / max(prob_in, 1e-12)
    s0_e = var_y * (1 - r2) * (df0 + 2)
    shape0 = 1.1
    rate0 = (shape0 - 1) / s0_b
    if _GIBBS is None:
        _GIBBS = _kernel()
    fixed_pi = prob_in if counts == 0 else -1.0
    return _GIBBS(xt, xx, y, int(iterations), int(burn_in), int(seed), method == "bayesb",
                  counts * prob_in, counts * (1 - prob_in), float(fixed_pi), float(df0), float(s0_b),
                  float(s0_e), shape0, rate0, float(spike_var), float(slab_var or 0.0), float(residual_var or 0.0))


SHORT_CHAIN = 200  # iterations of short_chain: on 2,500-line NAM draws BayesB's first 200 predicted as well
# as 3,000 (benchmarks/bench_bayes.py --large-candidates)
SHORT_BURN_IN = 0.25  # share of the chain left out of the posterior mean
SHORT_BUDGET = 5e9  # training individuals x markers x iterations a short chain may cost (about 2 s here)
SHORT_MIN = 50


def short_chain_iterations(n: int, m: int) -> int:
    """:func:`short_chain`'s length for ``n`` training individuals and ``m`` markers:
    :data:`SHORT_CHAIN`, cut where n m iterations would pass :data:`SHORT_BUDGET`
    (100 at 1,000 x 50,000), never below :data:`SHORT_MIN`."""
    return int(max(SHORT_MIN, min(SHORT_CHAIN, int(SHORT_BUDGET // max(n * m, 1)))))


def short_chain(x_train: np.ndarray, z: np.ndarray, x_target: np.ndarray, method: str = "bayesb",
                seed: int = 0) -> np.ndarray:
    """float64 ``[n_target]``: BayesB's or BayesCπ's posterior mean prediction (BGLR's priors, as
    :func:`bayes`) from a short chain of fixed seed (:func:`short_chain_iterations`) on
    encoded genotypes (centred, as preprocessing makes them) and standardised phenotypes
    ``z``: what such a sampler would add as a stacking anchor, at a cost a prediction can
    afford (``benchmarks/bench_anchors.py --candidates``).  Deterministic: the same inputs
    give the same chain (numba's generator, seeded inside the compiled sampler)."""
    mu, effects = short_chain_effects(x_train, z, method, seed)
    return mu + np.asarray(x_target, dtype=np.float32).astype(np.float64) @ effects


def short_chain_effects(x_train: np.ndarray, z: np.ndarray, method: str = "bayesb",
                        seed: int = 0) -> tuple[float, np.ndarray]:
    """:func:`short_chain` as ``(mu, effects [m])``: a target's prediction is mu + x_v effects
    (targets can then stream through them)."""
    if method not in METHODS:
        raise ValidationError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    z = np.asarray(z, dtype=np.float64)
    n, m = np.shape(x_train)
    its = short_chain_iterations(n, m)
    effects, post = _fit(x_train, z, method, its, int(its * SHORT_BURN_IN), seed)
    return float(post[0]), np.asarray(effects, np.float64)
