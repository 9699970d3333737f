"""``gpfn predict --solver iterative``: a prediction with no n x n matrix, for training sets past
what the dense path holds (:func:`predict_arrays_iterative`; ``docs/scale.md``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gpfn_core.net.inference import member_outputs, model_context
from gpfn_core.net.preprocess import Genotypes, prepare
from gpfn_core.registry import get_registry
from gpfn_core.tasks.outputs import joined, result
from gpfn_core.tasks.plan import NETWORK_SUBSET


def predict_arrays_iterative(model, bar, meta: dict[str, Any], x_train: np.ndarray, ys: np.ndarray,
                             x_target: np.ndarray, *, normalized: bool = False, ensemble: int | None = None,
                             seed: int = 0, chunk: int = 1000, quantiles: tuple[float, ...] = (0.05, 0.95),
                             stack: bool = True, per_pass: int | None = None, log=None) -> list[dict[str, Any]]:
    """:func:`predict_arrays` of each column of ``ys`` (``[n, k]``, every training individual
    with a value of each) with no n x n matrix, for training sets past what the dense path
    holds (``gpfn predict --solver iterative``, or ``auto`` where the dense path would not fit).

    - The stacking anchors its weights use at this size come from every training individual
      as marker effects (:func:`~gpfn_core.net.matrixfree.anchor_effects`: conjugate gradients
      through the genotypes, REML by randomised traces, the QTL anchor's single effects,
      BayesB's short chain; :data:`~gpfn_core.net.matrixfree.ITERATIVE_FORMS` says what each
      anchor becomes), fitted once per trait; the targets stream through them.
    - The network (its mean, sd and quantiles, about which the stacking moves and scales the
      intervals) runs on :data:`NETWORK_SUBSET` training individuals drawn with ``seed``,
      preprocessed as the dense path preprocesses everyone (:func:`prepare`), and its
      output is taken to the scale of the whole training set before the blend.
    - Targets go ``per_pass`` at a time (default all) through the network's preprocessing.

    Time grows as n m per conjugate-gradient iteration and memory as n m (the genotypes)."""
    from gpfn_core.data.encoding import Encoding, Standardizer
    from gpfn_core.linear.iterative import KinshipOperator, Solver
    from gpfn_core.net.matrixfree import anchor_effects
    from gpfn_core.net.stacking import stack_weights

    ys = np.asarray(ys, dtype=np.float64).reshape(len(x_train), -1)
    n = len(x_train)
    fit_cfg = meta.get("fit_config", {})
    context = model_context(fit_cfg.get("context"), fit_cfg.get("max_training_samples"), meta.get("pop_max_size", 1000))
    smoothers = fit_cfg.get("smoothers", "")
    selector_cls = get_registry().get("selector", meta["feature_selection"])
    stacking = stack_weights(meta) if stack else None
    used = () if stacking is None else stacking.anchors_at(n)
    scales = [Standardizer.fit(y) for y in ys.T]
    enc = Encoding.fit(x_train)
    fits = []
    if used:
        xt = enc.transform(x_train)
        solver = Solver(KinshipOperator(xt))
        for j, (sc, y) in enumerate(zip(scales, ys.T)):
            mu, eff, info = anchor_effects(xt, sc.transform(y), used, solver)
            fits.append((mu.astype(np.float32), eff.astype(np.float32)))
            if log and info:
                log(f"iterative path{f', trait {j + 1}' if ys.shape[1] > 1 else ''}: REML h2 {info['h2']:.3f}, "
                    f"{solver.stats.iterations:,} conjugate-gradient iterations so far")
        del xt, solver
    sub = (np.sort(np.random.default_rng(seed).choice(n, NETWORK_SUBSET, replace=False)) if n > NETWORK_SUBSET
           else np.arange(n))
    x_sub = x_train[sub]  # the network's training individuals, copied once for every pass and trait
    per_pass = max(int(per_pass or len(x_target)), 1)
    parts: list[list[dict[str, Any]]] = [[] for _ in scales]
    first = None
    for s in range(0, max(len(x_target), 1), per_pass):
        block = x_target[s : s + per_pass]
        if first is None:  # the subset's own decompositions, once; later passes add only their targets
            genotypes = first = Genotypes.for_smoothers(x_sub, block, smoothers)
        else:
            genotypes = first.for_targets(block)
        xv = enc.transform(block) if fits else None
        for t, (sc, y) in enumerate(zip(scales, ys.T)):
            p = prepare(x_sub, y[sub], block, selector_cls(int(meta["n_features"]), seed=seed), smoothers,
                        anchors=False, genotypes=genotypes)
            members = [rescaled(o, p.scale, sc) for o in
                       member_outputs(model, bar, p.train, p.y_train, p.target, context, ensemble=ensemble, seed=seed,
                                      chunk=chunk, quantiles=tuple(quantiles))]
            anchors = (fits[t][0] + xv @ fits[t][1]).astype(np.float64) if fits else None
            scale, shift = (1.0, 0.0) if normalized else (sc.sd, sc.mean)
            parts[t].append(result(members, anchors, stacking if anchors is not None else None, n, scale, shift,
                                    tuple(quantiles), context))
        del genotypes
    return [joined(p) for p in parts]


def rescaled(out: dict[str, np.ndarray], source, to) -> dict[str, np.ndarray]:
    """A standardised predictive distribution ``out`` (mean, sd, ``q...``) on the phenotype scale
    ``source`` (a :class:`~gpfn_core.data.encoding.Standardizer`) moved to the standardised
    scale of ``to``."""
    a, b = source.sd / to.sd, (source.mean - to.mean) / to.sd
    return {k: (v * a + b if k == "mean" or k.startswith("q") else v * a if k == "sd" else v) for k, v in out.items()}
