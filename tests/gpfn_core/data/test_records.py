"""Phenotype files with several records per taxon: least-squares means (``--means-over``)."""

import numpy as np
import pytest
from click.testing import CliRunner
from gpfn_cli.main import main

from gpfn_core.data.dataset import read_dataset
from gpfn_core.data.phenotypes import read_phenotypes
from gpfn_core.errors import GpfnError


def write_records(path, rows, header="taxon,env,rep,family,yield,height"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_unbalanced_records_give_each_taxon_its_effect_plus_the_mean_environment(tmp_path):
    """y = taxon + environment + replicate, exactly, with a third of the cells missing: the
    least-squares means recover every taxon's effect plus the mean environment and replicate
    effects, where plain means are biased by the environments a taxon was grown in."""
    rng = np.random.default_rng(0)
    g, e, r = rng.normal(size=8), rng.normal(scale=3, size=5), np.array([0.0, 1.0])
    rows, plain = [], {}
    for i in range(8):
        for j in range(5):
            for k in range(2):
                if (i + j) % 3 == 0 and j:  # unbalanced, still connected through environment 0
                    continue
                y = g[i] + e[j] + r[k]
                rows.append((f"T{i}", f"E{j}", k + 1, f"F{i % 2}", f"{y:.12f}", "NA" if (i, j) == (3, 1) else 1.0))
                plain.setdefault(i, []).append(y)
    t = read_phenotypes(write_records(tmp_path / "r.csv", rows), means_over=["env", "rep"])
    assert list(t.taxa) == [f"T{i}" for i in range(8)] and t.names == ["yield", "height"]
    np.testing.assert_allclose(t.values[:, 0], g + e.mean() + r.mean(), atol=1e-8)
    assert np.abs(np.array([np.mean(plain[i]) for i in range(8)]) - (g + e.mean() + r.mean())).max() > 0.1
    np.testing.assert_allclose(t.values[:, 1], 1.0, atol=1e-8)  # the constant trait, with one record missing
    assert t.text_names == ["family"] and list(t.text[:, 0]) == [f"F{i % 2}" for i in range(8)]
    rep = t.report["means_over"]
    assert rep["levels"] == {"env": 5, "rep": 2} and rep["records"] == len(rows) and rep["taxa"] == 8


def test_balanced_records_give_plain_means_and_a_varying_factor_is_dropped(tmp_path):
    rows = [(f"T{i}", f"E{j}", 1, f"L{j}", i * 10 + j, 5) for i in range(4) for j in range(3)]
    t = read_phenotypes(write_records(tmp_path / "b.csv", rows), columns=["yield", "family"], means_over=["env"])
    np.testing.assert_allclose(t.values[:, 0], [1, 11, 21, 31], atol=1e-9)
    assert t.text_names == [] and t.report["means_over"]["factor_columns_dropped"] == ["family"]
    plain = read_phenotypes(write_records(tmp_path / "p.csv", rows), columns=["yield"], means_over=[])
    np.testing.assert_allclose(plain.values[:, 0], [1, 11, 21, 31], atol=1e-9)


def test_records_that_share_no_environment_are_an_error(tmp_path):
    rows = [("A", "E1", 1, "F", 1, 1), ("B", "E1", 1, "F", 2, 1), ("C", "E2", 1, "F", 3, 1), ("C", "E3", 1, "F", 3, 1)]
    with pytest.raises(GpfnError, match=r"the records of 'yield' of 1 taxa \(e.g. C\) share no env level"):
        read_phenotypes(write_records(tmp_path / "d.csv", rows), columns=["yield", "height"], means_over=["env"])
    # connected through a record whose yield is missing: still apart for yield, not for height
    rows = [*rows, ("A", "E2", 1, "F", "NA", 1)]
    with pytest.raises(GpfnError, match=r"'yield' of 1 taxa \(e.g. C\)"):
        read_phenotypes(write_records(tmp_path / "d.csv", rows), columns=["yield", "height"], means_over=["env"])
    t = read_phenotypes(write_records(tmp_path / "d.csv", rows), columns=["height"], means_over=["env"])
    assert t.values[:, 0].tolist() == pytest.approx([1, 1, 1])


def test_several_records_without_means_over_say_what_to_do(tmp_path):
    rows = [("A", "E1", 1, "F", 1, 1), ("A", "E2", 1, "F", 2, 1)]
    with pytest.raises(GpfnError, match=r"d.csv:3: duplicate taxon 'A' \(first on line 2\).*--means-over"):
        read_phenotypes(write_records(tmp_path / "d.csv", rows))
    with pytest.raises(GpfnError, match="no --means-over column 'site'"):
        read_phenotypes(write_records(tmp_path / "d.csv", rows), means_over=["site"])
    with pytest.raises(GpfnError, match="d.csv:3: no value of --means-over column"):
        read_phenotypes(write_records(tmp_path / "d.csv", [rows[0], ("A", "NA", 1, "F", 2, 1)]), means_over=["env"])


def test_parse_means_over_end_to_end(tmp_path):
    (tmp_path / "g.csv").write_text("taxon,1:1,1:2\nA,0,2\nB,2,0\nC,1,1\n")
    rows = [("A", "E1", 1, "F", 1, 1), ("A", "E2", 1, "F", 3, 1), ("B", "E1", 1, "F", 5, 1), ("C", "E2", 1, "F", 7, 1)]
    p = write_records(tmp_path / "p.csv", rows)
    r = CliRunner().invoke(main, ["parse", str(tmp_path / "g.csv"), "--phenotypes", str(p), "--phenotype", "yield",
                                  "--means-over", "env", "-o", str(tmp_path / "d.gpfn")])
    assert r.exit_code == 0, r.output
    ds = read_dataset(tmp_path / "d.gpfn")
    # E2 - E1 = 2 (from A), so B (E1 only) = 5 + 1 and C (E2 only) = 7 - 1 on the mean environment
    np.testing.assert_allclose(ds.phenotypes[:, 0], [2, 6, 6], atol=1e-8)
    r = CliRunner().invoke(main, ["parse", str(tmp_path / "g.csv"), "--phenotypes", str(p), "--means-over", "none",
                                  "--phenotype", "yield", "-o", str(tmp_path / "e.gpfn")])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(read_dataset(tmp_path / "e.gpfn").phenotypes[:, 0], [2, 5, 7], atol=1e-8)
