import json

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from gpfn_cli.main import main
from gpfn_core import GenotypeTable, GpfnError
from gpfn_core.data.dataset import Dataset, read_dataset, write_dataset
from gpfn_core.tasks.parse import parse
from gpfn_core.data.phenotypes import read_phenotypes
from gpfn_plugins.readers import NumericMatrix


def table(n=3, m=4, rng=None):
    rng = rng or np.random.default_rng(0)
    return GenotypeTable(np.array([f"t{i}" for i in range(n)]), np.array([f"1:{i * 10}" for i in range(m)]),
                         np.array(["1"] * m), np.arange(m) * 10, np.array(["A"] * m), np.array(["G"] * m),
                         rng.integers(-1, 3, (n, m)).astype(np.int8), source="x")


@pytest.mark.parametrize("suffix", ["", ".zip"])
def test_dataset_round_trip(tmp_path, suffix):
    t = table()
    out = tmp_path / f"d{suffix}"
    write_dataset(out, Dataset(t, np.array([[1.0], [np.nan], [3.0]]), ["yield"], {"reader": "numeric"}))
    d = read_dataset(out)
    np.testing.assert_array_equal(d.table.dosage, t.dosage)
    assert list(d.table.marker) == list(t.marker) and list(d.table.alt) == ["G"] * 4
    assert d.phenotype_names == ["yield"] and np.isnan(d.phenotype("yield")[1])
    with pytest.raises(GpfnError, match="already exists"):
        write_dataset(out, Dataset(t))
    assert not list(tmp_path.glob(".*tmp*"))  # nothing half-written left behind


def test_dataset_refuses_other_files(tmp_path):
    (tmp_path / "junk").write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(GpfnError, match="(?i)not a gpfn dataset"):
        read_dataset(tmp_path / "junk")
    import zarr

    zarr.create_group(str(tmp_path / "other.zarr"), attributes={"format": "gpfn-dataset", "format_version": 99})
    with pytest.raises(GpfnError, match="newer than this gpfn"):
        read_dataset(tmp_path / "other.zarr")


def write(p, text):
    p.write_text(text)
    return p


@pytest.mark.parametrize("text,match", [
    ("", "empty file"),
    ("taxon,m1,m2\n", "no genotype rows"),
    ("taxon,m1,m2\nA,0,1\nB,0\n", r":3: expected 3 fields"),
    ("taxon,m1,m1\nA,0,1\n", "duplicate marker"),
    ("taxon,m1,m2\nA,0,1\nA,1,1\n", r":3: duplicate taxon 'A' \(first on line 2\)"),
    ("taxon,m1,m2\nA,0,AG\n", r":2: marker 'm2' \(column 3\): unknown genotype 'AG'"),
])
def test_numeric_reader_errors_name_file_line_and_field(tmp_path, text, match):
    with pytest.raises(GpfnError, match=match):
        NumericMatrix().read(write(tmp_path / "g.csv", text))


def test_numeric_reader_binary_garbage(tmp_path):
    p = tmp_path / "g.csv"
    p.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(GpfnError, match="binary"):
        NumericMatrix().read(p)


@given(st.lists(st.lists(st.sampled_from(["0", "1", "2", "NA", "", "-1"]), min_size=3, max_size=3), min_size=1,
                max_size=6), st.sampled_from([",", "\t"]))
def test_numeric_reader_fuzz(tmp_path_factory, rows, sep):
    p = tmp_path_factory.mktemp("fz") / "g.tsv"
    p.write_text(sep.join(["taxon", "a", "b", "c"]) + "\n" +
                 "".join(sep.join([f"t{i}", *r]) + "\n" for i, r in enumerate(rows)))
    t = NumericMatrix().read(p)
    expected = np.array([[int(v) if v in ("0", "1", "2") else -1 for v in r] for r in rows])
    np.testing.assert_array_equal(t.dosage, expected)


def test_phenotypes_missing_and_columns(tmp_path):
    p = write(tmp_path / "p.tsv", "id\tyield\theight\nA\t1.5\tNA\nB\tx\t3\n")
    ph = read_phenotypes(p)
    assert ph.names == ["yield", "height"] and ph.report["missing_values"] == {"yield": 1, "height": 1}
    with pytest.raises(GpfnError, match="no phenotype column 'nope'; the header has: id, yield, height"):
        read_phenotypes(p, ["nope"])


def test_parse_joins_filters_and_reports(tmp_path):
    g = write(tmp_path / "g.csv", "taxon,m1,m2,m3\nA,0,0,NA\nB,2,0,NA\nC,1,0,0\nD,0,0,2\n")
    p = write(tmp_path / "p.csv", "taxon,y\nA,1\nB,NA\nC,3\nE,4\n")
    out, rep = parse(g, tmp_path / "d", phenotypes=p, max_missing=0.4, min_maf=0.1)
    d = read_dataset(out)
    assert list(d.table.taxa) == ["A", "C"] and list(d.table.marker) == ["m1"]
    assert rep["taxa_dropped_no_phenotype"] == 1 and rep["taxa_dropped_missing_phenotype"] == 1
    assert rep["phenotyped_taxa_without_genotypes"] == 1
    assert rep["markers_dropped_missing"] == 1 and rep["markers_dropped_maf"] == 1
    q = write(tmp_path / "q.csv", "taxon,y\nX,1\nY,2\n")
    with pytest.raises(GpfnError, match="none of its 2 taxa match"):
        parse(g, tmp_path / "e", phenotypes=q)
    assert not (tmp_path / "e").exists()


def test_parse_and_inspect_cli(tmp_path):
    g = write(tmp_path / "g.csv", "taxon,1:5,1:9\nA,0,1\nB,2,NA\n")
    r = CliRunner().invoke(main, ["parse", str(g), "-o", str(tmp_path / "d.zip"), "--impute", "mode"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["inspect", str(tmp_path / "d.zip"), "--json"])
    s = json.loads(r.output)
    assert s["taxa"] == 2 and s["missing_fraction"] == 0.0 and s["chromosomes"] == ["1"]
    r = CliRunner().invoke(main, ["parse", str(g), "-o", str(tmp_path / "d.zip")])
    assert r.exit_code == 1 and "already exists" in r.output


def test_phenotype_csv_quoting_and_non_numeric_values_are_reported(tmp_path):
    from gpfn_core.data.phenotypes import read_phenotypes

    p = tmp_path / "p.csv"
    p.write_text('taxon,"plot, yield",height\nA,"12,5",3\n"B, 2",12.5kg,4\nC,NA,x\nD,7,5\n')
    t = read_phenotypes(p)
    assert t.names == ["plot, yield", "height"] and list(t.taxa) == ["A", "B, 2", "C", "D"]
    assert t.report["missing_values"] == {"plot, yield": 3, "height": 1}
    odd = t.report["non_numeric_values"]
    assert odd["plot, yield"] == {"count": 2, "first": ["line 2: '12,5'", "line 3: '12.5kg'"]}  # NA is not odd
    assert odd["height"]["count"] == 1 and "line 4: 'x'" in odd["height"]["first"]
    s = tmp_path / "s.csv"
    s.write_text("taxon;yield\nA;1.5\nB;2\n")  # semicolon-separated
    assert read_phenotypes(s).values[:, 0].tolist() == [1.5, 2.0]


def test_a_genotype_file_given_as_a_dataset_says_to_parse_it(tmp_path):
    vcf = tmp_path / "g.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n")
    with pytest.raises(GpfnError, match=r"not a gpfn Dataset but a plain file .*gpfn parse .*g\.vcf -o g\.gpfn"):
        read_dataset(vcf)
