"""Accuracy of the shipped models against GBLUP on held-out prior draws, and predict's time.

Sections (each a table; every GPFN figure has GBLUP measured on the same data beside it):

1. **Held-out prior draws**, per model: ``--draws`` draws of the model's prior at its
   default ranges (``--draws-from selection``: the draws every decision is made on;
   ``final``: the reporting run's, read by nothing else), Pearson r with the targets'
   true genetic values, the paired difference GPFN − GBLUP with its SE, the share of
   draws GPFN is ahead on, the coverage of its 90% intervals; the network alone, the
   leave-one-out choice among its smoother columns (no model), and the same split into
   sparse, middle and polygenic thirds by the draws' polygenic share; with
   ``--elastic-net`` also a CV elastic net.  BayesB and BayesCπ on the same draws are
   ``bench_bayes.py --sections 3``.
3. **Training-set sizes**: draws of the NAM prior with about 30, 1,000 and 3,000 training
   individuals (true genetic values as the truth), GPFN and GBLUP.
4. **Prediction time**: `gpfn predict` end to end against GBLUP (REML) on 1,000 + 1,000
   individuals x 50,000 markers (benchmarks/bench_predict.py).
5. **Every model on every prior**: ``--draws`` held-out draws of each prior (nam, wild,
   ril, silva, recurrent, outbred, hybrid and the universal mixture, each at its defaults), every model on
   the same draws, GBLUP beside them; the diagonal is section 1.

The real development sets (wheat599 and six more) are ``bench_real.py``.  With
``--record`` a section writes a record under ``benchmarks/results/`` and stores its
results in each model file with the file's fingerprint (``gpfn models`` and the cards
show them while the model is unchanged); ``benchmarks/report.py`` writes README's tables
from the records.

    python benchmarks/bench_accuracy.py [--models nam.gpfn ...] [--draws 200] [--draws-from final] [--sections 15]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from records import write  # noqa: E402

from gpfn_core.linear.baselines import elastic_net  # noqa: E402
from gpfn_core.linear.gblup import gblup  # noqa: E402
from gpfn_core.models.cards import architecture_thirds, card, matrix_table  # noqa: E402
from gpfn_core.models.lookup import list_models  # noqa: E402
from gpfn_core.models.scoring import (MATRIX_PRIORS, PER_DRAW, SUMMARY, heldout, matrix,  # noqa: E402
                                      record_benchmark, record_heldout, record_matrix)
from gpfn_core.net.modelfile import load_model, read_metadata  # noqa: E402
from gpfn_core.registry import get_registry  # noqa: E402
from gpfn_core.tasks.predict import predict_arrays  # noqa: E402
from gpfn_core.metrics import pearson

SIZES_INDEX = 6_000_000_000  # section 3's draws (no decision is made on them)


def paired(name: str, gp, gb, extra: str = "") -> str:
    gp, gb = np.asarray(gp, float), np.asarray(gb, float)
    ok = np.isfinite(gp) & np.isfinite(gb)
    d = gp[ok] - gb[ok]
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("nan")
    return (f"| {name} | {ok.sum()} | {gp[ok].mean():.3f} | {gb[ok].mean():.3f} | {d.mean():+.3f} ± {se:.3f} | "
            f"{np.mean(d > 0):.0%} |{extra}")


def summary(gp, gb) -> dict:
    gp, gb = np.asarray(gp, float), np.asarray(gb, float)
    ok = np.isfinite(gp) & np.isfinite(gb)
    d = gp[ok] - gb[ok]
    return {"gpfn": float(gp[ok].mean()), "gblup": float(gb[ok].mean()), "diff": float(d.mean()),
            "diff_se": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan"),
            "wins": float(np.mean(d > 0)), "n": int(ok.sum())}


def section_heldout(models: list[Path], draws: int, draws_from: str, record: bool, with_elastic_net: bool,
                    overrides: dict) -> None:
    print(f"\n## 1. Held-out prior draws ({draws} {draws_from} draws per model, each model's prior at its defaults"
          + (f", changed by --set {' '.join(f'{k}={v}' for k, v in overrides.items())}" if overrides else "")
          + "; r with true genetic values)\n")
    print("| model (prior) | draws | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN ahead | 90% coverage |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    recorded = {}
    for path in models:
        t = time.perf_counter()
        h = heldout(path, draws=draws, draws_from=draws_from, overrides=overrides,
                    baselines={"ElasticNet": elastic_net} if with_elastic_net else None)
        print(paired(f"{path.name} ({h['prior']}, pop {h['pop_size']}, seed {h['prior_seed']})",
                     h["model_r_per_draw"], h["gblup_r_per_draw"], f" {h.get('coverage90', float('nan')):.3f} |"))
        if "network_r_per_draw" in h:
            w = h["stack_weights"]
            print(paired(f"  the network alone (stacking at these sizes, mean weights: network {w[0]:.2f}, anchors "
                         + ", ".join(f"{v:.2f}" for v in w[1:]) + f"; interval scale {h['interval_scale']:.2f})",
                         h["network_r_per_draw"], h["gblup_r_per_draw"], " |"))
        if "loo_choice_r_per_draw" in h:
            print(paired("  leave-one-out choice among the smoother columns (no model)", h["loo_choice_r_per_draw"],
                         h["gblup_r_per_draw"], " |"))
        share = np.asarray(h.get("poly_share_per_draw", []), float)
        gp, gb = np.asarray(h["model_r_per_draw"]), np.asarray(h["gblup_r_per_draw"])
        for name, sel in architecture_thirds(share) if share.size == gp.size else []:
            if sel.any():
                print(paired(f"  {name} (polygenic share {share[sel].min():.2f}-{share[sel].max():.2f})", gp[sel],
                             gb[sel], " |"))
        if with_elastic_net:
            en = np.nan_to_num(np.asarray(h["baseline_r_per_draw"]["ElasticNet"], float))  # empty model: r 0
            print(paired("  GPFN against the CV elastic net", h["model_r_per_draw"], en, " |"))
        print(f"<!-- {time.perf_counter() - t:.0f} s -->", flush=True)
        recorded[path] = h
    if record and not overrides:
        rec = write(f"heldout-{draws_from}", {p.name: {k: h[k] for k in (*SUMMARY, *PER_DRAW, "prior") if k in h}
                                              for p, h in recorded.items()},
                    models=models, data={"draws_from": draws_from, "draws": draws})
        for p, h in recorded.items():
            record_heldout(p, h, str(rec))
        print(f"recorded: {rec}")


def section_sizes(model: Path, sizes: list[tuple[int, int, int]], record: bool) -> None:
    print("\n## 3. Training-set sizes (NAM prior draws at its defaults; r with true genetic values)\n")
    m, bar, meta = load_model(model)
    prior = get_registry().make_prior("nam", seed=1, founders="msprime")
    print("| training individuals (mean) | draws | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN ahead | s per draw GPFN / "
          "GBLUP | 90% coverage |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = {}
    for pop, n_train, draws in sizes:
        gp, gb, net, nts, tg, tb, inside, total = [], [], [], [], 0.0, 0.0, 0, 0
        for i in range(draws):
            d = prior.draw(SIZES_INDEX + i, fixed={"pop_size": pop, "train_fraction": n_train / pop})
            nt = d.n_train
            if nt < 3 or d.n - nt < 3 or np.ptp(d.y[:nt]) == 0:
                continue
            t = time.perf_counter()
            res = predict_arrays(m, bar, meta, d.x[:nt], d.y[:nt], d.x[nt:])
            tg += time.perf_counter() - t
            t = time.perf_counter()
            q = gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction
            tb += time.perf_counter() - t
            gp.append(pearson(res["mean"], d.g[nt:]))
            gb.append(pearson(q, d.g[nt:]))
            net.append(pearson(res["network_mean"], d.g[nt:]))
            inside += int(((res["q05"] <= d.g[nt:]) & (d.g[nt:] <= res["q95"])).sum())
            total += d.n - nt
            nts.append(nt)
        print(paired(f"{np.mean(nts):.0f} (pop {pop})", gp, gb, f" {tg / len(gp):.2f} / {tb / len(gp):.2f} | "
                     f"{inside / total:.3f} |"))
        if meta.get("stack"):
            print(paired("  the network alone (no stacking)", net, gb, " | |"))
        rows[n_train] = {**summary(gp, gb), "network": summary(net, gb)["gpfn"], "mean_n_train": float(np.mean(nts)),
                         "coverage90": inside / total, "pop_size": pop,
                         "data": f"NAM draws with ~{n_train} training individuals (r with true genetic values)"}
    if record:
        rec = write("sizes", {model.name: rows}, models=[model], data={"start_index": SIZES_INDEX, "prior_seed": 1})
        for n_train, row in rows.items():
            record_benchmark(model, f"sizes:{n_train}", row, str(rec))
        print(f"recorded: {rec}")


def section_time(model: Path, threads: int, record: bool) -> None:
    from bench_predict import time_predict
    from threadpoolctl import threadpool_limits

    print(f"\n## 4. Prediction time: 1,000 training + 1,000 targets x 50,000 markers, end to end, {threads} "
          f"thread(s) for both (torch and BLAS)\n")
    with threadpool_limits(threads):  # --threads limits torch only; BLAS (GBLUP's x x^T) would take every core
        t = time_predict(model, 1000, 1000, 50_000, repeats=5)
    t["threads"] = threads
    print("| what | seconds | vs GBLUP |\n| --- | --- | --- |")
    print(f"| GBLUP (REML), baseline | {t['gblup']:.2f} | 1.00 |")
    print(f"| gpfn predict ({model.name}) | {t['gpfn']:.2f} | {t['gpfn'] / t['gblup']:.2f} |")
    if record:
        rec = write("predict-time", {model.name: t}, models=[model])
        record_benchmark(model, "predict_time", {"train": t["train"], "target": t["target"], "markers": t["markers"],
                                                 "gpfn_seconds": t["gpfn"], "gblup_seconds": t["gblup"],
                                                 "ratio": t["gpfn"] / t["gblup"], "threads": threads}, str(rec))
        print(f"recorded: {rec}")


def section_matrix(models: list[Path], draws: int, draws_from: str, record: bool, priors: list[str] | None) -> None:
    print(f"\n## 5. Every model on every prior's held-out draws ({draws} {draws_from} draws per prior)\n")
    m = matrix(models, priors=tuple(priors or MATRIX_PRIORS), draws=draws, draws_from=draws_from,
               log=lambda s: print(f"<!-- {s} -->", flush=True))
    print(_plain_matrix(m, models))
    print("| model | prior | GPFN − GBLUP ± SE | ahead | 90% coverage |")
    print("| --- | --- | --- | --- | --- |")
    for p in models:
        for q, c in m[p.name].items():
            print(f"| {p.stem} | {q} | {c['diff']:+.3f} ± {c['diff_se']:.3f} | {100 * c['wins']:.0f}% | "
                  f"{c['coverage90']:.3f} |")
    if record:
        rec = write(f"matrix-{draws_from}", {p.name: {q: {k: c[k] for k in (*SUMMARY, *PER_DRAW) if k in c}
                                                      for q, c in m[p.name].items()} for p in models},
                    models=models, data={"draws_from": draws_from, "draws": draws})
        for p in models:
            record_matrix(p, m[p.name], draws_from, str(rec))
        print(f"recorded: {rec}")


def _plain_matrix(m: dict, models: list[Path]) -> str:
    priors = list(next(iter(m.values())).keys()) if m else []
    lines = ["| model | " + " | ".join(priors) + " |", "| --- |" + " --- |" * len(priors)]
    for p in models:
        lines.append(f"| {p.stem} | " + " | ".join(f"{m[p.name][q]['model_r']:.3f} ({m[p.name][q]['diff']:+.3f})"
                                                   for q in priors) + " |")
    gb = {q: next(m[p.name][q]["gblup_r"] for p in models) for q in priors}
    return "\n".join(lines + ["| GBLUP (REML) | " + " | ".join(f"{gb[q]:.3f}" for q in priors) + " |"]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, nargs="*", help="Model files (default: every shipped model).")
    ap.add_argument("--draws", type=int, default=200, help="Held-out draws per model (sections 1) or prior (5).")
    ap.add_argument("--draws-from", default="selection", choices=["selection", "final"],
                    help="Which held-out draws: selection (every decision is made on them) or final (the "
                         "reporting run only).")
    ap.add_argument("--small-draws", type=int, default=400, help="Draws with ~30 training individuals.")
    ap.add_argument("--mid-draws", type=int, default=60, help="Draws with ~1,000 training individuals.")
    ap.add_argument("--large-draws", type=int, default=20, help="Draws with ~3,000 training individuals.")
    ap.add_argument("--sections", default="1345", help="Which sections to run (e.g. 15).")
    ap.add_argument("--elastic-net", action="store_true", help="Section 1: also a CV elastic net on the same draws.")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="Section 1: change the priors' ranges (as gpfn fit --set); never recorded.")
    ap.add_argument("--priors", nargs="*", default=None, help="Section 5's columns (default: every shipped prior).")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--record", action="store_true", help="Write records under benchmarks/results and store the "
                    "results in each model file; rewrite its card (MODEL.md).")
    a = ap.parse_args()
    from gpfn_cli.common import parse_overrides

    torch.set_num_threads(a.threads)
    models = a.models or [p for p, _ in list_models()]
    nam = next((p for p in models if read_metadata(p).get("prior") == "nam"), models[0])
    t = time.perf_counter()
    print(f"# bench_accuracy: {', '.join(p.name for p in models)}; {a.threads} threads")
    if "1" in a.sections:
        section_heldout(models, a.draws, a.draws_from, a.record, a.elastic_net, parse_overrides(a.overrides))
    if "3" in a.sections:
        section_sizes(nam, [(300, 30, a.small_draws), (1200, 1000, a.mid_draws), (4000, 3000, a.large_draws)],
                      a.record)
    if "4" in a.sections:
        section_time(nam, a.threads, a.record)
    if "5" in a.sections:
        section_matrix(models, a.draws, a.draws_from, a.record, a.priors)
    print(f"\n# {time.perf_counter() - t:.0f} s in all")
    if a.record:  # the cards, from the files' metadata as now recorded
        for path in models:
            path.with_suffix(".md").write_text(card(path, read_metadata(path)))
        print(matrix_table(list_models(), a.draws_from))


if __name__ == "__main__":
    main()
