"""gpfn evaluate beyond random folds: folds of whole groups, covariates (fixed effects) and
several traits at once; and the factor columns of a phenotype file they draw on."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from gpfn_cli.main import main
from gpfn_core import GenotypeTable, GpfnError
from gpfn_core.data.dataset import Dataset, read_dataset, write_dataset
from gpfn_core.data.phenotypes import read_phenotypes
from gpfn_core.linear.gblup import fixed_effects
from gpfn_core.tasks.evaluate import evaluate, fold_assignment
from gpfn_core.tasks.parse import parse
from gpfn_core.tasks.predict import predict
from helpers import read


def _dataset(path, x, ys: dict, factors: dict | None = None):
    n, m = x.shape
    t = GenotypeTable(np.array([f"t{i}" for i in range(n)]), np.array([f"m{j}" for j in range(m)]),
                      np.array(["1"] * m), np.arange(m) * 100, np.array(["A"] * m), np.array(["G"] * m),
                      x.astype(np.int8))
    f = factors or {}
    write_dataset(path, Dataset(t, np.column_stack(list(ys.values())), list(ys),
                                factors=np.column_stack(list(f.values())) if f else None, factor_names=list(f)))
    return path


def test_a_column_of_words_is_a_factor_kept_for_covariates(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("taxon,loc,yield,year\nA,Ames,1.5,2020\nB,Lincoln,2,2021\nC,NA,3,2020\nD,Ames,x,2021\n")
    t = read_phenotypes(p)
    assert t.names == ["yield", "year"] and t.text_names == ["loc"]
    assert t.text[:, 0].tolist() == ["Ames", "Lincoln", "", "Ames"]
    assert t.report["factor_columns"] == ["loc"] and t.report["non_numeric_values"]["yield"]["count"] == 1
    g = tmp_path / "g.csv"
    g.write_text("taxon,m1,m2\nA,0,1\nB,2,0\nC,1,1\nD,0,2\n")
    out, _ = parse(g, tmp_path / "d.gpfn", phenotypes=p)
    d = read_dataset(out)
    assert d.factor_names == ["loc"] and d.factors[:, 0].tolist() == ["Ames", "Lincoln", "", "Ames"]
    c, labels = d.covariates(["year"])
    assert labels == ["year"] and c[:, 0].tolist() == [2020, 2021, 2020, 2021]
    with pytest.raises(GpfnError, match="covariate 'loc' is missing for 1 taxa \\(e.g. C\\)"):
        d.covariates(["loc"])
    with pytest.raises(GpfnError, match="no covariate column 'site'"):
        d.covariates(["site"])
    only_words = tmp_path / "w.csv"
    only_words.write_text("taxon,loc\nA,Ames\nB,Lincoln\n")
    with pytest.raises(GpfnError, match="no numeric phenotype column"):
        parse(g, tmp_path / "e.gpfn", phenotypes=only_words)
    assert not (tmp_path / "e.gpfn").exists()


def test_folds_of_whole_groups_never_split_a_group(tmp_path, draw):
    rng = np.random.default_rng(3)
    fam = rng.choice([f"F{i}" for i in range(7)], size=draw.n, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.05, 0.05])
    fam[:4] = ""  # no group: in no fold
    path = _dataset(tmp_path / "d.gpfn", draw.x, {"y": draw.y}, {"family": fam})
    ds = read_dataset(path)
    for folds in (3, 7, 10):
        fold_of, info = fold_assignment(ds, folds, 0, "family")
        assert (fold_of[:4] == -1).all()
        for g in set(fam[4:]):  # each group in exactly one fold
            assert len(set(fold_of[fam == g])) == 1
        assert len(info) == min(folds, 7) and sum(f["size"] for f in info) == draw.n - 4
        assert sorted(sum((f["groups"] for f in info), [])) == sorted(set(fam[4:]))
    _, info = fold_assignment(ds, 3, 0, "family")  # dealt largest first to the emptiest fold: balanced
    sizes = [f["size"] for f in info]
    assert max(sizes) - min(sizes) <= np.bincount(np.unique(fam[4:], return_inverse=True)[1]).max()
    csv = tmp_path / "groups.csv"  # the same groups from a file of taxon,group
    csv.write_text("taxon,family\n" + "".join(f"t{i},{f}\n" for i, f in enumerate(fam) if f))
    np.testing.assert_array_equal(fold_assignment(ds, 3, 0, str(csv))[0], fold_assignment(ds, 3, 0, "family")[0])
    genomic, _ = fold_assignment(ds, 3, 0, "genomic")
    assert set(genomic) <= {0, 1, 2} and len(set(genomic)) >= 2
    with pytest.raises(GpfnError, match="not 'genomic', a column of the dataset"):
        fold_assignment(ds, 3, 0, "nope")
    r = CliRunner().invoke(main, ["evaluate", str(path), "--methods", "gblup", "--groups", "family", "--folds", "3",
                                  "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output[r.output.index("{"): r.output.rindex("}") + 1])
    assert [len(f["groups"]) for f in out["fold_info"]] != [] and len(out["folds"]["GBLUP"]) == 3


def test_covariates_recover_a_planted_location_effect(tmp_path, model_path, draw):
    rng = np.random.default_rng(4)
    loc = rng.choice(["Ames", "Lincoln", "Mead"], size=draw.n)
    shift = {"Ames": 0.0, "Lincoln": 5.0, "Mead": -3.0}
    planted = draw.y + np.array([shift[v] for v in loc]) * draw.y.std()
    nt = draw.n_train
    b, _ = fixed_effects(draw.x[:nt], planted[:nt], np.column_stack([loc[:nt] == "Lincoln", loc[:nt] == "Mead"]))
    np.testing.assert_allclose(b / draw.y.std(), [5.0, -3.0], atol=0.5)
    # predict: the effects are reported and the breeding values are those of the phenotypes without them
    tr = _dataset(tmp_path / "tr.gpfn", draw.x[:nt], {"y": planted[:nt]}, {"loc": loc[:nt]})
    clean = _dataset(tmp_path / "clean.gpfn", draw.x[:nt], {"y": draw.y[:nt]})
    tg = _dataset(tmp_path / "tg.gpfn", draw.x[nt:], {"y": draw.y[nt:]})
    rep = predict(model_path, tr, tg, tmp_path / "c.csv", covariates=["loc"])
    effects = rep["covariate_effects"]["y"]
    assert set(effects) == {"loc=Lincoln", "loc=Mead"}
    assert abs(effects["loc=Lincoln"] / draw.y.std() - 5) < 0.5 and abs(effects["loc=Mead"] / draw.y.std() + 3) < 0.5
    predict(model_path, clean, tg, tmp_path / "n.csv")
    with_cov = np.array([float(r["mean"]) for r in read(tmp_path / "c.csv")])
    without = np.array([float(r["mean"]) for r in read(tmp_path / "n.csv")])
    ignored = (predict(model_path, tr, tg, tmp_path / "i.csv"), read(tmp_path / "i.csv"))[1]
    assert np.corrcoef(with_cov, without)[0, 1] > 0.9
    assert np.corrcoef(with_cov, without)[0, 1] > np.corrcoef([float(r["mean"]) for r in ignored], without)[0, 1]
    # evaluate: GBLUP on the corrected phenotypes, scored against the corrected phenotypes
    both = _dataset(tmp_path / "all.gpfn", draw.x, {"y": planted}, {"loc": loc})
    res = evaluate(None, dataset=both, folds=3, methods="gblup", covariates=["loc"])
    plain = evaluate(None, dataset=_dataset(tmp_path / "p.gpfn", draw.x, {"y": draw.y}), folds=3, methods="gblup")
    assert abs(res["summary"]["GBLUP"]["pearson"] - plain["summary"]["GBLUP"]["pearson"]) < 0.1
    assert abs(res["covariate_effects"]["loc=Lincoln"] / draw.y.std() - 5) < 0.5
    with pytest.raises(GpfnError, match="named both as a trait and as a covariate"):
        evaluate(None, dataset=both, folds=3, methods="gblup", covariates=["y"], phenotype="y")


def test_several_traits_evaluated_at_once_equal_one_at_a_time(tmp_path, draw):
    rng = np.random.default_rng(5)
    second = draw.y * 0.5 + rng.normal(size=draw.n) * draw.y.std()
    second[rng.random(draw.n) < 0.2] = np.nan  # phenotyped on fewer individuals
    path = _dataset(tmp_path / "d.gpfn", draw.x, {"y": draw.y, "z": second})
    res = evaluate(None, dataset=path, folds=3, methods="gblup,ridge", phenotype="all")
    assert list(res["traits"]) == ["y", "z"] and res["summary"] == res["traits"]["y"]["summary"]
    for name in ("y", "z"):
        one = evaluate(None, dataset=path, folds=3, methods="gblup,ridge", phenotype=name)
        for m in ("GBLUP", "ridge"):
            assert res["traits"][name]["summary"][m]["pearson"] == pytest.approx(one["summary"][m]["pearson"])
    assert res["traits"]["z"]["observed"].size == np.isfinite(second).sum()
    r = CliRunner().invoke(main, ["evaluate", str(path), "--methods", "gblup", "--phenotype", "all", "--folds", "3"])
    assert r.exit_code == 0, r.output
    lines = [ln.split() for ln in r.output.splitlines() if ln.split()[:1] in (["y"], ["z"])]
    assert [(ln[0], ln[1]) for ln in lines] == [("y", "GBLUP"), ("z", "GBLUP")]


def test_gblup_without_an_n_by_n_matrix_is_an_evaluate_method(tmp_path):
    """`--methods gblup,gblup-cg`: the iterative GBLUP scores beside the dense one on the same
    folds, with predictions that agree (2,000 individuals: its REML's trace probes are
    meant for training sets of a thousand and more)."""
    rng = np.random.default_rng(3)
    n, m = 1500, 450
    founders = (rng.random((10, m)) < 0.4).astype(np.int8)
    x = founders[rng.integers(0, 10, (n, m // 30)).repeat(30, 1), np.arange(m)] \
        + founders[rng.integers(0, 10, (n, m // 30)).repeat(30, 1), np.arange(m)]
    g = (x - x.mean(0)) @ rng.standard_normal(m)
    y = g / g.std() + rng.standard_normal(n)
    path = _dataset(tmp_path / "d.gpfn", x, {"y": y})
    res = evaluate(None, dataset=path, folds=3, methods="gblup-cg,gblup")
    assert list(res["summary"]) == ["GBLUP", "GBLUP-CG"]  # table order
    dense, it = res["predicted"]["GBLUP"], res["predicted"]["GBLUP-CG"]
    assert np.corrcoef(dense, it)[0, 1] > 0.999
    r = CliRunner().invoke(main, ["evaluate", str(path), "--methods", "gblup-cg", "--folds", "2"])
    assert r.exit_code == 0, r.output
    assert "GBLUP-CG" in r.output


def test_a_dense_gblup_that_would_not_fit_is_refused_up_front(tmp_path, draw, monkeypatch):
    """Before any fold runs: the sizes, the memory and the method that fits are named, and
    nothing is computed; the iterative GBLUP runs under the same limit."""
    import gpfn_core.tasks.evaluate as ev
    from gpfn_core.linear.gblup import gblup_memory

    path = _dataset(tmp_path / "d.gpfn", draw.x, {"y": draw.y})
    monkeypatch.setattr(ev, "memory_available", lambda: gblup_memory(50, 10, draw.x.shape[1]))
    monkeypatch.setattr(ev, "_run", lambda *a: pytest.fail("a fold ran"))
    with pytest.raises(GpfnError, match=r"GBLUP on [\d,]+ training individuals x [\d,]+ markers needs about .* "
                                        r"use --methods gblup-cg"):
        evaluate(None, dataset=path, folds=3, methods="gblup")
    r = CliRunner().invoke(main, ["evaluate", str(path), "--methods", "gblup,ridge", "--folds", "3"])
    assert r.exit_code != 0 and "gblup-cg" in r.output
    monkeypatch.undo()
    monkeypatch.setattr(ev, "memory_available", lambda: gblup_memory(50, 10, draw.x.shape[1]))
    assert "GBLUP-CG" in evaluate(None, dataset=path, folds=3, methods="ridge,gblup-cg")["summary"]
