"""Model cards: the markdown ``gpfn models`` prints and the ``.md`` beside each shipped model.

A model card is written from the model file's own metadata (:func:`card`), so the card
that ``gpfn models`` prints and the ``.md`` file beside a shipped model cannot drift from
the weights; :func:`matrix_table` prints the recorded matrix of every model on every prior.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpfn_core.models.lookup import _fmt, population_types
from gpfn_core.models.scoring import MATRIX_PRIORS, current
from gpfn_core.net.preprocess import LOO_WEIGHING


def matrix_table(found: list[tuple[Path, dict[str, Any]]], draws_from: str = "final") -> str:
    """The recorded matrix of the models ``found`` (``list_models()``) on the draw set
    ``draws_from``, current cells only: a row per model, a column per prior, each cell GPFN
    r and its difference from GBLUP on the same draws ("-": not measured since the model's
    last change)."""
    rows = [(p, current(p, m)["matrix"].get(draws_from) or {}) for p, m in found]
    priors = [q for q in MATRIX_PRIORS if any(q in r for _, r in rows)]
    priors += sorted({q for _, r in rows for q in r} - set(priors))
    if not priors:
        return ""
    lines = [f"Held-out r of each model (rows) on each prior's {draws_from} draws (columns), and GPFN − GBLUP on "
             "the same draws:", "", "| model | " + " | ".join(priors) + " |", "| --- |" + " --- |" * len(priors)]
    for path, r in rows:
        cells = [f"{_fmt(r[q].get('model_r'))} ({_fmt(r[q].get('diff'), '+.3f')})" if q in r else "-" for q in priors]
        lines.append(f"| {path.stem} | " + " | ".join(cells) + " |")
    gb = {q: next((r[q].get("gblup_r") for _, r in rows if q in r), None) for q in priors}
    lines.append("| GBLUP (REML) | " + " | ".join(_fmt(gb[q]) for q in priors) + " |")
    draws = sorted({int(r[q].get("draws", 0)) for _, r in rows for q in r})
    lines += ["", f"({'/'.join(map(str, draws))} draws per prior, populations of "
                  f"{'/'.join(sorted({str(r[q].get('pop_size')) for _, r in rows for q in r}))}; "
                  f"`python benchmarks/bench_accuracy.py --sections 5 --draws-from {draws_from} --record`.)"]
    return "\n".join(lines) + "\n"


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
    ("loo_choice", "b", "leave-one-out weights", "the smoother columns weighed by their leave-one-out fit "
                                                "(pseudo-BMA+)"),
    ("gblup_family", "c", "family GBLUP", "GBLUP with a within-family kernel averaged over (h², family share)"),
    ("gblup_qtl", "d", "GBLUP + QTL", "large marker effects from single-effect regressions plus family "
                                     "GBLUP of the rest"),
    ("bayesb", "e", "BayesB", "BayesB's posterior mean from a short seeded chain (from 2,000 training lines)"),
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
                  + " at each training-set size, linear in log n between them"
                  + ("" if st.get("loo_choice") == LOO_WEIGHING else
                     " (fitted when the leave-one-out anchor was the single column of best fit; its r below is that "
                     "column's)") + ":", "",
                  "  | training individuals | w | " + "".join(f"{label[a][0]} | " for a in names)
                  + "interval scale | r network | " + "".join(f"r {label[a][1]} | " for a in names)
                  + "r blend | 90% coverage unscaled | draws |",
                  "  |" + " --- |" * (7 + 2 * len(names))]
        for e in st["sizes"]:
            aw, ar = e.get("anchor_weights") or {}, e.get("r_anchors") or {}
            lines.append(f"  | {e.get('n_train')} | {_fmt(e.get('weight'), '.2f')} | "
                         # "-": an anchor this size's fit did not try (one added later, or tried only from a size on)
                         + "".join(f"{_fmt(aw[a], '.2f') if a in aw else '-'} | " for a in names)
                         + f"{_fmt(e.get('interval_scale'), '.2f')} | {_fmt(e.get('r_network'))} | "
                         + "".join(f"{_fmt(ar[a]) if a in ar else '-'} | " for a in names)
                         + f"{_fmt(e.get('r_stacked'))} | {_fmt(e.get('coverage90_unscaled'))} | {e.get('draws')} |")
        if any(a not in (e.get("anchor_weights") or {}) for e in st["sizes"] for a in names):
            lines.append("  (-: an anchor not tried at that size, weighed 0 there.)")
        lines.append("")
    elif st:
        aw, ar = st.get("anchor_weights") or {}, st.get("r_anchors") or {}
        lines.append(f"- **Stacking**: the mean is {_fmt(st.get('weight'), '.2f')} × the network's + "
                     f"{_fmt(aw.get('gblup_bma'), '.2f')} × GBLUP averaged over h² (marginal likelihood) + "
                     f"{_fmt(aw.get('loo_choice'), '.2f')} × the smoother columns weighed by their leave-one-out fit, "
                     f"the weights with the best mean r on {st.get('draws')} fresh draws of `{st.get('prior')}` "
                     f"(network alone {_fmt(st.get('r_network'))}, GBLUP average {_fmt(ar.get('gblup_bma'))}, "
                     f"leave-one-out weights {_fmt(ar.get('loo_choice'))}, blend {_fmt(st.get('r_stacked'))}); "
                     f"`gpfn stack` refits them.")
    val = tr.get("validation")
    if val:
        lines.append(f"- **Validation during fit** ({val.get('draws')} draws): model r {_fmt(val.get('model_r'))} "
                     f"vs GBLUP {_fmt(val.get('gblup_r'))}.")
    lines += _results_lines(path, meta)
    return "\n".join(lines) + "\n"


def _results_lines(path: Path, meta: dict[str, Any]) -> list[str]:
    """The card's measured part: the current results only (recorded on the file as it is now)."""
    res = current(path, meta)
    own = meta.get("prior")
    changed = ((meta.get("fit_config") or {}).get("overrides")) or {}
    note = (f" at its defaults, without this model's {', '.join(f'{k}={v}' for k, v in changed.items())}"
            if changed else "")
    lines = []
    for name, label in (("final", "final draws (read only by the reporting run)"),
                        ("selection", "selection draws (the draws every decision is made on)")):
        row = res["matrix"].get(name) or {}
        h = row.get(own)
        if h:
            lines += [
                f"- **Held-out accuracy, {label}**: {h.get('draws')} draws of `{own}`{note} (prior seed "
                f"{h.get('prior_seed')}, indices from {h.get('start_index')}, populations of {h.get('pop_size')}); "
                f"Pearson r with the targets' true genetic values:", "",
                "  | method | mean r | − GBLUP ± SE | ahead on |", "  | --- | --- | --- | --- |",
                f"  | GPFN (this model) | {_fmt(h.get('model_r'))} | {_fmt(h.get('diff'), '+.3f')} ± "
                f"{_fmt(h.get('diff_se'))} | {_pct(h.get('wins'), '.0f')}% |",
                *([f"  | the network alone | {_fmt(h.get('network_r'))} | {_fmt(h.get('network_diff'), '+.3f')} ± "
                   f"{_fmt(h.get('network_diff_se'))} | |"] if "network_r" in h else []),
                f"  | GBLUP (REML, all markers) | {_fmt(h.get('gblup_r'))} | | |", "",
                *_architecture_rows(h),
                f"  Its 90% intervals [q05, q95] hold {_pct(h.get('coverage90'), '.1f')}% of the true values.", ""]
        if row:
            lines += [f"- **On every prior's {name} draws** (each prior at its defaults, the same draws for every "
                      f"model; `gpfn models` shows them all):", "",
                      "  | prior | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN ahead | 90% coverage |",
                      "  | --- | --- | --- | --- | --- | --- |"]
            lines += [f"  | {q}{' (own)' if q == own else ''} | {_fmt(c.get('model_r'))} | "
                      f"{_fmt(c.get('gblup_r'))} | {_fmt(c.get('diff'), '+.3f')} ± {_fmt(c.get('diff_se'))} | "
                      f"{_pct(c.get('wins'), '.0f')}% | {_fmt(c.get('coverage90'))} |" for q, c in row.items()]
            lines.append("")
    if not res["matrix"]:
        lines.append("- **Held-out accuracy**: not measured since the last change "
                     "(`python benchmarks/bench_accuracy.py --sections 1 --draws-from final --record`).")
    bench = res["benchmarks"]
    if bench:
        lines += ["- **Real data and other benchmarks** (development sets; GBLUP on the same splits):", "",
                  "  | data | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN ahead |", "  | --- | --- | --- | --- | --- |"]
        lines += [f"  | {b.get('data')} | {_fmt(b.get('gpfn'))} | {_fmt(b.get('gblup'))} | "
                  f"{_fmt(b.get('diff'), '+.3f')} ± {_fmt(b.get('diff_se'))} | "
                  f"{_pct(b.get('wins'), '.0f')}% of {b.get('n')} |"
                  for b in bench.values() if "gpfn" in b]
        lines.append("")
        t = bench.get("predict_time")
        if t:
            lines += [f"  `gpfn predict` on {t.get('train')} + {t.get('target')} individuals × {t.get('markers')} "
                      f"markers: {_fmt(t.get('gpfn_seconds'), '.2f')} s against GBLUP's "
                      f"{_fmt(t.get('gblup_seconds'), '.2f')} s ({_fmt(t.get('ratio'), '.2f')}×, "
                      f"{t.get('threads')} thread(s)).", ""]
    if res["stale"]:
        lines.append(f"- {res['stale']} earlier result(s) in the file were measured before its last change and are "
                     f"not shown.")
    return lines
