"""BayesB and BayesCπ against GBLUP (and the shipped GPFN) by genetic architecture, and their cost.

1. **Architectures**: ``--draws`` NAM prior draws with few large QTL (``n_qtl`` 5-10, no
   polygenic background) and as many highly polygenic ones (200 QTL plus a background
   carrying 90% of the genetic variance), population 300 (about 220 training
   individuals), r with the targets' true genetic values.  Marker panels are 2,000-4,000
   (``--set n_markers``) so that 4 x 50 Gibbs runs fit in a benchmark.  Paired
   differences against GBLUP (REML), measured on the same draws.
2. **Cost**: one BayesB run (``--cost-methods bayesb,bayescpi`` for both) on 1,000 individuals x 50,000 markers at BGLR's default 6,000
   iterations (``--timing-iterations``), against GBLUP on the same data.

3. **Held-out draws**: ``--heldout-draws`` of the draws ``bench_accuracy.py`` sections 1
   and 5 score (the model's prior at its defaults and population size, ``--draws-from``
   selection or final, the prior's full marker panels), GBLUP, BayesB, BayesCπ and the
   model as ``gpfn predict`` gives it, overall and by third of the polygenic share: how
   far above GBLUP the standard sparse Bayesian methods get (``--sections 3``; ``--record``
   writes every draw's r, which README's table quotes).
4. **Knowing the architecture**: the same held-out draws, with GBLUP at each draw's true
   h² and a two-normal Gibbs sampler (``bayes(..., spike_var=, slab_var=, residual_var=,
   counts=0)``: a polygenic background on every marker, large effects on the QTL's
   effective number of markers, the residual variance) given the draw's true
   architecture (:func:`informed_hyperparameters`): how far above GBLUP a method that
   knew what the prior drew would get: the informed reference the held-out target is
   measured against.

5. **Large training sets with loci of large effect**: the regime where BayesB pulls ahead
   of GBLUP on real populations of a few thousand lines.  ``--large-draws`` NAM draws
   (``--draws-from`` selection or final, indices disjoint from sections 3-4) with 2,500
   training lines and 500 targets, 3-15 QTL on a polygenic background carrying 20-70% of
   the genetic variance (so each QTL carries about 2-30%), 3,000-5,000 markers: GBLUP,
   BayesB and GPFN as ``gpfn predict`` gives it, overall and by number of QTL
   (``--record`` writes every draw's r: record ``bayes-large-SET``).
   ``--large-regime many``: 30-100 QTL and at most 5% of the genetic variance polygenic
   (many loci of moderate effect, what BayesB's marker-specific shrinkage resolves and
   a few single effects cannot), the prior's default h² range otherwise
   (record ``bayes-large-many-SET``).  ``--large-candidates`` also scores the parts that
   might close a gap there alone: BayesB's chain cut to 200 and 400 iterations (what a
   prediction could afford) and the QTL anchor (family GBLUP of the rest) with the 20
   single-effect regressions it runs from 2,000 lines on.  ``--reuse RECORD`` takes
   GBLUP's and BayesB's r from an earlier section 5 record of the same draws (checked:
   draw set, regime, iterations and each draw's QTL count) and runs only GPFN: a model
   file's change scored on the same draws without refitting BayesB's 3,000-iteration
   chains (section 3 takes it too).

``--set NAME=VALUE`` (sections 3 and 4) changes the prior's ranges on top of the model
file's, as ``bench_accuracy.py --set`` does.

The real development sets with all methods: ``bench_real.py``.

    python benchmarks/bench_bayes.py [--draws 50] [--iterations 6000] [--workers 2] [--sections 12]
    python benchmarks/bench_bayes.py --sections 3 [--heldout-draws 200]     (about 45 min on 2 cores)
    python benchmarks/bench_bayes.py --sections 4 --iterations 3000   (about 9 min)
    python benchmarks/bench_bayes.py --sections 5 --iterations 3000 [--large-draws 200]
    python benchmarks/bench_bayes.py --sections 5 --iterations 3000 --large-regime many --large-candidates
    python benchmarks/bench_bayes.py --sections 5 --iterations 3000 --draws-from final --reuse RECORD --record
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

from gpfn_core.metrics import pearson

sys.path.insert(0, str(Path(__file__).parent))

ARCHITECTURES = {
    "sparse (5-10 QTL)": {"n_qtl": "5:10", "poly_share": "0"},
    "polygenic (200 QTL + 90% background)": {"n_qtl": "200", "poly_share": "0.9"},
}
METHODS = ("GBLUP", "BayesB", "BayesCpi", "GPFN")


def _one(job: tuple[str, int, int, str | None]) -> dict[str, float]:
    from threadpoolctl import threadpool_limits

    from gpfn_core.registry import get_registry

    arch, index, iterations, model = job
    threadpool_limits(1)
    over = {**ARCHITECTURES[arch], "n_markers": "2000:4000"}
    prior = get_registry().make_prior("nam", seed=11, overrides=over)
    d = prior.draw(index, fixed={"pop_size": 300})
    nt, truth = d.n_train, d.g[d.n_train:]
    out = _classical(d, iterations, index)
    if model:
        import torch

        from gpfn_core.net.modelfile import load_model
        from gpfn_core.tasks.predict import predict_arrays

        torch.set_num_threads(1)
        mdl, bar, meta = load_model(model)
        t = time.perf_counter()
        out["GPFN"] = pearson(predict_arrays(mdl, bar, meta, d.x[:nt], d.y[:nt], d.x[nt:])["mean"], truth)
        out["GPFN_s"] = time.perf_counter() - t
    return out


def section_architectures(draws: int, iterations: int, workers: int, model: str | None) -> None:
    print(f"\n## 1. NAM draws by architecture ({draws} each, pop 300, 2,000-4,000 markers; r with true genetic "
          f"values; Gibbs {iterations} iterations, burn-in {iterations // 6})\n")
    methods = [m for m in METHODS if m != "GPFN" or model]
    print("| architecture | draws | " + " | ".join(methods) + " | " +
          " | ".join(f"{m} − GBLUP ± SE (wins)" for m in methods[1:]) + " | s per fit " + "/".join(methods) + " |")
    print("| --- " * (3 + 2 * len(methods)) + "|")
    with mp.get_context("spawn").Pool(workers) as pool:
        for arch in ARCHITECTURES:
            rows = pool.map(_one, [(arch, 7_000_000_000 + i, iterations, model) for i in range(draws)])
            r = {m: np.array([row[m] for row in rows]) for m in methods}
            ok = np.all([np.isfinite(v) for v in r.values()], axis=0)
            cells = [f"{r[m][ok].mean():.3f}" for m in methods]
            for m in methods[1:]:
                d = r[m][ok] - r["GBLUP"][ok]
                cells.append(f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f} ({np.mean(d > 0):.0%})")
            secs = "/".join(f"{np.mean([row[f'{m}_s'] for row in rows]):.2f}" for m in methods)
            print(f"| {arch} | {ok.sum()} | " + " | ".join(cells) + f" | {secs} |")


def _classical(d, iterations: int, seed: int) -> dict[str, float]:
    """GBLUP's, BayesB's and BayesCπ's r with the true values of draw ``d``'s targets, and their seconds."""
    from gpfn_core.linear.bayes import bayes
    from gpfn_core.linear.gblup import gblup

    nt, truth = d.n_train, d.g[d.n_train:]
    t = time.perf_counter()
    out = {"GBLUP": pearson(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction, truth), "GBLUP_s": time.perf_counter() - t}
    for m in ("BayesB", "BayesCpi"):
        res = bayes(d.x[:nt], d.y[:nt], d.x[nt:], m.lower(), iterations=iterations, burn_in=iterations // 6, seed=seed)
        out[m], out[f"{m}_s"] = pearson(res.prediction, truth), res.seconds
    return out


def _heldout_draw(model: str, draws_from: str, j: int, overrides: dict):
    """The model (loaded) and held-out draw ``j`` of the set ``draws_from`` of its prior at the
    prior's defaults (``overrides`` on top), as ``bench_accuracy`` sections 1 and 5 score it."""
    import torch
    from threadpoolctl import threadpool_limits

    from gpfn_core.models.scoring import draw_set
    from gpfn_core.net.config import config_of_model
    from gpfn_core.net.draws import build
    from gpfn_core.net.modelfile import load_model

    threadpool_limits(1)
    torch.set_num_threads(1)
    start, seed = draw_set(draws_from)
    mdl = load_model(model)
    cfg = config_of_model(model, mdl[2])
    cfg.seed = seed
    cfg.overrides = dict(overrides)
    prior, _ = build(cfg)
    return mdl, prior.draw(start + j, fixed={"pop_size": cfg.validation_pop_size})


def _heldout(job: tuple[str, int, int, int, dict]) -> dict[str, float]:
    """One held-out draw of a model's own prior, as ``bench_accuracy`` section 1 scores it."""
    from gpfn_core.tasks.predict import predict_arrays

    model, draws_from, j, iterations, overrides, *reused = job
    reused = reused[0] if reused else None
    mdl, d = _heldout_draw(model, draws_from, j, overrides)
    nt, truth = d.n_train, d.g[d.n_train:]
    out = {"share": float(d.params.get("poly_share", np.nan)), "markers": d.x.shape[1]}
    if reused is not None:  # the classical methods' r on this draw from an earlier record of the same draws
        if not np.isclose(reused["share"], out["share"], rtol=0, atol=1e-12, equal_nan=True):
            raise SystemExit(f"--reuse: draw {j}'s polygenic share is {out['share']} here, {reused['share']} there")
        out.update({m: reused[m] for m in ("GBLUP", "BayesB", "BayesCpi")})
        out.update({f"{m}_s": np.nan for m in ("GBLUP", "BayesB", "BayesCpi")})
    else:
        out.update(_classical(d, iterations, j))
    t = time.perf_counter()
    out["GPFN"] = pearson(predict_arrays(*mdl, d.x[:nt], d.y[:nt], d.x[nt:])["mean"], truth)
    out["GPFN_s"] = time.perf_counter() - t
    return out


def informed_hyperparameters(params: dict, msx: float, m: int) -> dict[str, float]:
    """The draw's own architecture as the variances of a two-normal marker prior (``bayes``'s
    ``spike_var``, ``slab_var``, ``residual_var``, ``prob_in``).  The polygenic background
    (``poly_share`` of the genetic variance) is spread over every marker; the QTL part over
    the QTL's *effective* number n_qtl a(a + 1) / ((a + 2)(a + 3)) for Gamma(shape a)
    effect sizes (E[b²]² / E[b⁴]: with shape 0.1 a few QTL carry nearly all of it), at least
    one; ``msx`` is the sum of the marker variances.  The panel misses QTL off it, so this
    is what the architecture says, not the best-fitting variances."""
    vg, ve, s = float(params["genetic_variance"]), float(params["environmental_variance"]), float(params["poly_share"])
    a = float(params["gamma_alpha"])
    n_eff = max(float(params["n_qtl"]) * a * (a + 1) / ((a + 2) * (a + 3)), 1.0)
    pi = min(n_eff / m, 0.5)
    spike = max(s * vg / msx, 1e-12 * vg / msx)
    return {"prob_in": pi, "spike_var": spike, "slab_var": spike + (1 - s) * vg / (pi * msx), "residual_var": ve}


def _informed(job: tuple[str, int, int, int, dict]) -> dict[str, float]:
    """One held-out draw: GBLUP (REML), GBLUP at the draw's true h², the two-normal Gibbs
    sampler at the draw's true architecture, and GPFN."""
    from gpfn_core.data.encoding import Encoding
    from gpfn_core.linear.bayes import bayes
    from gpfn_core.linear.gblup import blup, gblup
    from gpfn_core.linear.kinship import relationship
    from gpfn_core.tasks.predict import predict_arrays

    model, draws_from, j, iterations, overrides = job
    mdl, d = _heldout_draw(model, draws_from, j, overrides)
    nt, truth = d.n_train, d.g[d.n_train:]
    out = {"share": float(d.params.get("poly_share", np.nan)), "markers": d.x.shape[1]}
    out["GBLUP"] = pearson(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction, truth)
    enc = Encoding.fit(d.x[:nt])
    xt, xv = enc.transform(d.x[:nt]), enc.transform(d.x[nt:])
    k_tt, k_vt = relationship(xt, xv)
    h2 = float(d.params["h2"])
    out["GBLUP, true h²"] = pearson(blup(k_tt, k_vt, d.y[:nt].astype(np.float64), (1 - h2) / h2)[0], truth)
    msx = float(np.einsum("ij,ij->", xt, xt, dtype=np.float64)) / (nt - 1)
    hyper = informed_hyperparameters(d.params, msx, d.x.shape[1])
    t = time.perf_counter()
    res = bayes(d.x[:nt], d.y[:nt], d.x[nt:], "bayescpi", iterations=iterations, burn_in=iterations // 6, seed=j,
                counts=0, **hyper)
    out["two normals, true architecture"], out["s"] = pearson(res.prediction, truth), time.perf_counter() - t
    out["GPFN"] = pearson(predict_arrays(*mdl, d.x[:nt], d.y[:nt], d.x[nt:])["mean"], truth)
    return out


def _scored_heldout(job_fn, methods, model: str, draws: int, draws_from: str, iterations: int, workers: int,
                    overrides: dict, reused: list[dict] | None = None):
    """Run ``job_fn`` on the first ``draws`` held-out draws: the rows, r per method, the draws
    every method scored, and the architecture thirds (sections 3 and 4).  ``reused``: per
    draw, what an earlier record of the same draws gives (section 3's ``--reuse``)."""
    from gpfn_core.models.cards import architecture_thirds

    extra = [() if reused is None else (reused[j],) for j in range(draws)]
    with mp.get_context("spawn").Pool(workers) as pool:
        rows = pool.map(job_fn, [(model, draws_from, j, iterations, overrides, *extra[j]) for j in range(draws)],
                        chunksize=1)
    r = {m: np.array([row[m] for row in rows]) for m in methods}
    ok = np.all([np.isfinite(v) for v in r.values()], axis=0)
    return rows, r, ok, architecture_thirds(np.array([row["share"] for row in rows]))


INFORMED = ("GBLUP", "GBLUP, true h²", "two normals, true architecture", "GPFN")


def section_informed(model: str, draws: int, draws_from: str, iterations: int, workers: int, overrides: dict) -> None:
    """What knowing each draw's architecture is worth on the held-out draws (section 3's)."""
    print(f"\n## 4. Knowing the architecture: the first {draws} {draws_from} draws of the model's prior at its "
          f"defaults (model {model}{', ' + str(overrides) if overrides else ''}; Gibbs "
          f"{iterations} iterations, burn-in {iterations // 6})\n")
    rows, r, ok, thirds = _scored_heldout(_informed, INFORMED, model, draws, draws_from, iterations, workers,
                                          overrides)
    print(f"{ok.sum()} draws, {int(np.median([row['markers'] for row in rows])):,} markers (median), "
          f"{np.mean([row['s'] for row in rows]):.1f} s per Gibbs fit\n")
    print("| method | mean r | − GBLUP ± SE | ahead | " + " | ".join(f"{n} (ahead)" for n, _ in thirds) + " |")
    print("| --- " * (4 + len(thirds)) + "|")
    for m in INFORMED:
        d = r[m][ok] - r["GBLUP"][ok]
        diff = "baseline" if m == "GBLUP" else f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}"
        ahead = "" if m == "GBLUP" else f"{np.mean(d > 0):.0%}"
        by = " | ".join(f"{(r[m] - r['GBLUP'])[ok & sel].mean():+.3f} ({np.mean((r[m] - r['GBLUP'])[ok & sel] > 0):.0%})"
                        for _, sel in thirds)
        print(f"| {m} | {r[m][ok].mean():.3f} | {diff} | {ahead} | {by} |")


def section_heldout(model: str, draws: int, draws_from: str, iterations: int, workers: int, overrides: dict,
                    record: bool = False, reuse: str | None = None) -> None:
    """BayesB and BayesCπ beside GBLUP and GPFN on the held-out draws of ``bench_accuracy``
    sections 1 and 5 (the first ``draws`` of the set ``draws_from``, the model's prior at its
    defaults); with ``record``, a record ``bayes-heldout-SET`` of every draw's r per method.
    ``reuse``: GBLUP's, BayesB's and BayesCπ's r from that earlier record of the same draws."""
    reused = None
    if reuse:
        import json

        rec = json.loads(Path(reuse).read_text())
        res = rec["results"].get(Path(model).name)
        if (res is None or rec["data"]["draws_from"] != draws_from or res["iterations"] != iterations
                or res["draws"] < draws or overrides):
            raise SystemExit(f"--reuse {reuse}: not {draws} {draws_from} draws of {Path(model).name} at "
                             f"{iterations} iterations with the prior's defaults")
        reused = [{"share": res["poly_share_per_draw"][j], **{m: res[f"{m}_r_per_draw"][j]
                                                              for m in ("GBLUP", "BayesB", "BayesCpi")}}
                  for j in range(draws)]
    print(f"\n## 3. The first {draws} {draws_from} draws of the model's prior at its defaults (model {model}; its "
          f"prior's full marker panels; Gibbs {iterations} iterations, burn-in {iterations // 6}"
          f"{'; GBLUP, BayesB and BayesCπ from ' + reuse if reuse else ''})\n")
    rows, r, ok, thirds = _scored_heldout(_heldout, METHODS, model, draws, draws_from, iterations, workers, overrides,
                                          reused)
    print(f"{ok.sum()} draws, {int(np.median([row['markers'] for row in rows])):,} markers (median)\n")
    print("| method | mean r | − GBLUP ± SE | ahead | " + " | ".join(n for n, _ in thirds) + " | s per fit |")
    print("| --- " * (5 + len(thirds)) + "|")
    for m in METHODS:
        d = r[m][ok] - r["GBLUP"][ok]
        secs = np.mean([row[f"{m}_s"] for row in rows])
        diff = "baseline" if m == "GBLUP" else f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}"
        ahead = "" if m == "GBLUP" else f"{np.mean(d > 0):.0%}"
        by = " | ".join(f"{(r[m] - r['GBLUP'])[ok & sel].mean():+.3f}" for _, sel in thirds)
        secs = "(record)" if np.isnan(secs) else f"{secs:.2f}"
        print(f"| {m} | {r[m][ok].mean():.3f} | {diff} | {ahead} | {by} | {secs} |")
    if record and not overrides:
        from records import write

        name = Path(model).name
        path = write(f"bayes-heldout-{draws_from}", {name: {"draws": len(rows), "iterations": iterations,
                                                            **{f"{m}_r_per_draw": r[m].tolist() for m in METHODS},
                                                            "poly_share_per_draw": [row["share"] for row in rows],
                                                            **({"classical_from": reuse} if reuse else {})}},
                     models=[model], data={"draws_from": draws_from, "draws": draws})
        print(f"recorded: {path}")


LARGE = {"n_qtl": "3:15", "poly_share": "0.2:0.7", "n_markers": "3000:5000"}  # section 5's regime
# section 5's regimes (--large-regime): a few loci of large effect on a polygenic background, or many loci of
# moderate effect with little background; each with its QTL-count groups for the table
LARGE_REGIMES = {"few": (LARGE, (("3-6 QTL", 3, 6), ("7-10 QTL", 7, 10), ("11-15 QTL", 11, 15))),
                 "many": ({"n_qtl": "30:100", "poly_share": "0:0.05", "n_markers": "3000:5000"},
                          (("30-50 QTL", 30, 50), ("51-75 QTL", 51, 75), ("76-100 QTL", 76, 100)))}
LARGE_TRAIN, LARGE_TARGETS, LARGE_OFFSET = 2500, 500, 40_000_000  # its population; its draws' index offset
LARGE_METHODS = ("GBLUP", "BayesB", "GPFN")
# --large-candidates: BayesB's chain cut short, and the QTL anchor alone (20 single effects, as from 2,000 lines)
CANDIDATES = ("BayesB 200 it", "BayesB 400 it", "QTL anchor 20")


def large_draw(draws_from: str, j: int, regime: str = "few"):
    """Section 5's draw ``j`` of the set ``draws_from``: the NAM prior in the regime ``regime``
    (:data:`LARGE_REGIMES`)."""
    from gpfn_core.models.scoring import draw_set
    from gpfn_core.registry import get_registry

    start, seed = draw_set(draws_from)
    prior = get_registry().make_prior("nam", seed=seed, overrides=LARGE_REGIMES[regime][0])
    n = LARGE_TRAIN + LARGE_TARGETS
    return prior.draw(start + LARGE_OFFSET + j, fixed={"pop_size": n, "train_fraction": LARGE_TRAIN / n})


def _large(job: tuple[str, str, int, int, str, bool]) -> dict[str, float]:
    import torch
    from threadpoolctl import threadpool_limits

    from gpfn_core.data.encoding import Standardizer
    from gpfn_core.linear.bayes import bayes
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.linear.qtl import qtl_family_gblup
    from gpfn_core.net.modelfile import load_model
    from gpfn_core.net.preprocess import Genotypes
    from gpfn_core.tasks.predict import predict_arrays

    model, draws_from, j, iterations, regime, candidates, reused = job
    threadpool_limits(1)
    torch.set_num_threads(1)
    d = large_draw(draws_from, j, regime)
    nt, truth = d.n_train, d.g[d.n_train:]
    out = {"n_qtl": int(d.params["n_qtl"]), "share": float(d.params["poly_share"]), "markers": d.x.shape[1]}
    if reused is not None:  # GBLUP's and BayesB's r on this draw from an earlier record of the same draws
        if reused["n_qtl"] != out["n_qtl"]:
            raise SystemExit(f"--reuse: draw {j} has {out['n_qtl']} QTL here and {reused['n_qtl']} in the record")
        out.update({"GBLUP": reused["GBLUP"], "BayesB": reused["BayesB"], "GBLUP_s": np.nan, "BayesB_s": np.nan})
    else:
        t = time.perf_counter()
        out["GBLUP"] = pearson(gblup(d.x[:nt], d.y[:nt], d.x[nt:]).prediction, truth)
        out["GBLUP_s"] = time.perf_counter() - t
        res = bayes(d.x[:nt], d.y[:nt], d.x[nt:], "bayesb", iterations=iterations, burn_in=iterations // 6, seed=j)
        out["BayesB"], out["BayesB_s"] = pearson(res.prediction, truth), res.seconds
    t = time.perf_counter()
    out["GPFN"] = pearson(predict_arrays(*load_model(model), d.x[:nt], d.y[:nt], d.x[nt:])["mean"], truth)
    out["GPFN_s"] = time.perf_counter() - t
    if candidates:
        for it in (200, 400):
            res = bayes(d.x[:nt], d.y[:nt], d.x[nt:], "bayesb", iterations=it, burn_in=it // 5, seed=j)
            out[f"BayesB {it} it"], out[f"BayesB {it} it_s"] = pearson(res.prediction, truth), res.seconds
        g = Genotypes.for_smoothers(d.x[:nt], d.x[nt:], ("gblup",))
        z = Standardizer.fit(d.y[:nt]).transform(d.y[:nt])
        t = time.perf_counter()
        pred = qtl_family_gblup(g.kinship, g.coordinates, g.x_train, g.x_target, z, family=g.family, grid=g.grid,
                                steps=20)
        out["QTL anchor 20"], out["QTL anchor 20_s"] = pearson(pred, truth), time.perf_counter() - t
    return out


def reused_rows(path: str, draws: int, draws_from: str, iterations: int, regime: str) -> list[dict]:
    """GBLUP's and BayesB's per-draw r from the section 5 record ``path``, which must hold the same
    draws (set, regime, at least ``draws`` of them) with BayesB at ``iterations``."""
    import json

    rec = json.loads(Path(path).read_text())
    res = next(iter(rec["results"].values()))
    want = {"draws_from": draws_from, "regime": LARGE_REGIMES[regime][0], "iterations": iterations}
    have = {"draws_from": rec["data"]["draws_from"], "regime": res["regime"], "iterations": res["iterations"]}
    if have != want or res["draws"] < draws:
        raise SystemExit(f"--reuse {path}: it holds {res['draws']} draws of {have}, not {draws} of {want}")
    return [{"GBLUP": res["GBLUP_r_per_draw"][j], "BayesB": res["BayesB_r_per_draw"][j],
             "n_qtl": res["n_qtl_per_draw"][j]} for j in range(draws)]


def section_large(model: str, draws: int, draws_from: str, iterations: int, workers: int,
                  record: bool = False, regime: str = "few", candidates: bool = False, reuse: str | None = None) -> None:
    """GBLUP, BayesB and GPFN with 2,500 training lines and loci of large or moderate effect."""
    over, spans = LARGE_REGIMES[regime]
    reused = reused_rows(reuse, draws, draws_from, iterations, regime) if reuse else [None] * draws
    print(f"\n## 5. Large training sets, regime '{regime}': {draws} {draws_from} NAM draws, {LARGE_TRAIN:,} "
          f"training + {LARGE_TARGETS} targets, {over} (model {model}; Gibbs {iterations} iterations, burn-in "
          f"{iterations // 6}{'; GBLUP and BayesB from ' + reuse if reuse else ''})\n")
    with mp.get_context("spawn").Pool(workers) as pool:
        rows = pool.map(_large, [(model, draws_from, j, iterations, regime, candidates, reused[j])
                                 for j in range(draws)], chunksize=1)
    methods = LARGE_METHODS + (CANDIDATES if candidates else ())
    r = {m: np.array([row[m] for row in rows]) for m in methods}
    ok = np.all([np.isfinite(v) for v in r.values()], axis=0)
    nq = np.array([row["n_qtl"] for row in rows])
    groups = [(name, (nq >= lo) & (nq <= hi)) for name, lo, hi in spans]
    print(f"{ok.sum()} draws, {int(np.median([row['markers'] for row in rows])):,} markers (median)\n")
    print("| method | mean r | − GBLUP ± SE | − BayesB ± SE | ahead of BayesB | "
          + " | ".join(f"{n} − BayesB" for n, _ in groups) + " | s per fit |")
    print("| --- " * (6 + len(groups)) + "|")
    for m in methods:
        cells = []
        for base in ("GBLUP", "BayesB"):
            d = r[m][ok] - r[base][ok]
            cells.append("baseline" if m == base else f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}")
        d = r[m][ok] - r["BayesB"][ok]
        ahead = "" if m == "BayesB" else f"{np.mean(d > 0):.0%}"
        by = " | ".join(f"{(r[m] - r['BayesB'])[ok & sel].mean():+.3f}" if (ok & sel).any() else "" for _, sel in groups)
        secs = np.mean([row[f"{m}_s"] for row in rows])
        secs = "(record)" if np.isnan(secs) else f"{secs:.1f}"
        print(f"| {m} | {r[m][ok].mean():.3f} | {cells[0]} | {cells[1]} | {ahead} | {by} | {secs} |")
    if record:
        from records import write

        name = f"bayes-large-{draws_from}" if regime == "few" else f"bayes-large-{regime}-{draws_from}"
        path = write(name, {Path(model).name: {
            "draws": len(rows), "iterations": iterations, "regime": over, "n_train": LARGE_TRAIN,
            **{f"{m}_r_per_draw": r[m].tolist() for m in methods}, "n_qtl_per_draw": nq.tolist(),
            **({"gblup_bayesb_from": reuse} if reuse else {})}},
            models=[model], data={"draws_from": draws_from, "draws": draws})
        print(f"recorded: {path}")


def section_cost(iterations: int, methods: tuple[str, ...] = ("bayesb",)) -> None:
    from gpfn_core.linear.bayes import bayes
    from gpfn_core.linear.gblup import gblup

    print(f"\n## 2. Cost: 1,000 training + 100 targets x 50,000 markers, {iterations} iterations, one process\n")
    rng = np.random.default_rng(0)
    x = rng.binomial(2, rng.uniform(0.05, 0.5, 50_000), (1100, 50_000)).astype(np.int8)
    beta = np.zeros(50_000)
    beta[rng.choice(50_000, 50, replace=False)] = rng.normal(size=50)
    g = (x - x.mean(0)) @ beta
    y = g + rng.normal(0, g.std(), 1100)
    bayes(x[:20, :20], y[:20], x[:2, :20], iterations=2, burn_in=1)  # compile (cached after the first run)
    t = time.perf_counter()
    gb = gblup(x[:1000], y[:1000], x[1000:])
    tg = time.perf_counter() - t
    print("| method | seconds | vs GBLUP | r with g (100 targets) |\n| --- | --- | --- | --- |")
    print(f"| GBLUP (REML), baseline | {tg:.1f} | 1.0 | {pearson(gb.prediction, g[1000:]):.3f} |")
    for m in methods:
        res = bayes(x[:1000], y[:1000], x[1000:], m, iterations=iterations, burn_in=iterations // 6)
        print(f"| {m} | {res.seconds:.1f} | {res.seconds / tg:.0f} | {pearson(res.prediction, g[1000:]):.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=50)
    ap.add_argument("--iterations", type=int, default=6000)
    ap.add_argument("--timing-iterations", type=int, default=6000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--model", default=None, help="GPFN model file for section 1 (default: the shipped nam.gpfn; "
                    "'none' to leave GPFN out).")
    ap.add_argument("--sections", default="12")
    ap.add_argument("--cost-methods", default="bayesb", help="Section 2's samplers (bayesb,bayescpi).")
    ap.add_argument("--heldout-draws", type=int, default=200, help="Section 3's draws (bench_accuracy's 200).")
    ap.add_argument("--draws-from", default="selection", choices=["selection", "final"],
                    help="Sections 3 and 4: which held-out draws (final: only for the reporting run).")
    ap.add_argument("--record", action="store_true", help="Sections 3 and 5: write a record of every draw's r.")
    ap.add_argument("--large-draws", type=int, default=200, help="Section 5's draws.")
    ap.add_argument("--large-regime", default="few", choices=sorted(LARGE_REGIMES),
                    help="Section 5's architectures: a few loci of large effect, or many of moderate effect.")
    ap.add_argument("--large-candidates", action="store_true",
                    help="Section 5: also BayesB cut to 200 and 400 iterations and the QTL anchor with 20 single "
                         "effects.")
    ap.add_argument("--reuse", default=None, metavar="RECORD",
                    help="Sections 3 and 5: the classical methods' r from this earlier record of the same draws "
                         "(checked: set, regime, iterations, each draw's architecture); only GPFN (and section 5's "
                         "candidates) run.")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                    help="Sections 3 and 4: a prior hyperparameter on top of the model file's ranges, e.g. "
                         "family_share=0 for bench_accuracy's default held-out row.")
    a = ap.parse_args()
    from gpfn_cli.common import parse_overrides

    overrides = parse_overrides(a.overrides)
    model = a.model
    if model is None:
        from gpfn_core.models.lookup import find_model

        model = str(find_model("nam"))
    t = time.perf_counter()
    print(f"# bench_bayes: {a.workers} worker processes, one thread each")
    if "1" in a.sections:
        section_architectures(a.draws, a.iterations, a.workers, None if model == "none" else model)
    if "2" in a.sections:
        section_cost(a.timing_iterations, tuple(a.cost_methods.split(",")))
    if ("3" in a.sections or "4" in a.sections or "5" in a.sections) and model == "none":
        raise SystemExit("sections 3 and 4 need a model (its prior and population size give the draws)")
    if "3" in a.sections:
        section_heldout(model, a.heldout_draws, a.draws_from, a.iterations, a.workers, overrides, a.record, a.reuse)
    if "4" in a.sections:
        section_informed(model, a.heldout_draws, a.draws_from, a.iterations, a.workers, overrides)
    if "5" in a.sections:
        section_large(model, a.large_draws, a.draws_from, a.iterations, a.workers, a.record, a.large_regime,
                      a.large_candidates, a.reuse)
    print(f"\n# {time.perf_counter() - t:.0f} s in all")


if __name__ == "__main__":
    main()
