"""GPFN against the classical methods on every real development set in ``../shared/data``.

For each set and quantitative trait (at least 10 distinct observed values: binary and
ordinal scores are left out), the phenotyped lines are split into 5 random folds, and,
where the set has ``groups.csv``, into folds of whole groups (families or genetic groups
never phenotyped: leave-one-group-out up to 5 groups, else whole groups dealt into 5
folds).  wheat599's random folds are the 10 that come with it, as in the literature.  On
the same folds: GPFN with the shipped model a user would pick for the population type
(``TYPES``) and with ``universal``, GBLUP (REML), BayesB and BayesCπ (BGLR's default
priors; ``--iterations`` Gibbs iterations, a sixth burn-in, fewer on the 42k-marker maize
panel), and the best of these three per set in hindsight ("best classical").  RKHS
regression (Gaussian kernels, :func:`gpfn_core.linear.baselines.rkhs`) is fitted on the same
folds and reported beside them, with the average gap to the best of all four.  Every file goes through
``gpfn parse`` as a breeder's would.

Printed per set and fold kind: each trait's mean r over folds, then a summary line with
the paired difference GPFN − best classical over (trait, fold) pairs and its SE; the
Spearman r (selection is by rank) and the coverage of the 90% intervals.  GPFN's
intervals are for the breeding value, so against observed phenotypes they are expected to
cover less than 90%; beside them is the coverage of the phenotype's predictive interval,
the same mean ± 1.645 √(sd² + σ̂²e) with σ̂²e GBLUP's REML residual variance on the fold.

The classical fits are cached (``benchmarks/results/cache/real-classical.json``; they do
not depend on the model), so reruns after a model change only predict with GPFN.

``--anchors`` also scores, per fold, the network's own mean and every stacking anchor of the
population type's model (each computed whether the stacking weighs it or not): where the
blend loses to GBLUP, which of its parts does.

    python benchmarks/bench_real.py [--sets apple rice_rdp1] [--kinds random group] [--anchors] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from records import RESULTS, write  # noqa: E402

from gpfn_core.metrics import pearson, spearman

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SETS = ("wheat599", "apple", "barley_popvar", "maize_drops", "rice_rdp1", "wheat_dh_rxk", "wheat_stpga")
# the shipped model a user would pick for each set's population type (first one installed)
TYPES = {"wheat599": ("diverse",), "apple": ("outbred", "universal"), "barley_popvar": ("diverse",),
         "maize_drops": ("hybrid", "diverse"), "rice_rdp1": ("diverse",), "wheat_dh_rxk": ("ril",),
         "wheat_stpga": ("diverse",)}
CLASSICAL = ("GBLUP", "BayesB", "BayesCpi", "RKHS")  # fitted on every fold
BEST_OF = ("GBLUP", "BayesB", "BayesCpi")  # "the best classical method": GBLUP and the samplers
CACHE = RESULTS / "cache" / "real-classical.json"
FOLDS = 5


def _code_version(files: tuple[str, ...]) -> str:
    """A hash of a classical method's code: cached fits of other code are not reused."""
    import hashlib

    import gpfn_core

    root = Path(gpfn_core.__file__).parent
    h = hashlib.sha256()
    for f in files:
        h.update((root / f).read_bytes())
    return h.hexdigest()[:10]


def load(name: str | Path, tmp: Path):
    """Dosages [n, m], {trait: values [n]} of the quantitative traits, groups [n] or None,
    and wheat599's own folds or None; parsed by gpfn parse into a Dataset first."""
    from gpfn_core.data.dataset import read_dataset
    from gpfn_core.tasks.parse import parse

    folder = name if isinstance(name, Path) else DATA / name  # a set's name, or its folder
    out = tmp / f"{folder.name}.gpfn"
    parse(folder / "genotypes.csv", out, phenotypes=folder / "phenotypes.csv", reader="numeric", overwrite=True)
    ds = read_dataset(out)
    taxa = ds.table.taxa
    traits = {}
    for j, t in enumerate(ds.phenotype_names):
        v = ds.phenotypes[:, j]
        if t != "fold" and np.unique(v[np.isfinite(v)]).size >= 10:
            traits[t] = v
    groups = own_folds = None
    if (folder / "groups.csv").exists():
        g = dict(line.strip().split(",", 1) for line in (folder / "groups.csv").read_text().splitlines()[1:] if line)
        groups = np.array([g.get(t, "") for t in taxa])
    if "fold" in ds.phenotype_names:
        own_folds = ds.phenotypes[:, ds.phenotype_names.index("fold")]
    return ds.table.dosage, traits, groups, own_folds


def folds_of(kind: str, n: int, groups, own_folds, seed: int = 0) -> np.ndarray | None:
    """int [n] fold of each line (-1: in no fold), or None where the set has no such folds."""
    if kind == "random":
        if own_folds is not None:
            return np.where(np.isfinite(own_folds), own_folds, -1).astype(int)
        return np.random.default_rng(seed).permutation(n) % FOLDS
    if groups is None:
        return None
    labels, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    if labels.size <= FOLDS:
        return inverse.astype(int)
    fold_of, lines = np.zeros(labels.size, int), np.zeros(FOLDS)
    for c in np.argsort(-sizes, kind="stable"):  # largest group first, to the fold with fewest lines
        fold_of[c] = int(np.argmin(lines))
        lines[fold_of[c]] += sizes[c]
    return fold_of[inverse]


def classical(args) -> tuple[str, float, float]:
    """One classical fit: (method, Pearson r, Spearman r) on the fold."""
    method, x_tr, y_tr, x_te, y_te, iterations = args
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        if method == "GBLUP":
            from gpfn_core.linear.gblup import gblup

            pred = gblup(x_tr, y_tr, x_te).prediction
        elif method == "RKHS":
            from gpfn_core.linear.baselines import rkhs

            pred = rkhs(x_tr, y_tr, x_te)
        else:
            from gpfn_core.linear.bayes import bayes

            pred = bayes(x_tr, y_tr, x_te, method.lower(), iterations=iterations, burn_in=iterations // 6).prediction
    return method, pearson(pred, y_te), spearman(pred, y_te)


def gpfn(model, x_tr, y_tr, x_te, y_te, genotypes=None) -> dict[str, float]:
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.tasks.predict import predict_arrays

    m, bar, meta = model
    res = predict_arrays(m, bar, meta, x_tr, y_tr, x_te, genotypes=genotypes)
    ve = gblup(x_tr, y_tr, x_tr[:1]).delta  # residual / genetic variance ratio at REML
    s = np.std(y_tr)
    h2 = 1 / (1 + ve)
    sd_y = np.sqrt(res["sd"] ** 2 + (1 - h2) * s**2)
    return {"r": pearson(res["mean"], y_te), "spearman": spearman(res["mean"], y_te),
            "network_r": pearson(res["network_mean"], y_te),
            "inside_g": float(np.mean((res["q05"] <= y_te) & (y_te <= res["q95"]))),
            "inside_y": float(np.mean(np.abs(y_te - res["mean"]) <= 1.645 * sd_y)),
            "pred_var": float(np.var(res["mean"])), "y_var": float(np.var(y_te))}


def anchors_of(model, x_tr, y_tr, x_te, y_te, genotypes=None) -> dict[str, float]:
    """Pearson r of each stacking anchor's prediction on the fold (every anchor computed, weighed
    or not): what the blend is made of, beside the network's own mean (``network_r``).
    ``genotypes``: the fold's :class:`~gpfn_core.net.preprocess.Genotypes`, shared with
    :func:`gpfn` so that the relationships and family kernels are decomposed once per fold."""
    from gpfn_core.net.preprocess import STACK_ANCHORS, prepare
    from gpfn_core.registry import get_registry

    _, _, meta = model
    selector = get_registry().get("selector", meta["feature_selection"])(int(meta["n_features"]), seed=0)
    p = prepare(x_tr, y_tr, x_te, selector, (meta.get("fit_config") or {}).get("smoothers", ""), anchors=True,
                genotypes=genotypes)
    return {} if p.anchors is None else {a: pearson(p.anchors[:, j], y_te) for j, a in enumerate(STACK_ANCHORS)}


def genotypes_of(model, x_tr, x_te):
    """The fold's :class:`~gpfn_core.net.preprocess.Genotypes` as ``predict`` makes them for ``model``."""
    from gpfn_core.net.preprocess import Genotypes

    return Genotypes.for_smoothers(x_tr, x_te, (model[2].get("fit_config") or {}).get("smoothers", ""))


def run_set(name: str, kinds: list[str], models: dict[str, tuple], cache: dict, iterations: int, workers: int,
            tmp: Path, log, anchors: bool = False) -> dict:
    x, traits, groups, own_folds = load(name, tmp)
    its = iterations if x.shape[1] <= 20_000 else max(iterations // 3, 600)
    out = {"lines": int(x.shape[0]), "markers": int(x.shape[1]), "traits": list(traits), "iterations": its, "kinds": {}}
    for kind in kinds:
        fold = folds_of(kind, len(x), groups, own_folds)
        if fold is None:
            continue
        rows, jobs = {}, []
        for trait, y in traits.items():
            ok = np.isfinite(y) & (fold >= 0)
            for k in np.unique(fold[ok]):
                tr, te = ok & (fold != k), ok & (fold == k)
                if te.sum() < 5 or tr.sum() < 10:
                    continue
                key = f"{name}|{trait}|{kind}|{k}"
                row = rows.setdefault(key, {"trait": trait, "fold": int(k), "n_train": int(tr.sum()),
                                            "n_test": int(te.sum())})
                for method in CLASSICAL:
                    ck = f"{key}|{method}|{its if method.startswith('Bayes') else 0}|{CODE[method]}"
                    if ck in cache:
                        row[method], row[method + "_spearman"] = cache[ck]
                    else:
                        jobs.append((key, ck, (method, x[tr], y[tr], x[te], y[te], its)))
                for i, (label, model) in enumerate(models.items()):
                    # with --anchors, the population type's model and its anchors share the fold's genotypes
                    shared = genotypes_of(model, x[tr], x[te]) if anchors and i == 0 else None
                    row[label] = gpfn(model, x[tr], y[tr], x[te], y[te], shared)
                    if shared is not None:
                        row[label]["anchors"] = anchors_of(model, x[tr], y[tr], x[te], y[te], shared)
        if jobs:
            t = time.perf_counter()
            with ProcessPoolExecutor(workers) as pool:
                for (key, ck, _), (method, r, rho) in zip(jobs, pool.map(classical, [j[2] for j in jobs])):
                    rows[key][method], rows[key][method + "_spearman"] = r, rho
                    cache[ck] = [r, rho]
            save_cache(cache)
            log(f"<!-- {name} {kind}: {len(jobs)} classical fits in {time.perf_counter() - t:.0f} s -->")
        out["kinds"][kind] = {"folds": int(np.unique(fold[fold >= 0]).size), "rows": list(rows.values())}
    return out


def summarise(rows: list[dict], labels: list[str]) -> dict:
    """Mean r of each method over (trait, fold), the best classical in hindsight, and GPFN's
    paired difference from GBLUP and from it (mean and SE over the pairs)."""
    mean = {m: float(np.nanmean([r[m] for r in rows])) for m in CLASSICAL if all(m in r for r in rows)}
    best = max(BEST_OF, key=mean.get)
    best_all = max(mean, key=mean.get)
    out = {"pairs": len(rows), "classical": mean, "best": best, "best_all": best_all}
    for label in labels:
        g = np.array([r[label]["r"] for r in rows])
        out[label] = {"r": float(np.nanmean(g)), "spearman": float(np.nanmean([r[label]["spearman"] for r in rows]))}
        out[label]["minus_GBLUP"] = _paired(g, np.array([r["GBLUP"] for r in rows]))
        out[label]["minus_best"] = _paired(g, np.array([r[best] for r in rows]))
        out[label]["minus_best_all"] = _paired(g, np.array([r[best_all] for r in rows]))
        out[label]["coverage90_g"] = float(np.mean([r[label]["inside_g"] for r in rows]))
        out[label]["coverage90_y"] = float(np.mean([r[label]["inside_y"] for r in rows]))
        out[label]["prediction_variance_share"] = float(np.mean([r[label]["pred_var"] / r[label]["y_var"]
                                                                  for r in rows]))
    return out


def _paired(a: np.ndarray, b: np.ndarray) -> dict:
    d = (a - b)[np.isfinite(a - b)]
    return {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan"),
            "ahead": float(np.mean(d > 0))}


def print_set(name: str, res: dict, labels: list[str]) -> None:
    for kind, k in res["kinds"].items():
        s = summarise(k["rows"], labels)
        k["summary"] = s
        print(f"\n### {name}, {kind} folds ({k['folds']} folds; {res['lines']} lines x {res['markers']} markers; "
              f"Gibbs {res['iterations']} iterations)\n")
        print("| trait | " + " | ".join(labels) + " | GBLUP | BayesB | BayesCπ | RKHS |")
        print("| --- " * (len(labels) + 5) + "|")
        for trait in res["traits"]:
            rs = [r for r in k["rows"] if r["trait"] == trait]
            if rs:
                print(f"| {trait} | " + " | ".join(f"{np.nanmean([r[lb]['r'] for r in rs]):.3f}" for lb in labels)
                      + " | " + " | ".join(f"{np.nanmean([r[m] for r in rs]):.3f}" for m in CLASSICAL) + " |")
        if "anchors" in k["rows"][0][labels[0]]:
            print_anchors(k["rows"], labels[0], res.get("stack_weights"))
        for lb in labels:
            g, b = s[lb]["minus_GBLUP"], s[lb]["minus_best"]
            print(f"\n**{lb}**: mean r {s[lb]['r']:.3f} (Spearman {s[lb]['spearman']:.3f}); − GBLUP "
                  f"{g['mean']:+.3f} ± {g['se']:.3f} (ahead on {g['ahead']:.0%}); − best classical ({s['best']}, "
                  f"{s['classical'][s['best']]:.3f}) {b['mean']:+.3f} ± {b['se']:.3f}; 90% interval covers "
                  f"{s[lb]['coverage90_g']:.1%} of phenotypes (as a phenotype interval {s[lb]['coverage90_y']:.1%}); "
                  f"prediction variance {s[lb]['prediction_variance_share']:.2f} × the phenotypes'")


def print_anchors(rows: list[dict], label: str, weights: dict | None) -> None:
    """What the blend of ``label`` is made of on these folds: the network's own mean and each
    anchor, mean r and the paired difference from GBLUP (REML), beside the blend itself."""
    gblup = np.array([r["GBLUP"] for r in rows])
    parts = {"network alone": [r[label]["network_r"] for r in rows]}
    for a in rows[0][label]["anchors"]:
        parts[f"anchor {a}"] = [r[label]["anchors"][a] for r in rows]
    parts["blend (what gpfn predict gives)"] = [r[label]["r"] for r in rows]
    print(f"\n{label}'s parts (stacking weights network, {', '.join(rows[0][label]['anchors'])} at the folds' "
          f"mean training size: {weights or '-'}):\n")
    print("| part | mean r | − GBLUP ± SE |\n| --- | --- | --- |")
    for what, v in parts.items():
        d = _paired(np.array(v, float), gblup)
        print(f"| {what} | {np.nanmean(v):.3f} | {d['mean']:+.3f} ± {d['se']:.3f} |")


def load_cache() -> dict:
    try:
        return json.loads(CACHE.read_text())
    except (OSError, ValueError):
        return {}


def save_cache(cache: dict) -> None:
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    tmp = CACHE.with_name(f".{CACHE.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(cache, sort_keys=True))
    os.replace(tmp, CACHE)


# each method's fits are keyed by the code they ran (the samplers do not touch the kinship code) and by
# the code that scored them (metrics.py: Spearman's ranks of tied phenotypes)
CODE = {"GBLUP": _code_version(("linear/gblup.py", "linear/kinship.py", "data/encoding.py", "metrics.py")),
        "BayesB": _code_version(("linear/bayes.py", "data/encoding.py", "metrics.py"))}
CODE["BayesCpi"] = CODE["BayesB"]
CODE["RKHS"] = _code_version(("linear/baselines.py", "linear/gblup.py", "linear/kinship.py", "data/encoding.py",
                              "metrics.py"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--kinds", nargs="*", default=["random", "group"], choices=["random", "group"])
    ap.add_argument("--iterations", type=int, default=6000, help="BayesB/BayesCπ Gibbs iterations (BGLR's default).")
    ap.add_argument("--workers", type=int, default=2, help="Processes for the classical fits (one thread each).")
    ap.add_argument("--threads", type=int, default=1, help="Threads for GPFN (torch and BLAS).")
    ap.add_argument("--anchors", action="store_true", help="Also score the network alone and every stacking "
                    "anchor of the population type's model on each fold (what its blend is made of).")
    ap.add_argument("--record", action="store_true", help="Write a record under benchmarks/results and each "
                    "model's summaries into its file (its card shows them).")
    a = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    from gpfn_core.models.lookup import find_model, list_models
    from gpfn_core.net.modelfile import load_model

    torch.set_num_threads(a.threads)
    installed = {m.get("prior") for _, m in list_models()}
    from gpfn_core.models.lookup import POPULATION_TYPES

    cache = load_cache()
    results, used = {}, {}
    t0 = time.perf_counter()
    print(f"# bench_real: {', '.join(a.sets)}; folds {', '.join(a.kinds)}")
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(a.threads):
        for name in a.sets:
            if not (DATA / name / "genotypes.csv").exists():
                print(f"\n({name}: not found in {DATA})")
                continue
            pick = next(t for t in TYPES[name] if POPULATION_TYPES.get(t) in installed)
            labels = {f"GPFN ({pick})": pick, "GPFN (universal)": "universal"}
            models = {lb: load_model(find_model(t)) for lb, t in labels.items()}
            used.update({str(find_model(t)): t for t in labels.values()})
            t = time.perf_counter()
            results[name] = run_set(name, a.kinds, models, cache, a.iterations, a.workers, Path(tmp), print,
                                    anchors=a.anchors)
            results[name]["models"] = labels
            if a.anchors:
                results[name]["stack_weights"] = stack_at(models[next(iter(models))], results[name])
            print_set(name, results[name], list(labels))
            print(f"<!-- {name}: {time.perf_counter() - t:.0f} s -->", flush=True)
    overall(results)
    print(f"\n# {time.perf_counter() - t0:.0f} s in all")
    if a.record:
        path = write("real", results, models=list(used), data={"folder": str(DATA), "sets": a.sets})
        print(f"recorded: {path}")
        record_into_models(results, used, str(path))


def stack_at(model, res: dict) -> str | None:
    """The model's stacking weights (network first, then the anchors) at the mean training size
    of the set's folds, as text."""
    from gpfn_core.net.stacking import stack_weights

    st = stack_weights(model[2])
    ns = [r["n_train"] for k in res["kinds"].values() for r in k["rows"]]
    return None if st is None or not ns else " ".join(f"{w:.2f}" for w in st.at(int(np.mean(ns)))[0])


def overall(results: dict) -> None:
    """One line per set and fold kind, and the average over sets: GPFN (the type's model) − best classical."""
    print("\n## Summary: GPFN (the model for the population type) against GBLUP and the best classical method\n")
    print("| set | folds | GPFN | GBLUP | best classical | GPFN − GBLUP ± SE | GPFN − best ± SE |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    gaps, gaps_all = [], []
    for name, res in results.items():
        label = next(iter(res["models"]))
        for kind, k in res["kinds"].items():
            s = k["summary"]
            g, b = s[label]["minus_GBLUP"], s[label]["minus_best"]
            gaps.append(b["mean"])
            gaps_all.append(s[label]["minus_best_all"]["mean"])
            print(f"| {name} | {kind} | {s[label]['r']:.3f} | {s['classical']['GBLUP']:.3f} | {s['best']} "
                  f"{s['classical'][s['best']]:.3f} | {g['mean']:+.3f} ± {g['se']:.3f} | {b['mean']:+.3f} ± "
                  f"{b['se']:.3f} |")
    if gaps:
        print(f"\nAveraged over sets and fold kinds, GPFN − the per-set best classical method: {np.mean(gaps):+.3f}; "
              f"with RKHS among them: {np.mean(gaps_all):+.3f}")


def record_into_models(results: dict, used: dict[str, str], record: str) -> None:
    from gpfn_core.models.lookup import find_model
    from gpfn_core.models.scoring import record_benchmark

    for name, res in results.items():
        for label, t in res["models"].items():
            for kind, k in res["kinds"].items():
                s = k["summary"]
                g = s[label]["minus_GBLUP"]
                record_benchmark(find_model(t), f"real:{name}:{kind}", {
                    "data": f"{name} (development set), {kind} folds, {len(res['traits'])} trait(s)",
                    "gpfn": s[label]["r"], "gblup": s["classical"]["GBLUP"], "diff": g["mean"], "diff_se": g["se"],
                    "wins": g["ahead"], "n": s["pairs"], "best_classical": s["best"],
                    "best_classical_r": s["classical"][s["best"]], "minus_best": s[label]["minus_best"]["mean"]},
                    record)


if __name__ == "__main__":
    main()
