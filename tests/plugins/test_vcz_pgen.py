"""VCF Zarr (written by bio2zarr's vcf2zarr) and PLINK 2 (written by plink2) read as the VCF they
came from: identical Datasets."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import needs

from gpfn_core import GpfnError
from gpfn_core.data.dataset import read_dataset
from gpfn_core.tasks.parse import parse
from gpfn_plugins.pgen import Pgen
from gpfn_plugins.vcz import Vcz

N = 14


def write_vcf(path: Path, seed: int = 0, m: int = 60) -> Path:
    """A VCF with missing and phased calls, sites without an id, a multi-allelic and a
    monomorphic site (both skipped by every reader)."""
    rng = np.random.default_rng(seed)
    head = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n##contig=<ID=2,length=100000>\n"
            "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(N)) + "\n")
    rows = []
    for j in range(m):
        chrom, pos = (1 if j < m // 2 else 2), 100 * (j + 1)
        a = rng.integers(0, 2, (N, 2))
        calls = [f"{x}{'|' if rng.random() < 0.3 else '/'}{y}" for x, y in a]
        for i in rng.choice(N, 2, replace=False):
            calls[i] = "./."
        vid = "." if j % 7 == 3 else f"snp{j}"
        ref, alt = "ACGT"[j % 4], "ACGT"[(j + 1) % 4]
        if j == 5:
            alt, calls = f"{alt},{'ACGT'[(j + 2) % 4]}", [c.replace("1", "2") if k == 0 else c for k, c in enumerate(calls)]
        if j == 9:
            alt, calls = ".", ["0/0"] * N
        rows.append(f"{chrom}\t{pos}\t{vid}\t{ref}\t{alt}\t.\t.\t.\tGT\t" + "\t".join(calls))
    path.write_text(head + "\n".join(rows) + "\n")
    return path


def same_table(a, b):
    np.testing.assert_array_equal(a.dosage, b.dosage)
    for k in ("taxa", "marker", "chrom", "pos", "ref", "alt"):
        assert list(getattr(a, k)) == list(getattr(b, k)), k


@needs("bcftools", "vcf2zarr")
def test_a_vcf_and_its_vcf2zarr_conversion_give_the_same_dataset(tmp_path):
    from gpfn_plugins.readers import Vcf

    vcf = write_vcf(tmp_path / "g.vcf")
    subprocess.run(["bcftools", "view", "-Oz", "-o", str(tmp_path / "g.vcf.gz"), str(vcf)], check=True)
    subprocess.run(["bcftools", "index", str(tmp_path / "g.vcf.gz")], check=True)
    subprocess.run([shutil.which("vcf2zarr"), "convert", "--variants-chunk-size", "16", str(tmp_path / "g.vcf.gz"),
                    str(tmp_path / "g.vcz")], check=True, capture_output=True)
    a, b = Vcf().read(vcf), Vcz().read(tmp_path / "g.vcz")
    same_table(a, b)
    assert b.info["sites_skipped_multiallelic"] == 1 and b.info["sites_skipped_monomorphic_no_alt"] == 1
    assert (b.dosage == -1).sum() == 2 * a.n_markers and "1:400" in list(b.marker)  # missing calls; id-less sites
    for name, source in (("vcf", vcf), ("vcz", tmp_path / "g.vcz")):
        path, rep = parse(source, tmp_path / f"{name}.gpfn", max_missing=0.5, min_maf=0.05)
        assert rep["reader"] == name
    x, y = read_dataset(tmp_path / "vcf.gpfn"), read_dataset(tmp_path / "vcz.gpfn")
    same_table(x.table, y.table)


@needs("plink2")
def test_a_vcf_and_its_plink2_conversion_give_the_same_dataset(tmp_path):
    from gpfn_plugins.readers import Vcf

    vcf = write_vcf(tmp_path / "g.vcf", seed=3)
    subprocess.run(["plink2", "--vcf", str(vcf), "--make-pgen", "--allow-extra-chr", "--out", str(tmp_path / "g")],
                   check=True, capture_output=True)
    a, b = Vcf().read(vcf), Pgen().read(tmp_path / "g.pgen")
    same_table(a, b)  # plink2 keeps REF/ALT: the ALT counted by both
    assert b.info["sites_skipped_multiallelic"] == 1
    path, rep = parse(tmp_path / "g.pgen", tmp_path / "p.gpfn")
    assert rep["reader"] == "pgen" and read_dataset(path).table.n_markers == a.n_markers


def test_pgenlibs_own_writer_round_trips(tmp_path):
    import pgenlib

    rng = np.random.default_rng(1)
    n, m = 9, 30
    d = rng.integers(0, 3, (m, n)).astype(np.int8)
    d[rng.random((m, n)) < 0.1] = -9
    with pgenlib.PgenWriter(bytes(str(tmp_path / "w.pgen"), "utf8"), n, variant_ct=m, nonref_flags=False) as w:
        for row in d:
            w.append_biallelic(row)
    (tmp_path / "w.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n" + "".join(f"3\t{10 * (j + 1)}\tv{j}\tC\tT\n"
                                                                          for j in range(m)))
    (tmp_path / "w.psam").write_text("#IID\tSEX\n" + "".join(f"i{i}\tNA\n" for i in range(n)))
    t = Pgen().read(tmp_path / "w.pgen")
    np.testing.assert_array_equal(t.dosage, np.where(d < 0, -1, d).T)
    assert list(t.taxa) == [f"i{i}" for i in range(n)] and set(t.alt) == {"T"} and list(t.chrom[:1]) == ["3"]


def test_bad_pgen_filesets_are_named(tmp_path):
    (tmp_path / "x.pgen").write_bytes(b"\x6c\x1b\x10junk")
    with pytest.raises(GpfnError, match="needs .*x.pvar"):
        Pgen().read(tmp_path / "x.pgen")
    (tmp_path / "x.pvar").write_text("#CHROM\tPOS\tID\tREF\tALT\n1\t10\ta\tA\tG\n")
    (tmp_path / "x.psam").write_text("#IID\ni0\ni1\n")
    with pytest.raises(GpfnError, match=r"x\.pgen: (not a readable|damaged) PLINK 2 fileset"):
        Pgen().read(tmp_path / "x.pgen")


@pytest.fixture
def vcz_store(tmp_path):
    """A small VCZ store written with zarr directly (the layout vcf2zarr writes)."""
    import zarr

    path = tmp_path / "s.vcz"
    g = zarr.open_group(str(path), mode="w", zarr_format=2, attributes={"vcf_zarr_version": "0.4"})
    gt = np.array([[[0, 1], [1, 1], [-1, -1]], [[0, 0], [0, -2], [1, 0]]], np.int8)  # a haploid call, a missing one
    g.create_array("call_genotype", data=gt, chunks=(1, 3, 2))
    strings(g, "variant_allele", [["A", "G"], ["C", "T"]])
    g.create_array("variant_position", data=np.array([10, 20], np.int32))
    g.create_array("variant_contig", data=np.array([0, 0], np.int8))
    strings(g, "contig_id", ["chr1"])
    strings(g, "sample_id", ["a", "b", "c"])
    return path


def strings(g, name, values):
    values = np.array(values, dtype=object)
    g.create_array(name, shape=values.shape, dtype=str)[...] = values


def test_vcz_reads_chunk_by_chunk_with_haploid_and_missing_calls(vcz_store):
    t = Vcz().read(vcz_store)
    np.testing.assert_array_equal(t.dosage, [[1, 0], [2, 0], [-1, 1]])
    assert list(t.marker) == ["chr1:10", "chr1:20"] and list(t.alt) == ["G", "T"]


def test_a_malformed_vcz_store_is_refused_and_nothing_is_written(vcz_store, tmp_path):
    import zarr

    shutil.rmtree(vcz_store / "sample_id")
    with pytest.raises(GpfnError, match="no array sample_id"):
        Vcz().read(vcz_store)
    g = zarr.open_group(str(vcz_store), mode="a")
    strings(g, "sample_id", ["a", "b"])  # one sample short
    with pytest.raises(GpfnError, match="shapes disagree"):
        parse(vcz_store, tmp_path / "o.gpfn")
    assert not (tmp_path / "o.gpfn").exists() and not list(tmp_path.glob(".o.gpfn*"))


def test_a_vcz_store_with_a_pickle_codec_is_refused_before_any_chunk_is_decoded(vcz_store, tmp_path):
    meta = vcz_store / "variant_allele" / ".zarray"
    doc = json.loads(meta.read_text())
    doc["filters"] = [{"id": "pickle", "protocol": 5}]
    meta.write_text(json.dumps(doc))
    canary = tmp_path / "ran"
    # a chunk that would run code if unpickled: the reader must refuse before reading it
    payload = f"import pathlib; pathlib.Path({str(canary)!r}).write_text('x')"
    chunk = subprocess.run([sys.executable, "-c", f"import pickle, os; print(pickle.dumps(type('E', (), "
                            f"{{'__reduce__': lambda s: (exec, ({payload!r},))}})()).hex())"],
                           capture_output=True, text=True).stdout.strip()
    (vcz_store / "variant_allele" / "0").write_bytes(bytes.fromhex(chunk))
    with pytest.raises(GpfnError, match="codec 'pickle'"):
        Vcz().read(vcz_store)
    assert not canary.exists()
