"""Shipped models: lookup by population type, held-out accuracy, and their cards.

A model card is written from the model file's own metadata (``card``), so the card
that ``gpfn models`` prints and the ``.md`` file beside a shipped model cannot drift
from the weights.  ``heldout`` measures a model and GBLUP on fresh draws of the
model's prior (indices from ``HELDOUT_INDEX``: never used for training, bucket borders
or the fit's own validation) and ``record_heldout`` stores the result in the file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from gpfn_core.errors import GpfnError

HELDOUT_INDEX = 5_000_000_000  # model-card draws: disjoint from training, borders (3e9) and validation (4e9)

# population type (as breeders say it) -> prior the model was fitted on
POPULATION_TYPES = {"nam": "nam", "diverse": "wild", "wild": "wild", "silva": "silva", "ril": "ril",
                    "recurrent": "recurrent", "universal": "universal"}
FALLBACK_POPULATION_TYPE = "nam"


def default_population_type(found: list[tuple[Path, dict[str, Any]]] | None = None) -> tuple[str, str]:
    """The population type ``gpfn predict`` uses without ``--population-type``, and why.

    ``universal`` when a universal model is installed and, on the recorded matrix
    (:func:`matrix`), it is at least as accurate on every prior as that prior's own model
    is; otherwise ``nam``.  ``found``: :func:`list_models` when the caller has it.
    """
    found = list_models() if found is None else found
    uni = next((m for _, m in found if m.get("prior") == "universal"), None)
    if uni is None:
        return FALLBACK_POPULATION_TYPE, "no universal model is installed"
    row = uni.get("matrix") or {}
    worse = []
    for _, meta in found:
        own = meta.get("prior")
        cell = (meta.get("matrix") or {}).get(own)
        if own == "universal" or cell is None:
            continue
        if own not in row or row[own].get("model_r", float("-inf")) < cell.get("model_r", float("inf")):
            # five decimals: at three, a gap of 0.0002 reads as "0.524 < 0.524"
            worse.append(f"{own} ({_fmt(row.get(own, {}).get('model_r'), '.5f')} < {_fmt(cell.get('model_r'), '.5f')})")
    if worse:
        return FALLBACK_POPULATION_TYPE, f"the universal model is behind the specific models on {', '.join(worse)}"
    return "universal", "the universal model is at least as accurate as each specific model on its own prior"


def population_types(prior: str | None) -> list[str]:
    """The population types (``--population-type``) served by a model of ``prior``."""
    return [t for t, p in POPULATION_TYPES.items() if p == prior]


def model_dirs() -> list[Path]:
    dirs = [Path(p) for p in os.environ.get("GPFN_MODELS", "").split(os.pathsep) if p]
    return dirs + [Path(__file__).parent]


def list_models() -> list[tuple[Path, dict[str, Any]]]:
    """Every readable model file in the model folders, with its metadata."""
    from gpfn_core.modelfile import read_metadata

    out = []
    for d in model_dirs():
        for p in sorted(d.glob("*.gpfn")) if d.is_dir() else []:
            try:
                out.append((p, read_metadata(p)))
            except GpfnError:
                continue
    return out


def shipped_model(population_type: str | None) -> tuple[Path, str]:
    """The shipped model for ``population_type`` (None: :func:`default_population_type`) and
    a line saying which it is and why."""
    found, why = list_models(), ""
    if population_type is None:
        population_type, why = default_population_type(found)
        why = f", the default: {why}"
    path = find_model(population_type, found)
    return path, f"model: {path} (shipped, population type {population_type}{why})"


def find_model(population_type: str, found: list[tuple[Path, dict[str, Any]]] | None = None) -> Path:
    """The shipped model for ``population_type`` (nam, diverse, silva, ...); ``found``:
    :func:`list_models` when the caller has it."""
    prior = POPULATION_TYPES.get(population_type)
    if prior is None:
        raise GpfnError(f"unknown population type {population_type!r}; known: {', '.join(POPULATION_TYPES)}")
    for path, meta in list_models() if found is None else found:
        if meta.get("prior") == prior:
            return path
    raise GpfnError(f"no shipped model for population type '{population_type}' (prior '{prior}') in "
                    f"{', '.join(map(str, model_dirs()))}; give --model FILE (see `gpfn models`)")


def fit_config_of(path: str | Path, meta: dict[str, Any]):
    """The :class:`~gpfn_core.train.FitConfig` a model file was fitted with (its metadata
    ``meta``), for drawing and preprocessing as it was trained; keys this version does not
    know are skipped."""
    from gpfn_core.train import FitConfig

    fit_config = {"smoothers": "", **(meta.get("fit_config") or {})}  # files from before smoothers had none
    if not fit_config.get("prior"):
        raise GpfnError(f"{path}: the model file does not say which prior it was fitted on")
    known = set(FitConfig.__dataclass_fields__)
    return FitConfig(**{k: v for k, v in fit_config.items() if k in known})


def heldout(path: str | Path, draws: int = 200, start: int = HELDOUT_INDEX, seed: int | None = None,
            baselines: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Mean (sd) Pearson r of the model and of GBLUP (REML, all markers) against the true
    genetic values of the targets of ``draws`` fresh draws of the model's prior, at the
    population size it was fitted for, and their paired difference (with its SE).
    ``seed``: the prior's seed (default the file's), so that models fitted with different
    seeds can be compared on the same draws.  ``baselines``: further methods scored on the
    same draws (see :class:`~gpfn_core.train.Validation`); ``overrides``: hyperparameter
    ranges (``--set``) on top of the file's, e.g. to score a model on another prior's
    architectures."""
    import torch

    from gpfn_core.modelfile import load_model
    from gpfn_core.stacking import stack_weights
    from gpfn_core.train import Validation, build

    model, bar, meta = load_model(path)
    cfg = fit_config_of(path, meta)
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

    from gpfn_core.modelfile import load_model
    from gpfn_core.stacking import stack_weights
    from gpfn_core.train import Validation, build

    groups: dict[tuple, list] = {}  # models that see the same inputs share one set of preprocessed draws
    for path in map(Path, paths):
        model, bar, meta = load_model(path)
        c = fit_config_of(path, meta)
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


def matrix_table(found: list[tuple[Path, dict[str, Any]]]) -> str:
    """The recorded matrix of the models ``found`` (``list_models()``): a row per model, a
    column per prior, each cell GPFN r and its difference from GBLUP on the same draws."""
    rows = [(p, m.get("matrix") or {}) for p, m in found]
    priors = [q for q in MATRIX_PRIORS if any(q in r for _, r in rows)]
    priors += sorted({q for _, r in rows for q in r} - set(priors))
    if not priors:
        return ""
    lines = ["Held-out r of each model (rows) on each prior's draws (columns), and GPFN − GBLUP on the same draws:",
             "", "| model | " + " | ".join(priors) + " |", "| --- |" + " --- |" * len(priors)]
    for path, r in rows:
        cells = [f"{_fmt(r[q].get('model_r'))} ({_fmt(r[q].get('diff'), '+.3f')})" if q in r else "-" for q in priors]
        lines.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    gb = {q: next((r[q].get("gblup_r") for _, r in rows if q in r), None) for q in priors}
    lines.append("| GBLUP (REML) | " + " | ".join(_fmt(gb[q]) for q in priors) + " |")
    draws = sorted({int(r[q].get("draws", 0)) for _, r in rows for q in r})
    lines += ["", f"({'/'.join(map(str, draws))} draws per prior, populations of "
                  f"{'/'.join(sorted({str(r[q].get('pop_size')) for _, r in rows for q in r}))}; "
                  "`python benchmarks/bench_accuracy.py --sections 5 --record`.)"]
    return "\n".join(lines) + "\n"


def record_heldout(path: str | Path, result: dict[str, Any]) -> None:
    """Store a :func:`heldout` result in the model file (rewritten atomically, weights unchanged)."""
    record_metadata(path, {"heldout": result})


def record_benchmark(path: str | Path, name: str, result: dict[str, Any]) -> None:
    """Store one benchmark's result (``{"data", "gpfn", "gblup", "diff", "diff_se", "wins", "n"}``)
    under ``benchmarks[name]`` in the model file; the card lists them."""
    from gpfn_core.modelfile import read_metadata

    record_metadata(path, {"benchmarks": {**read_metadata(path).get("benchmarks", {}), name: result}})


def record_metadata(path: str | Path, update: dict[str, Any] | Any) -> None:
    """Rewrite the model file atomically with ``update`` merged into its metadata; weights unchanged.

    ``update`` may be a function of the current metadata returning the update; it runs
    under an exclusive lock on ``PATH.lock``, so concurrent recorders (two benchmark
    processes filling different matrix columns) do not lose each other's cells."""
    import fcntl

    with open(f"{path}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if callable(update):
                from gpfn_core.modelfile import read_metadata

                update = update(read_metadata(path))
            _rewrite(path, update)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _rewrite(path: str | Path, update: dict[str, Any]) -> None:
    from safetensors import safe_open

    from gpfn_core.modelfile import load_model, save_model

    model, bar, meta = load_model(path)
    with safe_open(str(path), framework="pt") as f:
        dtype = f.get_tensor(next(iter(f.keys()))).dtype
    info = {k: v for k, v in meta.items()
            if k not in ("format", "gpfn_version", "preprocessing_version", "architecture", "borders")}
    save_model(path, model, bar, {**info, **update}, dtype=dtype)


def _fmt(v: Any, spec: str = ".3f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) else "?"


def _pct(share: Any, spec: str) -> str:
    """A share (0..1) as a percentage, or ``?`` when absent."""
    return _fmt(100 * share if isinstance(share, float) else None, spec)


def architecture_thirds(share) -> list[tuple[str, Any]]:
    """Draws split into sparse, middle and polygenic thirds by their polygenic share:
    ``[(name, bool mask)]``, or none where the shares cannot be split (fewer than three,
    not all finite, or all equal as with ``--set poly_share=0``)."""
    import numpy as np

    share = np.asarray(share, float)
    if share.size < 3 or not np.isfinite(share).all() or np.ptp(share) == 0:
        return []
    cuts = np.quantile(share, [1 / 3, 2 / 3])
    return [("sparse third", share <= cuts[0]), ("middle third", (share > cuts[0]) & (share <= cuts[1])),
            ("polygenic third", share > cuts[1])]


def _architecture_rows(h: dict[str, Any]) -> list[str]:
    """The held-out draws split into sparse, middle and polygenic thirds by their polygenic
    share (with the elastic net where it was scored): card lines, or none."""
    import numpy as np

    gp, gb = np.asarray(h.get("model_r_per_draw", []), float), np.asarray(h.get("gblup_r_per_draw", []), float)
    share = np.asarray(h.get("poly_share_per_draw", []), float)
    thirds = architecture_thirds(share) if share.size == gp.size == gb.size else []
    if not thirds:
        return []
    en = (h.get("baseline_r_per_draw") or {}).get("ElasticNet")
    en = np.nan_to_num(np.asarray(en, float)) if en is not None and len(en) == gp.size else None
    head = "  | draws by polygenic share | n | GPFN | GBLUP | GPFN − GBLUP ± SE |" + (" CV elastic net |" if en is not None else "")
    out = [head, "  |" + " --- |" * (head.count("|") - 1)]
    for name, sel in thirds:
        ok = sel & np.isfinite(gp) & np.isfinite(gb)
        if ok.sum() < 2:
            continue
        d = gp[ok] - gb[ok]
        row = (f"  | {name} ({share[sel].min():.2f}-{share[sel].max():.2f}) | {ok.sum()} | {gp[ok].mean():.3f} | "
               f"{gb[ok].mean():.3f} | {d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f} |")
        out.append(row + (f" {en[ok].mean():.3f} |" if en is not None else ""))
    return out + [""]


# the stacking's anchors on the card: (name, weight symbol, short name, description), in STACK_ANCHORS' order
_ANCHOR_LABELS = (
    ("gblup_bma", "a", "GBLUP average", "GBLUP averaged over h² (marginal likelihood)"),
    ("loo_choice", "b", "leave-one-out choice", "the smoother column chosen by leave-one-out fit"),
    ("gblup_family", "c", "family GBLUP", "GBLUP with a within-family kernel averaged over (h², family share)"),
    ("gblup_qtl", "d", "GBLUP + QTL", "large marker effects from single-effect regressions plus family "
                                     "GBLUP of the rest"),
)


def card(path: str | Path, meta: dict[str, Any]) -> str:
    """The model card (markdown) of a model file, from its metadata."""
    path = Path(path)
    tr, arch, fc = meta.get("training", {}), meta.get("architecture", {}), meta.get("fit_config", {})
    types = population_types(meta.get("prior"))
    size = path.stat().st_size / 2**20 if path.exists() else float("nan")
    lines = [
        f"## {path.name}: prior `{meta.get('prior')}` (population type {', '.join(types) or '-'})",
        "",
        f"- **Prior**: `{meta.get('prior')}`, seed {meta.get('prior_seed')}, {meta.get('founders')} founders; "
        f"populations of up to {meta.get('pop_max_size')} individuals, training sets of "
        f"{fc.get('min_training_samples')}-{fc.get('max_training_samples')}"
        + (f" ({fc['size_distribution']})" if fc.get("size_distribution", "uniform") != "uniform" else "")
        + (f", at most {fc['context']} training tokens per draw (the smoothers see all)" if fc.get("context") else "")
        + f"; predicts the true genetic value "
        f"(`--target {meta.get('target')}`).",
        "- **Hyperparameter ranges** (uniform per draw unless a scale is named; population size and training "
        "share are set by the fit, above): " + ", ".join(
            (f"{k} {r[0]}-{r[1]}" + (f" ({r[2]})" if len(r) > 2 else "")) if r[0] != r[1] else f"{k} {r[0]}"
            for k, r in sorted(meta.get("prior_hyperparameters", {}).items())
            if k not in ("pop_size", "train_fraction")) + ".",
        f"- **Preprocessing**: `{meta.get('feature_selection')}` selector, {meta.get('n_features')} features "
        f"(preprocessing version {meta.get('preprocessing_version')}).",
        f"- **Architecture**: {arch.get('num_layers')} layers, embedding {arch.get('emb_size')}, "
        f"{arch.get('num_heads')} heads, feed-forward {arch.get('hidden_dim')}, {arch.get('num_buckets')} buckets, "
        f"relationship bias {'on' if arch.get('relationship_bias') else 'off'}, "
        f"{arch.get('kernel_features', 0)} kernel features, smoother statistics "
        f"{'on' if arch.get('smoother_stats') else 'off'}, input norm {arch.get('input_norm')}; "
        f"**{meta.get('n_parameters', 0):,} parameters**, file {size:.1f} MiB.",
        f"- **Smoothers**: {fc.get('smoothers') or 'none'} (closed-form predictions from all markers, "
        f"{arch.get('smoother_features', 0)} input columns).",
        f"- **Training**: {tr.get('draws_seen', 0):,} draws in {tr.get('steps', 0):,} steps "
        f"(batch {fc.get('batch_size')}, lr {fc.get('lr')}, {fc.get('loss_function')} loss), "
        f"{_fmt(tr.get('seconds', 0) / 3600, '.2f')} h on {tr.get('hardware')}.",
    ]
    runs = meta.get("lineage") or []
    if len(runs) > 1:
        cum = tr.get("cumulative", {})
        lines.append(f"- **Training history** ({len(runs)} runs, each continuing the last with `--init-from`; "
                     f"{cum.get('draws', 0):,} draws, {cum.get('steps', 0):,} steps, "
                     f"{_fmt(cum.get('hours', 0), '.2f')} h in all):")
        lines += [f"  {i + 1}. {r.get('finished') or 'before lineages'}: prior `{r.get('prior', '?')}`, "
                  f"{r.get('draws', 0):,} draws, "
                  f"{r.get('steps', 0):,} steps, {_fmt(r.get('seconds', 0) / 3600, '.2f')} h on {r.get('hardware')}"
                  for i, r in enumerate(runs)]
    st = meta.get("stack")
    if st and st.get("sizes"):
        # the anchors this file's stacking names (the first two always; later ones only in files stacked with them)
        names = [a for a, *_ in _ANCHOR_LABELS
                 if a in ("gblup_bma", "loo_choice")
                 or any((e.get("anchor_weights") or {}).get(a) is not None for e in st["sizes"])]
        label = {a: (sym, short, long) for a, sym, short, long in _ANCHOR_LABELS}
        lines += ["- **Stacking** (`gpfn stack` refits it): the mean is w × the network's + "
                  + " + ".join(f"{label[a][0]} × {label[a][2]}" for a in names)
                  + f", and the intervals "
                  f"are scaled about it, with the weights (best mean r) and the scale (90% coverage) fitted on fresh "
                  f"draws of `{st.get('prior')}`"
                  + (" (with " + ", ".join(f"`--set {k}={v}`" for k, v in st["prior_overrides"].items()) + ")"
                     if st.get("prior_overrides") else "")
                  + " at each training-set size, linear in log n between them:", "",
                  "  | training individuals | w | " + "".join(f"{label[a][0]} | " for a in names)
                  + "interval scale | r network | " + "".join(f"r {label[a][1]} | " for a in names)
                  + "r blend | 90% coverage unscaled | draws |",
                  "  |" + " --- |" * (7 + 2 * len(names))]
        for e in st["sizes"]:
            aw, ar = e.get("anchor_weights") or {}, e.get("r_anchors") or {}
            lines.append(f"  | {e.get('n_train')} | {_fmt(e.get('weight'), '.2f')} | "
                         + "".join(f"{_fmt(aw.get(a, 0.0), '.2f')} | " for a in names)
                         + f"{_fmt(e.get('interval_scale'), '.2f')} | {_fmt(e.get('r_network'))} | "
                         + "".join(f"{_fmt(ar.get(a))} | " for a in names)
                         + f"{_fmt(e.get('r_stacked'))} | {_fmt(e.get('coverage90_unscaled'))} | {e.get('draws')} |")
        lines.append("")
    elif st:
        aw, ar = st.get("anchor_weights") or {}, st.get("r_anchors") or {}
        lines.append(f"- **Stacking**: the mean is {_fmt(st.get('weight'), '.2f')} × the network's + "
                     f"{_fmt(aw.get('gblup_bma'), '.2f')} × GBLUP averaged over h² (marginal likelihood) + "
                     f"{_fmt(aw.get('loo_choice'), '.2f')} × the smoother column chosen by leave-one-out fit, "
                     f"the weights with the best mean r on {st.get('draws')} fresh draws of `{st.get('prior')}` "
                     f"(network alone {_fmt(st.get('r_network'))}, GBLUP average {_fmt(ar.get('gblup_bma'))}, "
                     f"leave-one-out choice {_fmt(ar.get('loo_choice'))}, blend {_fmt(st.get('r_stacked'))}); "
                     f"`gpfn stack` refits them.")
    val = tr.get("validation")
    if val:
        lines.append(f"- **Validation during fit** ({val.get('draws')} draws): model r {_fmt(val.get('model_r'))} "
                     f"vs GBLUP {_fmt(val.get('gblup_r'))}.")
    h = meta.get("heldout")
    if h:
        lines += [
            f"- **Held-out accuracy** ({h.get('draws')} fresh draws of `{meta.get('prior')}`"
            + (f" (prior seed {h['prior_seed']})" if "prior_seed" in h else "") + f" from index "
            f"{h.get('start_index')}, populations of {h.get('pop_size')}; Pearson r with the targets' true genetic "
            f"values, mean ± sd over draws):",
            "",
            "  | method | mean r | sd |",
            "  | --- | --- | --- |",
            f"  | GPFN (this model) | {_fmt(h.get('model_r'))} | {_fmt(h.get('model_r_sd'))} |",
            f"  | GBLUP (REML, all markers) | {_fmt(h.get('gblup_r'))} | {_fmt(h.get('gblup_r_sd'))} |",
            f"  | GPFN − GBLUP (paired) | {_fmt(h.get('diff'), '+.3f')} | SE {_fmt(h.get('diff_se'))} |",
            *([f"  | network alone (no stacking) − GBLUP | {_fmt(h.get('network_diff'), '+.3f')} | "
               f"SE {_fmt(h.get('network_diff_se'))} |"] if "network_diff" in h else []),
            "",
            *_architecture_rows(h),
            f"  GPFN is ahead on {_pct(h.get('wins'), '.0f')}% of "
            f"the draws; its 90% intervals [q05, q95] hold the true genetic value for "
            f"{_pct(h.get('coverage90'), '.1f')}% of targets "
            f"(nominal 90%); the interval is {_fmt(h.get('interval_to_sd'), '.2f')} × the width the reported sd "
            f"implies (2 × 1.645 sd).",
        ]
    else:
        lines.append("- **Held-out accuracy**: not measured (`python benchmarks/model_card.py MODEL`).")
    row = meta.get("matrix") or {}
    if row:
        changed = ((meta.get("fit_config") or {}).get("overrides")) or {}
        lines += ["- **On every prior's held-out draws** (the same draws for every shipped model, each prior at its "
                  "defaults" + (f", so `{meta.get('prior')}` here is without this model's "
                                f"{', '.join(f'{k}={v}' for k, v in changed.items())}" if changed else "")
                  + "; `gpfn models` shows them all):", "",
                  "  | prior | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN wins | 90% coverage |",
                  "  | --- | --- | --- | --- | --- | --- |"]
        own = " (own)" if not changed else " (defaults)"
        lines += [f"  | {q}{own if q == meta.get('prior') else ''} | {_fmt(c.get('model_r'))} | "
                  f"{_fmt(c.get('gblup_r'))} | {_fmt(c.get('diff'), '+.3f')} ± {_fmt(c.get('diff_se'))} | "
                  f"{_pct(c.get('wins'), '.0f')}% | {_fmt(c.get('coverage90'))} |" for q, c in row.items()]
        lines.append("")
    bench = meta.get("benchmarks") or {}
    if bench:
        lines += ["- **Other data** (`python benchmarks/bench_accuracy.py --record`; GBLUP on the same splits):", "",
                  "  | data | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN ahead |", "  | --- | --- | --- | --- | --- |"]
        lines += [f"  | {b.get('data')} | {_fmt(b.get('gpfn'))} | {_fmt(b.get('gblup'))} | "
                  f"{_fmt(b.get('diff'), '+.3f')} ± {_fmt(b.get('diff_se'))} | "
                  f"{_pct(b.get('wins'), '.0f')}% of {b.get('n')} |"
                  for b in bench.values()]
        if "predict_time" in meta:
            t = meta["predict_time"]
            lines += ["", f"  `gpfn predict` on {t.get('train')} + {t.get('target')} individuals × {t.get('markers')} "
                          f"markers: {_fmt(t.get('gpfn'), '.2f')} s against GBLUP's {_fmt(t.get('gblup'), '.2f')} s "
                          f"({_fmt(t.get('gpfn') / t.get('gblup') if t.get('gblup') else None, '.2f')}×)."]
    return "\n".join(lines) + "\n"
