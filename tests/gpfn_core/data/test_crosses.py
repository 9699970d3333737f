"""Hybrids made from their inbred parents' genotypes (``gpfn parse --crosses``)."""

import numpy as np
import pytest
from click.testing import CliRunner
from gpfn_cli.main import main
from hypothesis import given, settings
from hypothesis import strategies as st

from gpfn_core import GenotypeTable
from gpfn_core.data.crosses import Crosses, make_hybrids, read_crosses
from gpfn_core.data.dataset import read_dataset
from gpfn_core.errors import GpfnError
from gpfn_core.tasks.evaluate import group_labels


def table(dosage):
    n, m = dosage.shape
    return GenotypeTable(np.array([f"L{i}" for i in range(n)]), np.array([f"m{j}" for j in range(m)]),
                         np.array(["1"] * m), np.arange(m) * 10, np.array(["A"] * m), np.array(["G"] * m),
                         dosage.astype(np.int8), "lines.csv")


def crosses(pairs):
    pairs = np.asarray(pairs).reshape(-1, 2)
    return Crosses(np.array([f"H{k}" for k in range(len(pairs))]), np.array([f"L{i}" for i in pairs[:, 0]]),
                   np.array([f"L{j}" for j in pairs[:, 1]]), np.arange(len(pairs)) + 2, "crosses.csv")


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.integers(1, 30), st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_a_hybrids_call_is_the_sum_of_its_parents_gametes(lines, markers, hybrids, seed):
    """Where both parents are homozygous the hybrid's dosage is half the sum of theirs; where
    either is heterozygous or missing it is missing; the report counts each kind."""
    rng = np.random.default_rng(seed)
    d = rng.choice(np.array([0, 2, 0, 2, 1, -1]), size=(lines, markers))
    pairs = rng.integers(0, lines, size=(hybrids, 2))
    t, rep = make_hybrids(table(d), crosses(pairs))
    a, b = d[pairs[:, 0]], d[pairs[:, 1]]
    missing, het = (a < 0) | (b < 0), ((a == 1) | (b == 1)) & ~((a < 0) | (b < 0))
    expected = np.where(missing | het, -1, (a + b) // 2)
    np.testing.assert_array_equal(t.dosage, expected)
    assert set(np.unique(t.dosage[~(missing | het)])) <= {0, 1, 2}
    assert rep["hybrid_calls_missing_parent"] == missing.sum() and rep["hybrid_calls_heterozygous_parent"] == het.sum()
    assert list(t.taxa) == [f"H{k}" for k in range(hybrids)] and (t.marker == table(d).marker).all()


def test_the_hybrid_priors_crosses_are_what_parse_makes_of_its_lines():
    """gpfn parse --crosses builds a hybrid from its parent lines as the hybrid prior does."""
    from gpfn_plugins.hybrid import Hybrid

    from tests.plugins.test_outbred_hybrid import COMMON, founders_and_trait

    f, t, rng = founders_and_trait(200)
    scheme = Hybrid()
    seen = {}

    def cross(lines, pairs, rng_):
        seen["lines"] = lines
        return Hybrid._cross(lines, pairs, rng_)

    scheme._cross = cross
    p = dict(COMMON, pool_size=100, pool_divergence=10, lines_per_pool=12, doubled_haploids=True,
             selfing_generations=4, sca_share=0.0, split=0, untested_share=0.3, observed_share=0.6)
    train, _ = scheme.forward(f, t, rng, **p)
    made, rep = make_hybrids(table(seen["lines"].dosage()), crosses(np.column_stack([train.mother, train.father])))
    np.testing.assert_array_equal(made.dosage, train.dosage())
    assert rep["hybrid_calls_heterozygous_parent"] == 0 and "parents_not_inbred" not in rep


@pytest.mark.parametrize("text, message", [
    ("hybrid,female\nH1,A\n", "needs three columns"),
    ("hybrid,female,male\n", "no crosses"),
    ("hybrid,female,male\nH1,A,B\nH2,A\n", "crosses.csv:3: expected 3 fields"),
    ("hybrid,female,male\nH1,A,B\nH1,B,C\n", "crosses.csv:3: duplicate hybrid 'H1' (first on line 2)"),
    ("hybrid,female,male\nH1,,B\n", "crosses.csv:2: empty 'female'"),
    ("hybrid,parent,parent\nH1,A,B\n", "crosses.csv:1: the two parent columns need two different names"),
])
def test_a_bad_crosses_file_is_an_error_naming_its_line(tmp_path, text, message):
    path = tmp_path / "crosses.csv"
    path.write_text(text)
    with pytest.raises(GpfnError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_crosses(path)


def test_parse_crosses_end_to_end(tmp_path):
    """Parents as a dosage matrix, crosses and the hybrids' phenotypes: the Dataset holds the
    phenotyped hybrids with their parents' gametes; an unknown parent stops it with the line
    named and nothing written; a heterozygous parent is warned of."""
    (tmp_path / "lines.csv").write_text("taxon,1:100,1:200,1:300\nP1,0,2,2\nP2,2,2,0\nP3,2,1,-1\nP4,0,0,0\n")
    (tmp_path / "crosses.csv").write_text("hybrid,female,male,note\nH1,P1,P2,x\nH2,P1,P3,\nH3,P2,P4,y\n")
    (tmp_path / "ph.csv").write_text("hybrid,yield\nH1,3.5\nH2,4.0\n")
    out = tmp_path / "h.gpfn"
    r = CliRunner().invoke(main, ["parse", str(tmp_path / "lines.csv"), "--crosses", str(tmp_path / "crosses.csv"),
                                  "--phenotypes", str(tmp_path / "ph.csv"), "-o", str(out)])
    assert r.exit_code == 0, r.output
    ds = read_dataset(out)
    assert list(ds.table.taxa) == ["H1", "H2"]
    np.testing.assert_array_equal(ds.table.dosage, [[1, 2, 1], [1, -1, -1]])
    assert ds.phenotypes[:, 0].tolist() == [3.5, 4.0]
    assert ds.factor_names == ["female", "male"] and ds.factors.tolist() == [["P1", "P2"], ["P1", "P3"]]
    assert group_labels(ds, "male").tolist() == ["P2", "P3"]  # gpfn evaluate --groups male: whole male lines out
    assert "hybrid_calls_heterozygous_parent: 1" in r.output and "hybrid_calls_missing_parent: 1" in r.output
    assert "Warning" in r.output and "P3: 50% heterozygous" in r.output

    (tmp_path / "bad.csv").write_text("hybrid,female,male\nH1,P1,P2\nH2,P1,P9\n")
    r = CliRunner().invoke(main, ["parse", str(tmp_path / "lines.csv"), "--crosses", str(tmp_path / "bad.csv"),
                                  "-o", str(tmp_path / "bad.gpfn")])
    assert r.exit_code == 1 and "bad.csv:3: parent 'P9' of hybrid 'H2'" in r.output
    assert not (tmp_path / "bad.gpfn").exists()


def test_quiet_parse_prints_only_its_result_and_warnings(tmp_path):
    """``gpfn -q`` leaves out the report, not the result or a warning."""
    (tmp_path / "lines.csv").write_text("taxon,1:100,1:200\nP1,0,2\nP2,2,1\n")
    (tmp_path / "crosses.csv").write_text("hybrid,female,male\nH1,P1,P2\n")
    args = ["parse", str(tmp_path / "lines.csv"), "--crosses", str(tmp_path / "crosses.csv")]
    loud = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "a.gpfn")])
    quiet = CliRunner().invoke(main, ["-q", *args, "-o", str(tmp_path / "b.gpfn")])
    assert loud.exit_code == quiet.exit_code == 0
    assert "hybrids: 1" in loud.output and "hybrids: 1" not in quiet.output
    assert quiet.stdout.strip() == str(tmp_path / "b.gpfn")
    assert "Warning" in quiet.output and "P2: 50% heterozygous" in quiet.output


def test_t0_folds_never_train_on_the_parents_of_a_test_cross(tmp_path):
    """--groups female,male: each fold's test crosses have both parents in none of its training
    crosses; a cross with one such parent is in neither set; every cross is tested once at most."""
    from gpfn_core.tasks.evaluate import evaluate, fold_splits

    rng = np.random.default_rng(3)
    d = rng.choice(np.array([0, 2]), size=(12, 40))
    lines = [f"P{i}" for i in range(12)]
    (tmp_path / "lines.csv").write_text("taxon," + ",".join(f"1:{j + 1}" for j in range(40)) + "\n" + "".join(
        f"{t}," + ",".join(map(str, row)) + "\n" for t, row in zip(lines, d)))
    pairs = [(f, m) for f in lines[:6] for m in lines[6:]]
    (tmp_path / "crosses.csv").write_text("hybrid,female,male\n" + "".join(f"H{f}x{m},{f},{m}\n" for f, m in pairs))
    (tmp_path / "ph.csv").write_text("hybrid,yield\n" + "".join(f"H{f}x{m},{rng.normal():.3f}\n" for f, m in pairs))
    from gpfn_core.tasks.parse import parse

    path, _ = parse(tmp_path / "lines.csv", tmp_path / "h.gpfn", phenotypes=tmp_path / "ph.csv",
                    crosses=tmp_path / "crosses.csv")
    ds = read_dataset(path)
    masks, info = fold_splits(ds, 3, 0, "female,male")
    assert len(masks) == 3
    tested = np.zeros(ds.table.n_taxa, int)
    for (train, test), fold in zip(masks, info):
        parents = ds.factors
        assert not (train & test).any()
        assert not set(parents[test, 0]) & set(parents[train, 0])
        assert not set(parents[test, 1]) & set(parents[train, 1])
        assert fold["size"] == test.sum() == 4 and train.sum() == 16 and fold["left_out"] == 16
        tested += test
    assert tested.max() == 1
    res = evaluate(None, dataset=path, folds=3, groups="female,male", methods="gblup")
    assert len(res["folds"]["GBLUP"]) == 3 and len(res["observed"]) == 12
    with pytest.raises(GpfnError, match="two columns"):
        fold_splits(ds, 3, 0, "female,male,yield")
