"""Accuracy of the shipped models against GBLUP, in one run: the table issue 13 asks for.

Sections (each a table; every GPFN figure has GBLUP measured on the same data beside it):

1. **Held-out prior draws**, per model: ``--draws`` fresh draws of the model's prior
   (indices from 5e9, never used in fitting), Pearson r with the targets' true genetic
   values, the paired difference GPFN - GBLUP with its SE, the share of draws GPFN wins,
   and the coverage of its 90% intervals; the per-draw choice among the smoother columns
   by leave-one-out error (what cross-validated selection among the model's inputs
   gives, no model); the same split into sparse, middle and
   polygenic thirds by the draws' polygenic share; with ``--elastic-net`` also a CV
   elastic net on all markers and GPFN against the better of it and GBLUP per third.
2. **wheat599** (``--wheat``, ``../shared/data/wheat599``): 4 environments x the data's own
   10 folds; GPFN, GBLUP (REML) and ridge (LOO-tuned), r with the observed yields; with
   ``--bayes ITERATIONS`` also BayesB, BayesCπ and the best classical method.  Then the
   same 4 environments with whole genomic clusters held out (5 folds of clusters): lines
   of groups no phenotyped line belongs to, as in between-family prediction.
3. **Training-set sizes**: draws of the NAM prior with about 30, 1,000 and 3,000 training
   individuals (true genetic values as the truth), GPFN and GBLUP.
4. **Prediction time**: `gpfn predict` end to end against GBLUP (REML) on 1,000 + 1,000
   individuals x 50,000 markers (benchmarks/bench_predict.py).
5. **Every model on every prior** (issue 18): ``--draws`` held-out draws of each prior
   (nam, wild, ril, silva, recurrent and the universal mixture; prior seed
   ``--heldout-seed``, default 1), every model on the same draws, GBLUP beside them.
   With ``--record`` each model file keeps its row, and its own prior's cell becomes its
   held-out result; ``gpfn models`` prints the matrix.

    python benchmarks/bench_accuracy.py [--models nam.gpfn ...] [--draws 200] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))

from gpfn_core.linear.bayes import bayes  # noqa: E402
from gpfn_core.linear.baselines import elastic_net, ridge# noqa: E402
from gpfn_core.linear.family import FAMILY_CUT# noqa: E402
from gpfn_core.linear.gblup import gblup# noqa: E402
from gpfn_core.net.modelfile import load_model  # noqa: E402
from gpfn_core.net.modelfile import read_metadata  # noqa: E402
from gpfn_core.models.cards import architecture_thirds, card, matrix_table  # noqa: E402
from gpfn_core.models.lookup import list_models  # noqa: E402
from gpfn_core.models.scoring import heldout, matrix, MATRIX_PRIORS, record_benchmark, record_heldout, record_matrix  # noqa: E402
from gpfn_core.net.modelfile import record_metadata  # noqa: E402
from gpfn_core.tasks.predict import predict_arrays  # noqa: E402
from gpfn_core.registry import get_registry  # noqa: E402

WHEAT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "wheat599"


def r(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float("nan")


RECORD: list[Path] = []  # model files the paired results are recorded into (--record)


def paired(name: str, gp: list[float], gb: list[float], extra: str = "", model: Path | None = None,
           data: str | None = None) -> str:
    """A table row; with ``--record`` and ``data``, also stored in ``model``'s file for its card."""
    gp, gb = np.asarray(gp), np.asarray(gb)
    ok = np.isfinite(gp) & np.isfinite(gb)
    d = gp[ok] - gb[ok]
    se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("nan")
    if model is not None and data and model in RECORD:
        record_benchmark(model, data, {"data": data, "gpfn": float(gp[ok].mean()), "gblup": float(gb[ok].mean()),
                                       "diff": float(d.mean()), "diff_se": float(se), "wins": float(np.mean(d > 0)),
                                       "n": int(ok.sum())})
    return (f"| {name} | {ok.sum()} | {gp[ok].mean():.3f} | {gb[ok].mean():.3f} | {d.mean():+.3f} ± {se:.3f} | "
            f"{np.mean(d > 0):.0%} |{extra}")


def elastic_net_table(h: dict) -> None:
    """Issue 17's test: GPFN against the better of GBLUP and a CV elastic net, overall and per third."""
    gp, gb = np.asarray(h["model_r_per_draw"]), np.asarray(h["gblup_r_per_draw"])
    en = np.nan_to_num(np.asarray(h["baseline_r_per_draw"]["ElasticNet"], float))  # empty model: r 0
    share = np.asarray(h["poly_share_per_draw"], float)
    print("\n| draws (polygenic share) | n | GPFN | GBLUP | CV elastic net | better of the two | "
          "GPFN − better ± SE | GPFN wins |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, sel in [("all", np.ones(share.size, bool)), *architecture_thirds(share)]:
        ok = sel & np.isfinite(gp) & np.isfinite(gb)
        if not ok.any():
            continue
        better, ref = ("GBLUP", gb) if gb[ok].mean() >= en[ok].mean() else ("elastic net", en)
        d = gp[ok] - ref[ok]
        se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else float("nan")
        print(f"| {name} ({share[sel].min():.2f}-{share[sel].max():.2f}) | {ok.sum()} | {gp[ok].mean():.3f} | "
              f"{gb[ok].mean():.3f} | {en[ok].mean():.3f} | {better} | {d.mean():+.3f} ± {se:.3f} | "
              f"{np.mean(d > 0):.0%} |")


def section_heldout(models: list[Path], draws: int, record: bool = False, seed: int | None = None,
                    with_elastic_net: bool = False, overrides: dict | None = None) -> None:
    print(f"\n## 1. Held-out prior draws ({draws} per model; r with true genetic values)"
          + (f"; prior ranges changed by --set {' '.join(f'{k}={v}' for k, v in overrides.items())}" if overrides
             else "") + "\n")
    print("| model (prior) | draws | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN wins | 90% coverage |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for path in models:
        t = time.perf_counter()
        h = heldout(path, draws=draws, seed=seed, baselines={"ElasticNet": elastic_net} if with_elastic_net else None,
                    overrides=overrides)
        print(paired(f"{path.name} ({load_model(path)[2].get('prior')}, pop {h['pop_size']}, seed {h['prior_seed']})",
                     h["model_r_per_draw"], h["gblup_r_per_draw"], f" {h.get('coverage90', float('nan')):.3f} |"))
        if "network_r_per_draw" in h:  # the A/B of stacking: the same model without the GBLUP-average blend
            w = h["stack_weights"]
            print(paired(f"  network alone (stacking weights at these sizes, mean: network {w[0]:.2f}, GBLUP average "
                         f"{w[1]:.2f}, leave-one-out choice {w[2]:.2f}, family GBLUP {w[3]:.2f}, GBLUP + QTL {w[4]:.2f}; "
                         f"interval scale "
                         f"{h.get('interval_scale', 1.0):.2f})",
                         h["network_r_per_draw"], h["gblup_r_per_draw"], " |"))
        if "loo_choice_r_per_draw" in h:  # what cross-validated selection among the model's own inputs gives
            print(paired("  leave-one-out choice among the smoother columns (no model)", h["loo_choice_r_per_draw"],
                         h["gblup_r_per_draw"], " |"))
        share = np.asarray(h.get("poly_share_per_draw", []), float)
        thirds = architecture_thirds(share) if share.size == len(h["model_r_per_draw"]) else []
        gp, gb = np.asarray(h["model_r_per_draw"]), np.asarray(h["gblup_r_per_draw"])
        for name, sel in thirds:
            if not sel.any():  # tied shares can leave a third empty
                continue
            lo, hi = share[sel].min(), share[sel].max()
            print(paired(f"  {name} (polygenic share {lo:.2f}-{hi:.2f})", gp[sel], gb[sel], " |"))
        if with_elastic_net and thirds:
            elastic_net_table(h)
        elif with_elastic_net:
            en = np.nan_to_num(np.asarray(h["baseline_r_per_draw"]["ElasticNet"], float))
            print(paired("  GPFN against the CV elastic net", h["model_r_per_draw"], en, " |"))
        print(f"<!-- {time.perf_counter() - t:.0f} s -->")
        if record and not overrides:  # the same numbers into the model file (benchmarks/model_card.py does this alone)
            record_heldout(path, h)


def read_wheat(folder: Path):
    geno = np.genfromtxt(folder / "genotypes.csv", delimiter=",", skip_header=1, dtype=float)[:, 1:]
    with open(folder / "genotypes.csv") as f:
        f.readline()
        taxa_g = [line.split(",", 1)[0] for line in f]
    ph = np.genfromtxt(folder / "phenotypes.csv", delimiter=",", names=True, dtype=None, encoding="utf-8")
    order = {t: i for i, t in enumerate(taxa_g)}
    rows = np.array([order[t] for t in ph["taxon"]])
    envs = [n for n in ph.dtype.names if n.startswith("yield")]
    return geno[rows].astype(np.int8), {e: ph[e].astype(float) for e in envs}, ph["fold"].astype(int)


def section_wheat(model: Path, folder: Path, bayes_iterations: int = 0) -> None:
    print(f"\n## 2. wheat599 ({folder}): 4 environments x its 10 folds, r with observed yield\n")
    if not (folder / "genotypes.csv").exists():
        print(f"(skipped: {folder} not found)")
        return
    m, bar, meta = load_model(model)
    x, envs, fold = read_wheat(folder)
    print(f"model {model.name}; {x.shape[0]} lines x {x.shape[1]} markers\n")
    classical = ["GBLUP", "ridge"] + (["BayesB", "BayesCpi"] if bayes_iterations else [])
    head = "| environment | folds | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN wins | ridge |"
    head += " BayesB | BayesCπ | best classical | GPFN − best |" if bayes_iterations else ""
    print(head + " GPFN 90% coverage of y |")
    print("| --- " * (head.count("|")) + "|")
    every: dict[str, list[float]] = {k: [] for k in ["GPFN", *classical]}
    seconds = {k: 0.0 for k in classical}
    for env, y in envs.items():
        rs: dict[str, list[float]] = {k: [] for k in every}
        inside, total = 0, 0
        for k in np.unique(fold):
            tr, te = fold != k, fold == k
            res = predict_arrays(m, bar, meta, x[tr], y[tr], x[te])
            rs["GPFN"].append(r(res["mean"], y[te]))
            for name in classical:
                t = time.perf_counter()
                if name == "GBLUP":
                    pred = gblup(x[tr], y[tr], x[te]).prediction
                elif name == "ridge":
                    pred = ridge(x[tr], y[tr], x[te])
                else:
                    pred = bayes(x[tr], y[tr], x[te], name.lower(), iterations=bayes_iterations,
                                 burn_in=bayes_iterations // 6).prediction
                seconds[name] += time.perf_counter() - t
                rs[name].append(r(pred, y[te]))
            inside += int(((res["q05"] <= y[te]) & (y[te] <= res["q95"])).sum())
            total += int(te.sum())
        print(paired(env, rs["GPFN"], rs["GBLUP"], _classical_cells(rs, classical) + f" {inside / total:.3f} |"))
        for key in every:
            every[key] += rs[key]
    print(paired("**all**", every["GPFN"], every["GBLUP"], _classical_cells(every, classical) + " |", model,
                 f"wheat599, 4 environments x its 10 folds (r with yield; ridge {np.mean(every['ridge']):.3f})"))
    print("\nseconds per fit: " + ", ".join(f"{k} {v / len(every['GBLUP']):.2f}" for k, v in seconds.items())
          + (f" (Gibbs: {bayes_iterations} iterations, burn-in {bayes_iterations // 6})" if bayes_iterations else ""))
    print("\n(Coverage here is of the *phenotype*, which includes noise the intervals for the genetic value "
          "leave out: it is expected below 90%.)")
    section_wheat_clusters(m, bar, meta, x, envs)


CLUSTER_FOLDS = 5


def cluster_folds(x: np.ndarray, folds: int = CLUSTER_FOLDS) -> tuple[np.ndarray, int]:
    """int ``[n]`` fold of each line, whole genomic clusters to a fold, and the cluster count.
    Clusters are :func:`gpfn_core.linear.family.family_labels` of all the lines' relationships (the
    families family GBLUP finds); the largest goes first, each to the fold with fewest lines."""
    from gpfn_core.linear.family import family_labels
    from gpfn_core.linear.kinship import relationship
    from gpfn_core.data.encoding import Encoding

    xc = Encoding.fit(x).transform(x)
    lab = family_labels(relationship(xc, xc[:0])[0])
    sizes = np.bincount(lab)
    fold_of, lines = np.zeros(sizes.size, np.int64), np.zeros(folds)
    for c in np.argsort(-sizes, kind="stable"):
        fold_of[c] = int(np.argmin(lines))
        lines[fold_of[c]] += sizes[c]
    return fold_of[lab], int(sizes.size)


def section_wheat_clusters(m, bar, meta, x: np.ndarray, envs: dict[str, np.ndarray]) -> None:
    """wheat599 with whole genomic clusters held out: prediction of lines from groups that no
    phenotyped line belongs to, as between-family prediction is (the real NAM data of
    ``../shared/ACCURACY.md`` predict families never phenotyped)."""
    fold, clusters = cluster_folds(x)
    print(f"\n### wheat599 with whole genomic clusters held out ({clusters} clusters of the 599 lines by "
          f"average linkage on the genomic correlation, cut {FAMILY_CUT}, in {CLUSTER_FOLDS} folds of "
          f"{'/'.join(str(v) for v in np.bincount(fold))} lines), r with observed yield\n")
    print("| environment | folds | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN wins | the network alone |")
    print("| --- " * 7 + "|")
    every: dict[str, list[float]] = {"GPFN": [], "GBLUP": [], "network": []}
    for env, y in envs.items():
        rs: dict[str, list[float]] = {k: [] for k in every}
        for k in range(CLUSTER_FOLDS):
            tr, te = fold != k, fold == k
            res = predict_arrays(m, bar, meta, x[tr], y[tr], x[te])
            rs["GPFN"].append(r(res["mean"], y[te]))
            rs["network"].append(r(res["network_mean"], y[te]))
            rs["GBLUP"].append(r(gblup(x[tr], y[tr], x[te]).prediction, y[te]))
        print(paired(env, rs["GPFN"], rs["GBLUP"], f" {np.mean(rs['network']):.3f} |"))
        for key in every:
            every[key] += rs[key]
    print(paired("**all**", every["GPFN"], every["GBLUP"], f" {np.mean(every['network']):.3f} |"))


def _classical_cells(rs: dict[str, list[float]], classical: list[str]) -> str:
    """ridge (and BayesB, BayesCπ, the best classical method's mean r and GPFN's paired gap to it)."""
    cells = f" {np.mean(rs['ridge']):.3f} |"
    if len(classical) > 2:
        means = {k: float(np.mean(rs[k])) for k in classical}
        best = max(means, key=means.get)
        d = np.asarray(rs["GPFN"]) - np.asarray(rs[best])
        cells += (f" {means['BayesB']:.3f} | {means['BayesCpi']:.3f} | {best} {means[best]:.3f} | "
                  f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f} |")
    return cells


def section_sizes(model: Path, sizes: list[tuple[int, int, int]]) -> None:
    print("\n## 3. Training-set sizes (NAM prior draws; r with true genetic values)\n")
    m, bar, meta = load_model(model)
    prior = get_registry().make_prior("nam", seed=1, founders="msprime")
    print("| training individuals (mean) | draws | GPFN | GBLUP | GPFN − GBLUP ± SE | GPFN wins | s per draw GPFN / GBLUP "
          "| 90% coverage |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    if model in RECORD:  # this section's rows replace every earlier size row (older ones were keyed by the mean)
        record_metadata(model, lambda meta: {"benchmarks": {k: v for k, v in meta.get("benchmarks", {}).items()
                                                            if not k.startswith("NAM draws with ~")}})
    for pop, n_train, draws in sizes:
        gp, gb, net, nts, tg, tb, inside, total = [], [], [], [], 0.0, 0.0, 0, 0
        for i in range(draws):
            d = prior.draw(6_000_000_000 + i, fixed={"pop_size": pop, "train_fraction": n_train / pop})
            nt = d.n_train
            if nt < 3 or d.n - nt < 3 or np.ptp(d.y[:nt]) == 0:
                continue
            t = time.perf_counter()
            res = predict_arrays(m, bar, meta, d.x[:nt], d.y[:nt], d.x[nt:])
            tg += time.perf_counter() - t
            t = time.perf_counter()
            q = gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction
            tb += time.perf_counter() - t
            gp.append(r(res["mean"], d.g[nt:]))
            gb.append(r(q, d.g[nt:]))
            net.append(r(res["network_mean"], d.g[nt:]))
            inside += int(((res["q05"] <= d.g[nt:]) & (d.g[nt:] <= res["q95"])).sum())
            total += d.n - nt
            nts.append(nt)
        # recorded under the nominal size (the mean varies with the draws): a rerun replaces its row
        print(paired(f"{np.mean(nts):.0f} (pop {pop})", gp, gb, f" {tg / len(gp):.2f} / {tb / len(gp):.2f} | "
                     f"{inside / total:.3f} |", model,
                     f"NAM draws with ~{n_train} training individuals (mean {np.mean(nts):.0f}; r with true "
                     f"genetic values)"))
        if meta.get("stack"):  # the A/B of stacking at this size
            print(paired("  network alone (no stacking)", net, gb, " | |"))


def section_time(model: Path, threads: int) -> None:
    from bench_predict import time_predict
    from threadpoolctl import threadpool_limits

    print(f"\n## 4. Prediction time: 1,000 training + 1,000 targets x 50,000 markers, end to end, {threads} "
          f"thread(s) for both (torch and BLAS)\n")
    with threadpool_limits(threads):  # --threads limits torch only; BLAS (GBLUP's x x^T) would take every core
        t = time_predict(model, 1000, 1000, 50_000, repeats=2)
    t["threads"] = threads
    print("| what | seconds | vs GBLUP |\n| --- | --- | --- |")
    print(f"| GBLUP (REML), baseline | {t['gblup']:.2f} | 1.00 |")
    print(f"| gpfn predict ({model.name}) | {t['gpfn']:.2f} | {t['gpfn'] / t['gblup']:.2f} |")
    if model in RECORD:
        record_metadata(model, {"predict_time": t})


def section_matrix(models: list[Path], draws: int, seed: int, record: bool, priors: list[str] | None = None) -> None:
    print(f"\n## 5. Every model on every prior's held-out draws ({draws} per prior, prior seed {seed})\n")
    m = matrix(models, priors=tuple(priors or MATRIX_PRIORS), draws=draws, seed=seed,
               log=lambda s: print(f"<!-- {s} -->", flush=True))
    print(matrix_table([(p, {"matrix": m[p.name]}) for p in models]))
    print("| model | prior | GPFN − GBLUP ± SE | wins | 90% coverage |")
    print("| --- | --- | --- | --- | --- |")
    for p in models:
        for q, c in m[p.name].items():
            print(f"| {p.stem} | {q} | {c['diff']:+.3f} ± {c['diff_se']:.3f} | {100 * c['wins']:.0f}% | "
                  f"{c['coverage90']:.3f} |")
        if record:
            record_matrix(p, m[p.name])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, nargs="*", help="Model files (default: every shipped model).")
    ap.add_argument("--draws", type=int, default=200, help="Held-out draws per model.")
    ap.add_argument("--wheat", type=Path, default=WHEAT)
    ap.add_argument("--small-draws", type=int, default=400,
                    help="Draws with ~30 training individuals (cheap; 400 for an SE near 0.001).")
    ap.add_argument("--mid-draws", type=int, default=60, help="Draws with ~1,000 training individuals.")
    ap.add_argument("--large-draws", type=int, default=20, help="Draws with ~3,000 training individuals.")
    ap.add_argument("--sections", default="12345", help="Which sections to run (e.g. 23).")
    ap.add_argument("--heldout-seed", type=int, default=None,
                    help="Prior seed of section 1's draws (default: each model file's own); give one to compare "
                         "models on the same draws.")
    ap.add_argument("--elastic-net", action="store_true",
                    help="Also score a CV elastic net on section 1's draws, and GPFN against the better of it and "
                         "GBLUP per architecture third (issue 17).")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="Change the prior of section 1's draws (as gpfn fit --set), e.g. to score a model on the "
                         "previous defaults; never recorded.")
    ap.add_argument("--priors", nargs="*", default=None,
                    help="Section 5's columns (default: nam wild ril silva recurrent universal); recorded cells of "
                         "other priors are kept.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bayes", type=int, default=0, metavar="ITERATIONS",
                    help="Add BayesB and BayesCπ (this many Gibbs iterations, a sixth burn-in; BGLR's default is "
                         "6000) and the best classical method to section 2.")
    ap.add_argument("--record", action="store_true", help="Store sections 1 and 5's results in each model file "
                    "and rewrite its card (MODEL.md).")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    models = a.models or [p for p, _ in list_models()]
    nam = next((p for p in models if load_model(p)[2].get("prior") == "nam"), models[0])
    if a.record:
        RECORD.extend(models)
    t = time.perf_counter()
    print(f"# bench_accuracy: {', '.join(p.name for p in models)}; {a.threads} threads")
    if "1" in a.sections:
        from gpfn_cli.common import parse_overrides

        section_heldout(models, a.draws, a.record, a.heldout_seed, a.elastic_net, parse_overrides(a.overrides))
    if "2" in a.sections:
        section_wheat(nam, a.wheat, a.bayes)
    if "3" in a.sections:
        section_sizes(nam, [(300, 30, a.small_draws), (1200, 1000, a.mid_draws), (4000, 3000, a.large_draws)])
    if "4" in a.sections:
        section_time(nam, a.threads)
    if "5" in a.sections:
        section_matrix(models, a.draws, 1 if a.heldout_seed is None else a.heldout_seed, a.record, a.priors)
    print(f"\n# {time.perf_counter() - t:.0f} s in all")
    for path in RECORD:  # the cards, from the files' metadata as now recorded
        path.with_suffix(".md").write_text(card(path, read_metadata(path)))


if __name__ == "__main__":
    main()
