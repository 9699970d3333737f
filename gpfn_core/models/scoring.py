"""Scoring models on held-out prior draws: one model on its own prior (:func:`heldout`),
every model on every prior (:func:`matrix`), and recording the results in the files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpfn_core.net.config import HELDOUT_INDEX, config_of_model
from gpfn_core.net.draws import build
from gpfn_core.net.modelfile import load_model, read_metadata, record_metadata
from gpfn_core.net.stacking import stack_weights
from gpfn_core.net.validation import Validation


def heldout(path: str | Path, draws: int = 200, start: int = HELDOUT_INDEX, seed: int | None = None,
            baselines: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mean (sd) Pearson r of the model and of GBLUP (REML, all markers) against the true
    genetic values of the targets of ``draws`` fresh draws of the model's prior, at the
    population size it was fitted for, and their paired difference (with its SE).
    ``seed``: the prior's seed (default the file's), so that models fitted with different
    seeds can be compared on the same draws.  ``baselines``: further methods scored on the
    same draws (see :class:`~gpfn_core.net.validation.Validation`); ``overrides``: hyperparameter
    ranges (``--set``) on top of the file's, e.g. to score a model on another prior's
    architectures."""
    import torch

    model, bar, meta = load_model(path)
    cfg = config_of_model(path, meta)
    if seed is not None:
        cfg.seed = int(seed)
    if overrides:
        cfg.overrides = {**(cfg.overrides or {}), **overrides}
    prior, selector_cls = build(cfg)
    with torch.no_grad():
        val = Validation(prior, selector_cls, cfg, start=start, draws=draws, baselines=baselines)
        res = val.evaluate(model, bar, per_draw=True, stack=stack_weights(meta))
    return {**res, "start_index": start, "prior_seed": cfg.seed, "pop_size": cfg.validation_pop_size,
            **({"overrides": dict(overrides)} if overrides else {})}


MATRIX_PRIORS = ("nam", "wild", "ril", "silva", "recurrent", "universal")


def matrix(paths: list[str | Path], priors: tuple[str, ...] = MATRIX_PRIORS, draws: int = 200, seed: int = 1,
           start: int = HELDOUT_INDEX, log=None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every model on every prior's held-out draws: ``{model file name: {prior: result}}``.

    Each column is ``draws`` fresh draws of one prior at its default ranges (prior seed
    ``seed``, indices from ``start``), preprocessed once and scored by every model that
    shares the preprocessing, GBLUP beside them; a result is :func:`heldout`'s (per-draw
    lists included).  The diagonal is a model on its own prior; the rest is what choosing
    the wrong population type costs.
    """
    import time
    from dataclasses import replace

    import torch

    groups: dict[tuple, list] = {}  # models that see the same inputs share one set of preprocessed draws
    for path in map(Path, paths):
        model, bar, meta = load_model(path)
        c = config_of_model(path, meta)
        key = (c.feature_selection, c.feature_max_size, c.smoothers, c.target, c.validation_pop_size, c.founders)
        groups.setdefault(key, []).append((path, model, bar, c, stack_weights(meta)))
    out: dict[str, dict[str, dict[str, Any]]] = {p.name: {} for group in groups.values() for p, *_ in group}
    for prior_name in priors:
        for group in groups.values():
            t = time.perf_counter()
            cfg = replace(group[0][3], prior=prior_name, seed=int(seed), overrides={}, init_from=None, resume=None,
                          store=None)
            prior, selector_cls = build(cfg)
            with torch.no_grad():
                val = Validation(prior, selector_cls, cfg, start=start, draws=draws)
                for path, model, bar, _, weight in group:
                    res = val.evaluate(model, bar, per_draw=True, stack=weight)
                    out[path.name][prior_name] = {**res, "start_index": start, "prior_seed": int(seed),
                                                  "pop_size": cfg.validation_pop_size, "prior": prior_name}
            if log:
                log(f"{prior_name}: {draws} draws, {len(group)} model(s), {time.perf_counter() - t:.0f} s")
    return out


def record_matrix(path: str | Path, row: dict[str, dict[str, Any]]) -> None:
    """Store a model's row of :func:`matrix` (summaries only; merged into the cells it has).  Its own prior's cell, per-draw
    lists included, also becomes its held-out result, unless the model was fitted with
    changed ranges (``--set``): the matrix's columns are the priors' defaults."""
    keep = ("model_r", "gblup_r", "diff", "diff_se", "wins", "coverage90", "draws", "prior_seed", "pop_size")

    def update(meta: dict[str, Any]) -> dict[str, Any]:
        cells = {**(meta.get("matrix") or {}), **{p: {k: r[k] for k in keep if k in r} for p, r in row.items()}}
        out: dict[str, Any] = {"matrix": cells}  # cells of priors not in ``row`` are kept
        own = meta.get("prior")
        if own in row and not (meta.get("fit_config") or {}).get("overrides"):
            new = {k: v for k, v in row[own].items() if k != "prior"}
            old = meta.get("heldout") or {}
            same = all(old.get(k) == new.get(k) for k in ("prior_seed", "start_index", "draws", "pop_size", "model_r"))
            if not same:  # the same draws and result already recorded (perhaps with baselines beside): kept
                out["heldout"] = new
        return out

    record_metadata(path, update)


def record_heldout(path: str | Path, result: dict[str, Any]) -> None:
    """Store a :func:`heldout` result in the model file (rewritten atomically, weights unchanged)."""
    record_metadata(path, {"heldout": result})


def record_benchmark(path: str | Path, name: str, result: dict[str, Any]) -> None:
    """Store one benchmark's result (``{"data", "gpfn", "gblup", "diff", "diff_se", "wins", "n"}``)
    under ``benchmarks[name]`` in the model file; the card lists them."""
    record_metadata(path, {"benchmarks": {**read_metadata(path).get("benchmarks", {}), name: result}})

