"""Scoring models on held-out prior draws, and keeping the results honest.

:func:`heldout` scores one model on its prior's held-out draws, :func:`matrix` every
model on every prior.  Both draw from one of two sets (:data:`~gpfn_core.net.config.DRAW_SETS`):
``selection`` draws serve every decision (shipping rules, the default population type),
``final`` draws only the reporting run, so a headline number was never used to choose.

Results are stored in the model file under ``results`` with the file's
:func:`~gpfn_core.net.modelfile.fingerprint` at the time (the weights and the stacking):
:func:`current` returns only those still measured on the file as it is, so a refit or a
restack turns the old numbers into "not measured since the last change" instead of a
figure about another model.  ``record`` names the benchmark record (under
``benchmarks/results/``) a number came from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpfn_core.errors import ValidationError
from gpfn_core.net.config import DRAW_SETS, config_of_model
from gpfn_core.net.draws import build
from gpfn_core.net.modelfile import fingerprint, load_model, read_metadata, record_metadata
from gpfn_core.net.stacking import stack_weights
from gpfn_core.net.validation import Validation

MATRIX_PRIORS = ("nam", "wild", "ril", "silva", "recurrent", "outbred", "hybrid", "universal")
SUMMARY = ("model_r", "gblup_r", "diff", "diff_se", "wins", "coverage90", "draws", "prior_seed", "pop_size",
           "start_index", "network_r", "network_diff", "network_diff_se", "stack_weights", "interval_scale")
PER_DRAW = ("model_r_per_draw", "gblup_r_per_draw", "poly_share_per_draw", "network_r_per_draw")


def draw_set(name: str) -> tuple[int, int]:
    """``(first index, prior seed)`` of the draw set ``name`` (``selection`` or ``final``)."""
    if name not in DRAW_SETS:
        raise ValidationError(f"draw set must be one of {', '.join(DRAW_SETS)}, got {name!r}")
    return DRAW_SETS[name]


def heldout(path: str | Path, draws: int = 200, draws_from: str = "selection", baselines: dict[str, Any] | None = None,
            overrides: dict[str, Any] | None = None, defaults: bool = True) -> dict[str, Any]:
    """Mean (sd) Pearson r of the model and of GBLUP (REML, all markers) against the true
    genetic values of the targets of ``draws`` held-out draws of the model's prior (the
    set ``draws_from``), at the population size it was fitted for, and their paired
    difference (with its SE).  ``defaults``: the prior at its default ranges, as every
    model is scored in :func:`matrix` (False: with the ranges the model was fitted on);
    ``overrides`` change ranges on top (``--set``).  ``baselines``: further methods scored
    on the same draws (see :class:`~gpfn_core.net.validation.Validation`)."""
    import torch

    start, seed = draw_set(draws_from)
    model, bar, meta = load_model(path)
    cfg = config_of_model(path, meta)
    cfg.seed = seed
    cfg.overrides = {**({} if defaults else (cfg.overrides or {})), **(overrides or {})}
    prior, selector_cls = build(cfg)
    with torch.no_grad():
        val = Validation(prior, selector_cls, cfg, start=start, draws=draws, baselines=baselines)
        res = val.evaluate(model, bar, per_draw=True, stack=stack_weights(meta))
    return {**res, "start_index": start, "prior_seed": seed, "pop_size": cfg.validation_pop_size,
            "prior": cfg.prior, "draw_set": draws_from, **({"overrides": dict(cfg.overrides)} if cfg.overrides else {})}


def matrix(paths: list[str | Path], priors: tuple[str, ...] = MATRIX_PRIORS, draws: int = 200,
           draws_from: str = "selection", log=None) -> dict[str, dict[str, dict[str, Any]]]:
    """Every model on every prior's held-out draws: ``{model file name: {prior: result}}``.

    Each column is ``draws`` draws of one prior at its default ranges (the set
    ``draws_from``), preprocessed once and scored by every model that shares the
    preprocessing, GBLUP beside them; a result is :func:`heldout`'s (per-draw lists
    included).  The diagonal is a model on its own prior; the rest is what choosing the
    wrong population type costs.
    """
    import time
    from dataclasses import replace

    import torch

    start, seed = draw_set(draws_from)
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
            cfg = replace(group[0][3], prior=prior_name, seed=seed, overrides={}, init_from=None, resume=None,
                          store=None)
            prior, selector_cls = build(cfg)
            with torch.no_grad():
                val = Validation(prior, selector_cls, cfg, start=start, draws=draws)
                for path, model, bar, _, weight in group:
                    res = val.evaluate(model, bar, per_draw=True, stack=weight)
                    out[path.name][prior_name] = {**res, "start_index": start, "prior_seed": seed,
                                                  "pop_size": cfg.validation_pop_size, "prior": prior_name,
                                                  "draw_set": draws_from}
            if log:
                log(f"{prior_name}: {draws} {draws_from} draws, {len(group)} model(s), {time.perf_counter() - t:.0f} s")
    return out


def _stamped(path: str | Path, result: dict[str, Any], record: str | None, keep: tuple[str, ...]) -> dict[str, Any]:
    out = {k: result[k] for k in keep if k in result}
    return {**out, "fingerprint": fingerprint(path), **({"record": record} if record else {})}


def record_matrix(path: str | Path, row: dict[str, dict[str, Any]], draws_from: str, record: str | None = None) -> None:
    """Store a model's row of :func:`matrix` (cells of the set ``draws_from``, merged into
    those it has).  Its own prior's cell keeps the per-draw lists (the card splits it by
    architecture)."""
    stamped = {}
    own = read_metadata(path).get("prior")
    for prior, cell in row.items():
        stamped[prior] = _stamped(path, cell, record, SUMMARY + (PER_DRAW if prior == own else ()))

    def update(meta: dict[str, Any]) -> dict[str, Any]:
        results = dict(meta.get("results") or {})
        by_set = dict(results.get("matrix") or {})
        by_set[draws_from] = {**(by_set.get(draws_from) or {}), **stamped}
        results["matrix"] = by_set
        return {"results": results, **_LEGACY}

    record_metadata(path, update)


def record_heldout(path: str | Path, result: dict[str, Any], record: str | None = None) -> None:
    """Store a :func:`heldout` result at the prior's defaults as the model's own-prior cell."""
    if result.get("overrides"):
        raise ValidationError("only results at the prior's defaults are recorded (the matrix's columns are those)")
    record_matrix(path, {result["prior"]: result}, result.get("draw_set", "selection"), record)


def record_benchmark(path: str | Path, name: str, result: dict[str, Any], record: str | None = None) -> None:
    """Store one benchmark's result (``{"data", "gpfn", "gblup", "diff", "diff_se", "wins", "n", ...}``)
    under ``results.benchmarks[name]``; the card lists the current ones."""
    stamped = _stamped(path, result, record, tuple(result))

    def update(meta: dict[str, Any]) -> dict[str, Any]:
        results = dict(meta.get("results") or {})
        results["benchmarks"] = {**(results.get("benchmarks") or {}), name: stamped}
        return {"results": results, **_LEGACY}

    record_metadata(path, update)


# keys of files recorded before results carried fingerprints: removed on the next record (their
# numbers are of other weights or stackings, and the benchmark records are the history)
_LEGACY = {"heldout": None, "matrix": None, "benchmarks": None, "predict_time": None}


def current(path: str | Path, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The results recorded in a model file that were measured on it as it is now (same
    fingerprint): ``{"matrix": {draw set: {prior: cell}}, "benchmarks": {name: result},
    "stale": number of results left out}``."""
    meta = read_metadata(path) if meta is None else meta
    fp = fingerprint(path, meta)
    res = meta.get("results") or {}
    stale = sum(1 for k in _LEGACY if meta.get(k))
    out: dict[str, Any] = {"matrix": {}, "benchmarks": {}}
    for s, cells in (res.get("matrix") or {}).items():
        for prior, cell in (cells or {}).items():
            if cell.get("fingerprint") == fp:
                out["matrix"].setdefault(s, {})[prior] = cell
            else:
                stale += 1
    for name, b in (res.get("benchmarks") or {}).items():
        if b.get("fingerprint") == fp:
            out["benchmarks"][name] = b
        else:
            stale += 1
    out["stale"] = stale
    return out
