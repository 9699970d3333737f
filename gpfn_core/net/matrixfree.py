"""The stacking anchors with no n x n matrix, as marker effects the targets stream through: what
``gpfn predict --solver iterative`` blends the network with past the dense limit
(:func:`anchor_effects`; ``docs/scale.md``)."""

from __future__ import annotations

import numpy as np

from gpfn_core.errors import ValidationError
from gpfn_core.net.preprocess import STACK_ANCHORS

# what each anchor is on the matrix-free path (anchor_effects), where the training set is past what the
# dense path holds: the h2 averages by marginal likelihood become REML's one h2 (the likelihood concentrates
# as n grows); the smoother columns' leave-one-out weights and the within-family kernel (whose families come
# from clustering the n x n relationships) become that GBLUP; the QTL anchor keeps its single effects
ITERATIVE_FORMS = {"gblup_bma": "gblup", "loo_choice": "gblup", "gblup_family": "gblup", "gblup_qtl": "qtl",
                   "bayesb": "bayesb"}


def anchor_effects(x_train: np.ndarray, z: np.ndarray, wanted, solver=None
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The stacking anchors ``wanted`` (names of :data:`STACK_ANCHORS`) with no n x n matrix,
    from encoded training genotypes ``x_train`` ``[n, m]`` and standardised phenotypes ``z``:
    ``(intercepts [A], effects [m, A], info)``, A = len(STACK_ANCHORS), so a target's anchor
    columns are intercepts + x_v effects (targets stream through them; a column not wanted
    is zero).  Each anchor is its :data:`ITERATIVE_FORMS` form:
    :func:`~gpfn_core.linear.iterative.blup_effects` at REML's variance ratio
    (:func:`~gpfn_core.linear.iterative.reml_delta_iterative`),
    :func:`~gpfn_core.linear.iterative.qtl_effects` at the same ratio with
    :func:`~gpfn_core.linear.qtl.qtl_steps` single effects, and BayesB's short chain, which
    works on the markers already.  ``solver``: a :class:`~gpfn_core.linear.iterative.Solver`
    on these genotypes when the caller has one (another trait of the same individuals);
    ``info``: the variance ratio and h2 REML found."""
    from gpfn_core.linear.bayes import short_chain_effects
    from gpfn_core.linear.iterative import KinshipOperator, Solver, blup_effects, qtl_effects, reml_delta_iterative
    from gpfn_core.linear.qtl import qtl_steps

    wanted = set(wanted or ())
    unknown = wanted - set(STACK_ANCHORS)
    if unknown:
        raise ValidationError(f"unknown stacking anchors {sorted(unknown)}")
    z = np.asarray(z, np.float64)
    mu, eff = np.zeros(len(STACK_ANCHORS)), np.zeros((x_train.shape[1], len(STACK_ANCHORS)))
    forms = {ITERATIVE_FORMS[a] for a in wanted}
    if forms & {"gblup", "qtl"}:
        solver = solver if solver is not None else Solver(KinshipOperator(x_train))
        solved: dict[float, np.ndarray] = {}
        delta = reml_delta_iterative(solver, z, solved=solved)
        near = min(solved, key=lambda v: abs(np.log(v / delta)), default=None)
        made = {}
        if "gblup" in forms:
            made["gblup"] = blup_effects(solver, z, delta, None if near is None else solved[near])
        if "qtl" in forms:
            made["qtl"] = (0.0, qtl_effects(solver, z, delta, qtl_steps(len(z))))
        info = {"delta": delta, "h2": 1.0 / (1.0 + delta)}
    else:
        made, info = {}, {}
    if "bayesb" in forms:
        made["bayesb"] = short_chain_effects(x_train, z, "bayesb")
    for j, a in enumerate(STACK_ANCHORS):
        if a in wanted:
            mu[j], eff[:, j] = made[ITERATIVE_FORMS[a]]
    return mu, eff, info
