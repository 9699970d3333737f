"""``gpfn cross``: progeny of planned crosses simulated from their parents and predicted."""

import numpy as np
import pytest
from click.testing import CliRunner
from gpfn_cli.main import main

from gpfn_core.errors import GpfnError
from gpfn_core.tasks.cross import (
    genetic_map,
    read_map,
    selection_intensity,
    simulate_progeny,
)
from tests.helpers import dataset, read


def parents_and_map(rng, k=6, m=400, chromosomes=4):
    d = rng.choice(np.array([0, 2]), size=(k, m)).astype(np.int8)
    chrom = np.repeat([f"c{c}" for c in range(chromosomes)], m // chromosomes)
    morgans = np.tile(np.linspace(0, 1.5, m // chromosomes), chromosomes)
    gmap, order = genetic_map(chrom, morgans)
    return d, gmap, order


@pytest.mark.parametrize("kind, het_range", [("ril", (0.0, 0.04)), ("dh", (0.0, 0.0)), ("f2", (0.45, 0.55))])
@pytest.mark.parametrize("block", [None, 1000])
def test_progeny_take_their_alleles_from_their_parents(kind, het_range, block, monkeypatch):
    """Where two inbred parents agree their progeny do too; where they differ the progeny
    segregate about 1:1 (mean dosage 1), heterozygous as the kind of progeny implies; bred in
    one block or a cross at a time alike."""
    if block:
        monkeypatch.setattr("gpfn_core.tasks.cross.CELLS_AT_ONCE", block)
    rng = np.random.default_rng(0)
    d, gmap, order = parents_and_map(rng)
    x = simulate_progeny(d, np.array([0, 2]), np.array([1, 3]), gmap, order, kind, lines=400, selfing=6, seed=1)
    assert x.shape == (800, d.shape[1])
    for k, (a, b) in enumerate([(0, 1), (2, 3)]):
        lines = x[k * 400:(k + 1) * 400]
        agree = d[a] == d[b]
        assert (lines[:, agree] == d[a, agree]).all()
        seg = lines[:, ~agree]
        assert abs(seg.mean() - 1.0) < 0.05
        het = (seg == 1).mean()
        assert het_range[0] <= het <= het_range[1]


def test_linked_markers_travel_together_and_unlinked_ones_do_not():
    """Doubled haploids of an F1: markers 1 cM apart recombine in about 1% of the lines,
    markers on different chromosomes in about half."""
    d = np.array([[0, 0, 0, 0], [2, 2, 2, 2]], dtype=np.int8)
    gmap, order = genetic_map(np.array(["1", "1", "1", "2"]), np.array([0.2, 0.21, 0.9, 0.5]))
    x = simulate_progeny(d, np.array([0]), np.array([1]), gmap, order, "dh", lines=4000, seed=2)

    def recombinant(i, j):
        return float((x[:, i] != x[:, j]).mean())

    assert recombinant(0, 1) < 0.02
    assert 0.3 < recombinant(0, 2) < 0.45  # 0.7 M apart: Haldane's r = (1 - exp(-1.4)) / 2 = 0.377
    assert 0.46 < recombinant(0, 3) < 0.54


def test_a_missing_parental_call_is_missing_in_the_progeny():
    rng = np.random.default_rng(2)
    d, gmap, order = parents_and_map(rng, k=3, m=40, chromosomes=2)
    d[1, 5] = -1
    x = simulate_progeny(d, np.array([0, 0]), np.array([1, 2]), gmap, order, "ril", lines=10, seed=0)
    assert (x[:10, 5] == -1).all() and (x[10:, 5] >= 0).all() and (x[:10, :5] >= 0).all()


def test_selection_intensity():
    assert selection_intensity(0.1) == pytest.approx(1.7550, abs=1e-3)
    assert selection_intensity(0.5) == pytest.approx(0.7979, abs=1e-3)
    with pytest.raises(GpfnError):
        selection_intensity(1.0)


def test_a_map_file_must_place_every_marker(tmp_path):
    p = tmp_path / "map.csv"
    p.write_text("marker,chrom,cM\nm0,1,0\nm1,1,12.5\n")
    chrom, morgans = read_map(p, np.array(["m1", "m0"]))
    assert chrom.tolist() == ["1", "1"] and morgans.tolist() == [0.125, 0.0]
    with pytest.raises(GpfnError, match="1 of the 3 markers shared by the datasets are not on the map, e.g. m2"):
        read_map(p, np.array(["m0", "m1", "m2"]))
    p.write_text("marker,chrom,cM\nm0,1,x\n")
    with pytest.raises(GpfnError, match="map.csv:2: position 'x' is not a number"):
        read_map(p, np.array(["m0"]))


def test_gpfn_cross_end_to_end(tmp_path):
    """A line crossed with itself breeds true: its progeny's sd is 0 and their mean is the
    line's own prediction by gpfn predict; crosses of different lines spread; an unknown parent
    is an error naming the crosses file's line, with nothing written."""
    rng = np.random.default_rng(3)
    m = 300
    x = rng.choice(np.array([0, 2]), size=(80, m)).astype(np.int8)
    y = x[:, :20].sum(1) / 2 + rng.normal(size=80)
    taxa = [f"L{i}" for i in range(80)]
    train = dataset(tmp_path / "train.gpfn", x[:60], taxa[:60], y[:60])
    parents = dataset(tmp_path / "parents.gpfn", x[60:], taxa[60:])
    (tmp_path / "plan.csv").write_text("cross,a,b\nX1,L60,L61\nX2,L62,L63\nSELF,L64,L64\n")
    out = tmp_path / "cross.csv"
    r = CliRunner().invoke(main, ["cross", "--train", str(train), "--parents", str(parents), "--crosses",
                                  str(tmp_path / "plan.csv"), "-o", str(out), "--lines", "30"])
    assert r.exit_code == 0, r.output
    rows = {row["cross"]: row for row in read(out)}
    assert list(rows) == ["X1", "X2", "SELF"] and rows["X1"]["parent2"] == "L61"
    assert float(rows["SELF"]["sd"]) == pytest.approx(0.0, abs=1e-6)
    assert float(rows["X1"]["sd"]) > 0.05 and float(rows["X2"]["sd"]) > 0.05
    for row in rows.values():
        assert float(row["usefulness"]) == pytest.approx(float(row["mean"]) + 1.755 * float(row["sd"]), abs=1e-3)
    r = CliRunner().invoke(main, ["predict", "--train", str(train), "--target", str(parents), "-o",
                                  str(tmp_path / "p.csv")])
    assert r.exit_code == 0, r.output
    own = {row["taxon"]: float(row["mean"]) for row in read(tmp_path / "p.csv")}
    assert float(rows["SELF"]["mean"]) == pytest.approx(own["L64"], abs=1e-4)

    r = CliRunner().invoke(main, ["cross", "--train", str(train), "--parents", str(parents), "--crosses", "all",
                                  "-o", str(tmp_path / "all.csv"), "--lines", "5"])
    assert r.exit_code == 0, r.output
    pairs = read(tmp_path / "all.csv")
    assert len(pairs) == 20 * 19 // 2 and pairs[0]["cross"] == "L60 x L61" and pairs[-1]["cross"] == "L78 x L79"

    (tmp_path / "bad.csv").write_text("cross,a,b\nX1,L60,L61\nX2,L62,NOPE\n")
    r = CliRunner().invoke(main, ["cross", "--train", str(train), "--parents", str(parents), "--crosses",
                                  str(tmp_path / "bad.csv"), "-o", str(tmp_path / "bad_out.csv")])
    assert r.exit_code == 1 and "bad.csv:3: a parent of cross 'X2'" in r.output
    assert not (tmp_path / "bad_out.csv").exists()


def test_a_heterozygous_parent_is_phased_at_random_locus_by_locus():
    """Doubled haploids of one line heterozygous at two tightly linked loci: with its alleles
    phased locus by locus at random, anew for each line, the two loci come apart in about
    half the lines (a made-up coupling phase would keep them together in every line)."""
    d = np.array([[1, 1, 0]], dtype=np.int8)
    gmap, order = genetic_map(np.array(["1", "1", "1"]), np.array([0.1, 0.1001, 0.5]))
    x = simulate_progeny(d, np.array([0]), np.array([0]), gmap, order, "dh", lines=400, seed=3)
    assert set(np.unique(x[:, :2])) == {0, 2} and (x[:, 2] == 0).all()
    apart = float((x[:, 0] != x[:, 1]).mean())
    assert 0.3 < apart < 0.7
