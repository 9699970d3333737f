"""README's measured tables, written from the benchmark records and the model files.

Every number in README.md's result blocks (between ``<!-- results: NAME -->`` and
``<!-- /results -->``) is rendered here from what ``--record`` runs wrote: the model files'
current results (measured on the files as they are now, see
:func:`gpfn_core.models.scoring.current`) and the records under ``benchmarks/results/``.
``tests/test_evidence.py`` renders them again and fails when README differs, when a card
differs from its model file, or when a model file quotes a number its record does not hold.

    python benchmarks/report.py            # print the blocks
    python benchmarks/report.py --write    # rewrite README.md's blocks and every shipped model's card
"""

from __future__ import annotations

import argparse
import re
from functools import partial
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from records import ROOT, latest, records  # noqa: E402

README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- results: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /results -->)", re.S)


def _f(v: Any, spec: str = ".3f") -> str:
    return format(v, spec) if isinstance(v, (int, float)) and np.isfinite(v) else "-"


def installed() -> list[tuple[Path, dict]]:
    from gpfn_core.models.lookup import list_models

    shipped = Path(__import__("gpfn_core.models", fromlist=["x"]).__file__).parent
    return [(p, m) for p, m in list_models() if p.parent == shipped]


def fingerprints() -> dict[str, str]:
    from gpfn_core.net.modelfile import fingerprint

    return {p.name: fingerprint(p, m) for p, m in installed()}


def heldout_table() -> str:
    """Each shipped model on its own prior's final draws (at the prior's defaults), with BayesB
    and BayesCπ where ``bench_bayes.py --sections 3 --draws-from final --record`` ran on them."""
    from gpfn_core.models.scoring import current

    fps = fingerprints()
    rows = ["| model | prior | draws | GPFN | GBLUP | BayesB | GPFN − GBLUP ± SE | GPFN − BayesB ± SE | GPFN ahead "
            "of GBLUP | 90% coverage |", "| --- " * 10 + "|"]
    for path, meta in installed():
        own = meta.get("prior")
        cell = current(path, meta)["matrix"].get("final", {}).get(own)
        if cell is None:
            rows.append(f"| {path.stem} | {own} | not measured since the last change | | | | | | | |")
            continue
        bayes = _bayes_of(path.name, cell, fps)
        b = np.asarray(bayes["BayesB_r_per_draw"], float) if bayes else None
        gp = np.asarray(cell["model_r_per_draw"], float)
        if b is not None:
            gp = gp[: b.size]  # the draws BayesB ran on (the first of the cell's)
            ok = np.isfinite(gp) & np.isfinite(b)
            d = gp[ok] - b[ok]
            on = "" if b.size == len(cell["model_r_per_draw"]) else f" (first {b.size} draws)"
            vs_b = f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}{on}"
            b_mean = _f(float(b[ok].mean())) + on
        else:
            vs_b, b_mean = "-", "-"
        rows.append(f"| {path.stem} | {own} | {cell['draws']} | {_f(cell['model_r'])} | {_f(cell['gblup_r'])} | "
                    f"{b_mean} | {_f(cell['diff'], '+.3f')} ± {_f(cell['diff_se'])} | {vs_b} | "
                    f"{_f(100 * cell['wins'], '.0f')}% | {_f(cell['coverage90'])} |")
    return "\n".join(rows) + "\n"


def _bayes_of(name: str, cell: dict, fps: dict[str, str]) -> dict | None:
    """The BayesB record of model ``name`` on the same final draws as ``cell`` (checked: GBLUP's
    per-draw r must agree), or None."""
    rec = latest("bayes-heldout-final", {name: fps.get(name)} if name in fps else None)
    res = (rec or {}).get("results", {}).get(name)
    if not res or rec["models"].get(name, {}).get("fingerprint") != fps.get(name):
        return None
    gb = np.asarray(res["GBLUP_r_per_draw"], float)
    mine = np.asarray(cell.get("gblup_r_per_draw", []), float)
    # the samplers may have run on the first of the cell's draws (the same indices): GBLUP agrees there
    if not 0 < gb.size <= mine.size or not np.allclose(gb, mine[: gb.size], atol=1e-9, equal_nan=True):
        return None
    return res


def real_table() -> str:
    """``bench_real.py --record``: per development set and fold kind, GPFN (the model for the
    population type) against GBLUP, BayesB, BayesCπ and the best of them in hindsight, with RKHS
    regression beside them where the record has it."""
    fps = fingerprints()
    rec = latest("real", {k: v for k, v in fps.items()})
    if rec is None:
        return "(not measured since the models' last change: `python benchmarks/bench_real.py --record`)\n"
    rkhs = all("RKHS" in k["summary"]["classical"] for res in rec["results"].values() for k in res["kinds"].values())
    rows = ["| development set | folds | lines × markers | traits | model | GPFN | GBLUP | BayesB | BayesCπ | "
            + ("RKHS | " if rkhs else "") + "GPFN − GBLUP ± SE | GPFN − best classical ± SE |",
            "| --- " * (12 if rkhs else 11) + "|"]
    gaps, gaps_all = [], []
    for name, res in rec["results"].items():
        label = next(iter(res["models"]))
        for kind, k in res["kinds"].items():
            s = k["summary"]
            g, b = s[label]["minus_GBLUP"], s[label]["minus_best"]
            gaps.append(b["mean"])
            if rkhs:
                gaps_all.append(s[label]["minus_best_all"]["mean"])
            c = s["classical"]
            rows.append(f"| {name} | {kind} ({k['folds']}) | {res['lines']} × {res['markers']:,} | "
                        f"{len(res['traits'])} | {res['models'][label]} | {_f(s[label]['r'])} | {_f(c['GBLUP'])} | "
                        f"{_f(c['BayesB'])} | {_f(c['BayesCpi'])} | " + (f"{_f(c['RKHS'])} | " if rkhs else "")
                        + f"{_f(g['mean'], '+.3f')} ± {_f(g['se'])} | "
                        f"{_f(b['mean'], '+.3f')} ± {_f(b['se'])} |")
    rows.append(f"\nAveraged over sets and fold kinds, GPFN − the per-set best classical method (GBLUP, BayesB, "
                f"BayesCπ): {_f(float(np.mean(gaps)), '+.3f')}"
                + (f"; with RKHS among them: {_f(float(np.mean(gaps_all)), '+.3f')}" if rkhs else "")
                + f" (record `{rec['path']}`, commit {rec['commit']}).")
    return "\n".join(rows) + "\n"


def time_line() -> str:
    from gpfn_core.models.scoring import current

    for path, meta in installed():
        t = current(path, meta)["benchmarks"].get("predict_time")
        if t:
            return (f"`gpfn predict` on {t['train']:,} training + {t['target']:,} targets × {t['markers']:,} markers "
                    f"takes {t['gpfn_seconds']:.2f} s against GBLUP's {t['gblup_seconds']:.2f} s ({t['ratio']:.2f}×, "
                    f"{t['threads']} threads, `{path.name}`; record `{t.get('record', '?')}`).\n")
    return "(predict time not measured since the last change: `python benchmarks/bench_accuracy.py --sections 4 " \
           "--record`)\n"


def large_table() -> str:
    """``bench_bayes.py --sections 5 --draws-from final --record``: 2,500 training lines with a
    few loci of large effect, GBLUP, BayesB and GPFN on the same draws."""
    fps = fingerprints()
    for name in fps:
        rec = latest("bayes-large-final", {name: fps[name]})
        if rec is None or name not in rec["results"]:
            continue
        res = rec["results"][name]
        r = {m: np.asarray(res[f"{m}_r_per_draw"], float) for m in ("GBLUP", "BayesB", "GPFN")}
        ok = np.all([np.isfinite(v) for v in r.values()], axis=0)
        took = res.get("gblup_bayesb_from")
        rows = [f"{int(ok.sum())} final draws ({res['n_train']:,} training lines, 3-15 QTL; `{name}`; BayesB "
                f"{res['iterations']:,} iterations; record `{rec['path']}`"
                + (f", GBLUP and BayesB from record `{took}` of the same draws" if took else "") + "):", "",
                "| method | mean r | − GBLUP ± SE | − BayesB ± SE | ahead of BayesB |", "| --- " * 5 + "|"]
        for m in ("GBLUP", "BayesB", "GPFN"):
            cells = []
            for base in ("GBLUP", "BayesB"):
                d = r[m][ok] - r[base][ok]
                cells.append("-" if m == base else f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}")
            ahead = "-" if m == "BayesB" else f"{np.mean(r[m][ok] > r['BayesB'][ok]):.0%}"
            rows.append(f"| {m} | {r[m][ok].mean():.3f} | {cells[0]} | {cells[1]} | {ahead} |")
        return "\n".join(rows) + "\n"
    return "(not measured since the last change: `python benchmarks/bench_bayes.py --sections 5 --draws-from final " \
           "--record`)\n"


def tools_table() -> str:
    """``bench_parse.py --record`` (each reader's seconds and peak memory) and ``bench_predict.py
    --record`` (every trait in one call against one call per trait)."""
    rows = []
    rec = latest("parse")
    if rec is not None:
        d = rec["data"]
        rows += [f"Reading {d['samples']:,} samples × {d['markers']:,} markers (record `{rec['path']}`):", "",
                 "| file | reader | seconds | peak memory / int8 dosages | speed-up |", "| --- " * 5 + "|"]
        cells = d["samples"] * d["markers"] / 1024
        res = rec["results"]
        base = {"VCF.gz": res.get("VCF.gz/pandas per-taxon (baseline)"),
                "HapMap": res.get("HapMap/pandas per-taxon (baseline)")}
        for key, r in res.items():
            fmt, reader = key.split("/", 1)
            if "seconds" not in r:
                rows.append(f"| {fmt} | {reader} | {r.get('error', '-')} | | |")
                continue
            ref = base.get(fmt) or res.get("VCF.gz/gpfn")
            speed = f"{ref['seconds'] / r['seconds']:.1f}×" if ref and "seconds" in ref else "-"
            rows.append(f"| {fmt} | {reader} | {r['seconds']:.1f} | {r['peak_kib'] / cells:.2f}× | {speed} |")
    # the newest predict record that timed every trait in one call (section 2; a record of section 1 alone has none)
    rec = next((r for r in reversed(records("predict")) if r.get("results", {}).get("traits")), None)
    t = (rec or {}).get("results", {}).get("traits")
    if t:
        rows += ["", f"Every trait in one call: {t['traits']} traits of {t['train']:,} training individuals, "
                     f"{t.get('target', t['train']):,} targets × {t['markers']:,} markers: {t['per_trait']:.1f} s in "
                     f"one call per trait against "
                     f"{t['one_call']:.1f} s in one (`--phenotype all`): {t['per_trait'] / t['one_call']:.2f}× "
                     f"(record `{rec['path']}`)."]
    return ("\n".join(rows) + "\n") if rows else "(not measured: `python benchmarks/bench_parse.py --record`, " \
        "`python benchmarks/bench_predict.py --sections 2 --record`)\n"


def scale_table() -> str:
    """``bench_scale.py --record``: for each (markers, training individuals, targets), the newest
    record that timed both GBLUP and `gpfn predict` there, and the newest that timed the iterative
    GBLUP (``--methods gblup gblup-cg``) beside the dense one, and the newest that timed `gpfn
    predict --solver iterative` (``gpfn-cg``) with its growth exponent from the record that timed
    it at the most sizes; every ratio is within one run.  A record from before rows named their
    targets had 1,000 (``bench_scale.py``'s default then)."""
    both: dict[tuple[int, int, int], tuple[dict, str]] = {}  # (markers, targets, training lines)
    cg: dict[tuple[int, int, int], tuple[dict, str]] = {}
    free: dict[tuple[int, int, int], tuple[dict, str]] = {}  # gpfn predict --solver iterative
    growth: dict[int, tuple[dict, str]] = {}  # markers: the iterative predict's exponent over the most sizes

    def timed(row: dict, method: str) -> bool:
        return "seconds" in (row.get(method) or {})

    for rec in records("scale"):  # oldest first: later records replace earlier ones
        for row in rec["results"]:
            if row.get("method") == "gpfn-cg" and len(row["sizes"]) >= len(
                    growth.get(row["markers"], ({"sizes": ()}, ""))[0]["sizes"]):  # the widest span, newest of equals
                growth[row["markers"]] = (row, rec["path"])
            if "train" not in row:
                continue
            key = (row["markers"], row.get("targets", 1000), row["train"])
            if timed(row, "gpfn") and timed(row, "gblup"):
                both[key] = (row, rec["path"])
            if timed(row, "gblup-cg"):
                cg[key] = (row, rec["path"])
            if timed(row, "gpfn-cg"):
                free[key] = (row, rec["path"])
    if not both and not cg and not free:
        return "(not measured: `python benchmarks/bench_scale.py --record`)\n"

    def gib(v: dict) -> str:
        return f"{v['peak_bytes'] / 2**30:.2f}"

    def name(path: str) -> str:
        return Path(path).stem

    rows = ["| markers | training lines | targets | GBLUP s | `gpfn predict` s | ratio | predict peak GiB | record |",
            "| --- " * 8 + "|"]
    for (m, t, n), (row, path) in sorted(both.items()):
        g, p = row["gblup"], row["gpfn"]
        rows.append(f"| {m:,} | {n:,} | {t:,} | {g['seconds']:.1f} | {p['seconds']:.1f} | "
                    f"{p['seconds'] / g['seconds']:.2f}× | {gib(p)} | `{name(path)}` |")
    rows += ["", ("| markers | training lines | targets | dense GBLUP s | GBLUP, iterative s | dense GiB "
                  "| iterative GiB | record |"), "| --- " * 8 + "|"]
    for (m, t, n), (row, path) in sorted(cg.items()):
        g, c = row.get("gblup") or {}, row["gblup-cg"]
        dense = (f"{g['seconds']:.1f}", gib(g)) if timed(row, "gblup") else (g.get("error", "-"), "-")
        rows.append(f"| {m:,} | {n:,} | {t:,} | {dense[0]} | {c['seconds']:.1f} | {dense[1]} | {gib(c)} "
                    f"| `{name(path)}` |")
    if free:
        rows += ["", ("| markers | training lines | targets | dense GBLUP s | `gpfn predict --solver iterative` s "
                      "| ratio | predict peak GiB | record |"), "| --- " * 8 + "|"]
        for (m, t, n), (row, path) in sorted(free.items()):
            g, c = row.get("gblup") or {}, row["gpfn-cg"]
            ratio = f"{c['seconds'] / g['seconds']:.2f}×" if timed(row, "gblup") else "-"
            dense = f"{g['seconds']:.1f}" if timed(row, "gblup") else g.get("error", "-")
            rows.append(f"| {m:,} | {n:,} | {t:,} | {dense} | {c['seconds']:.1f} | {ratio} | {gib(c)} "
                        f"| `{name(path)}` |")
        for m, (row, path) in sorted(growth.items()):
            sizes = row["sizes"]
            rows.append(f"\nWith {m:,} markers `gpfn predict --solver iterative`'s time grows as "
                        f"n^{row['exponent']:.2f} over {sizes[0]:,}-{sizes[-1]:,} training lines "
                        f"(record `{name(path)}`).")
    return "\n".join(rows) + "\n"


def cross_table() -> str:
    """``bench_cross.py --record`` (final draws): per model, r of predicted with true progeny
    mean, sd and usefulness over planned crosses, GPFN and GBLUP."""
    def row(model: str, rec: dict) -> str:
        r = rec["results"]
        m = partial(_mean_r, r)
        return (f"| `{model}` | {r['prior']} | {r['draws']} | {r['crosses']} × {r['parents']} | "
                f"{m('GBLUP_mean')} / {m('GPFN_mean')} | {m('GBLUP_sd')} / {m('GPFN_sd')} | "
                f"{m('GBLUP_usefulness')} / {m('GPFN_usefulness')} | "
                f"{_paired(r, 'GPFN_usefulness', 'GBLUP_usefulness')} | `{rec['path']}` |")

    return _model_table("cross-final", "bench_cross.py", [
        "model", "prior", "draws", "crosses × parents", "r mean GBLUP / GPFN", "r sd GBLUP / GPFN",
        "r usefulness GBLUP / GPFN", "usefulness GPFN − GBLUP ± SE", "record"], row)


def trainset_table() -> str:
    """``bench_trainset.py --record`` (final draws): per model, r of the targets from the chosen
    training set and from a random one of the same size, GPFN and GBLUP."""
    def row(model: str, rec: dict) -> str:
        r = rec["results"]
        m = partial(_mean_r, r)
        return (f"| `{model}` | {r['prior']} | {r['draws']} | {r['size']} / {r['candidates']} | "
                f"{m('GBLUP_random')} / {m('GBLUP_chosen')} | {m('GPFN_random')} / {m('GPFN_chosen')} | "
                f"{_paired(r, 'GPFN_chosen', 'GPFN_random')} | `{rec['path']}` |")

    return _model_table("trainset-final", "bench_trainset.py", [
        "model", "prior", "draws", "phenotyped / candidates", "GBLUP random / chosen", "GPFN random / chosen",
        "GPFN chosen − random ± SE", "record"], row)


def _model_table(name: str, script: str, header: list[str], row) -> str:
    """A table of one row per shipped model (``row(model, record)``) from each model's newest
    valid record ``name``, written by ``benchmarks/SCRIPT --record``."""
    found = _newest_per_model(name)
    if not found:
        return f"(not measured since the models' last change: `python benchmarks/{script} --record`)\n"
    rows = ["| " + " | ".join(header) + " |", "| --- " * len(header) + "|"]
    rows += [row(model, rec) for model, rec in sorted(found.items())]
    return "\n".join(rows) + "\n"


def _mean_r(results: dict, key: str) -> str:
    """The mean over draws of a record's ``KEY_r_per_draw``, formatted."""
    return _f(float(np.nanmean(results[f"{key}_r_per_draw"])))


def _paired(results: dict, a: str, b: str) -> str:
    """``mean ± SE`` of the per-draw differences ``a`` − ``b`` of a record's ``*_r_per_draw``."""
    d = np.array(results[f"{a}_r_per_draw"], np.float64) - np.array(results[f"{b}_r_per_draw"], np.float64)
    se = float(np.nanstd(d, ddof=1) / np.sqrt(np.isfinite(d).sum()))
    return f"{_f(float(np.nanmean(d)), '+.3f')} ± {_f(se)}"


def _newest_per_model(name: str) -> dict[str, dict]:
    """The newest record ``name`` of each shipped model whose file is unchanged since (records of
    one model each)."""
    fps, found = fingerprints(), {}
    for rec in records(name):  # oldest first: the newest stays
        (model, entry), = rec["models"].items()
        if fps.get(model) == entry.get("fingerprint"):
            found[model] = rec
    return found


def iterative_line() -> str:
    """``bench_iterative.py --draws-from final --record``: the iterative prediction path against the
    dense one on the same final NAM draws, from each regime's newest record of an unchanged
    model."""
    lines = []
    for regime in ("prior", "few", "many"):
        found = _newest_per_model(f"iterative-{regime}-final")
        for model, rec in sorted(found.items()):
            r = rec["results"][model]
            d = np.array(r["iterative_r_per_draw"]) - np.array(r["dense_r_per_draw"])
            agree = np.array(r["agreement_per_draw"])
            lines.append(
                f"On {r['draws']} final `{regime}` NAM draws with {r['n_train']:,} training lines (`{model}`), "
                f"`--solver iterative` has r {_mean_r(r, 'iterative')} against the dense path's "
                f"{_mean_r(r, 'dense')} ({_paired(r, 'iterative', 'dense')}; per draw within 0.001 on "
                f"{np.mean(np.abs(d) <= 1e-3):.0%} of them, within 0.01 on {np.mean(np.abs(d) <= 1e-2):.0%}), "
                f"the two paths' means correlating {agree.mean():.4f} on average, and 90% intervals covering "
                f"{np.mean(r['iterative_coverage_per_draw']):.3f} against {np.mean(r['dense_coverage_per_draw']):.3f} "
                f"(record `{rec['path']}`).")
    return ("\n\n".join(lines) + "\n") if lines else \
        "(not measured: `python benchmarks/bench_iterative.py --draws-from final --record`)\n"


RENDER = {"heldout": heldout_table, "real": real_table, "time": time_line, "large": large_table,
          "tools": tools_table, "scale": scale_table, "cross": cross_table,
          "trainset": trainset_table, "iterative": iterative_line}


def render(text: str) -> str:
    """``text`` (README) with every result block rendered anew."""
    return BLOCK.sub(lambda m: m.group(1) + RENDER[m.group("name")]() + m.group(4), text)


def cards() -> dict[Path, str]:
    from gpfn_core.models.cards import card

    return {p.with_suffix(".md"): card(p, m) for p, m in installed()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="Rewrite README.md's result blocks and the model cards.")
    a = ap.parse_args()
    text = README.read_text()
    new = render(text)
    if a.write:
        README.write_text(new)
        for path, text_ in cards().items():
            path.write_text(text_)
        print(f"wrote {README} and {len(cards())} cards")
    else:
        for m in BLOCK.finditer(new):
            print(f"<!-- results: {m.group('name')} -->\n{m.group('body')}")


if __name__ == "__main__":
    main()
