"""Malformed input: every reader's input corrupted by hypothesis.

Each case starts from a valid file (VCF, BCF, HapMap, PLINK .bed/.bim/.fam, numeric
matrix, phenotype CSV, Dataset, model file, draw store) and corrupts it: truncation, bit
flips, a wrong encoding, a duplicated or deleted line, an emptied or huge field, junk
bytes.  The command that reads it (``gpfn parse``, ``gpfn inspect``, ``gpfn predict``)
must end in a gpfn error whose message names the file, or in a correct result: never a
traceback, never a partial output file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpfn_cli.main import main
from gpfn_core.data.dataset import Dataset, read_dataset, write_dataset
from gpfn_core import GenotypeTable

N, M = 10, 120
SAMPLES = [f"s{i}" for i in range(N)]
# CI runs the same cases every time (derandomize); GPFN_ROBUSTNESS_EXAMPLES=500 searches wider
EXAMPLES = int(os.environ.get("GPFN_ROBUSTNESS_EXAMPLES", "40"))
CASES = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                 derandomize="GPFN_ROBUSTNESS_EXAMPLES" not in os.environ)


@pytest.fixture(scope="module")
def valid(tmp_path_factory, model_path):
    """One valid file of every kind, with the same genotypes."""
    import pysam
    from bed_reader import to_bed

    d = tmp_path_factory.mktemp("valid")
    rng = np.random.default_rng(7)
    g = rng.integers(0, 3, (N, M))
    files = {}
    head = ("##fileformat=VCFv4.2\n##contig=<ID=1>\n##FORMAT=<ID=GT,Number=1,Type=String,Description=\"GT\">\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES) + "\n")
    gt = {0: "0/0", 1: "0/1", 2: "1/1"}
    files["vcf"] = d / "g.vcf"
    files["vcf"].write_text(head + "".join(f"1\t{(j + 1) * 100}\tm{j}\tA\tG\t.\t.\t.\tGT\t"
                                           + "\t".join(gt[int(v)] for v in g[:, j]) + "\n" for j in range(M)))
    files["bcf"] = d / "g.bcf"
    with pysam.VariantFile(str(files["vcf"])) as src, pysam.VariantFile(str(files["bcf"]), "wb", header=src.header) as out:
        for rec in src:
            out.write(rec)
    code = {0: "AA", 1: "AG", 2: "GG"}
    files["hapmap"] = d / "g.hmp.txt"
    files["hapmap"].write_text("rs#\talleles\tchrom\tpos\tstrand\tassembly#\tcenter\tprotLSID\tassayLSID\tpanelLSID\t"
                               "QCcode\t" + "\t".join(SAMPLES) + "\n" + "".join(
                                   f"m{j}\tA/G\t1\t{(j + 1) * 100}\t+\tNA\tNA\tNA\tNA\tNA\tNA\t"
                                   + "\t".join(code[int(v)] for v in g[:, j]) + "\n" for j in range(M)))
    files["numeric"] = d / "g.csv"
    files["numeric"].write_text("taxon," + ",".join(f"m{j}" for j in range(M)) + "\n" + "".join(
        f"{s}," + ",".join(str(int(v)) for v in g[i]) + "\n" for i, s in enumerate(SAMPLES)))
    files["plink"] = d / "g.bed"
    to_bed(files["plink"], g.astype(np.float32), properties={"iid": SAMPLES, "sid": [f"m{j}" for j in range(M)]})
    files["phenotypes"] = d / "p.csv"
    files["phenotypes"].write_text("taxon,yield,height\n" + "".join(
        f"{s},{rng.normal():.4f},{rng.normal():.4f}\n" for s in SAMPLES))
    table = GenotypeTable(np.array(SAMPLES), np.array([f"m{j}" for j in range(M)]), np.array(["1"] * M),
                          np.arange(M) * 100, np.array(["A"] * M), np.array(["G"] * M), g.astype(np.int8))
    files["dataset"] = write_dataset(d / "d.zip", Dataset(table, rng.normal(size=(N, 1)), ["y"]))
    files["model"] = d / "m.gpfn"
    shutil.copy(model_path, files["model"])
    return files


def corrupt(data: bytes, how: str, at: float, extra: int) -> bytes:
    """``data`` damaged in one way; ``at`` (0-1) says where, ``extra`` how much or what."""
    i = int(at * max(len(data) - 1, 0))
    lines = data.split(b"\n")
    k = int(at * max(len(lines) - 2, 0)) + 1 if len(lines) > 1 else 0
    if how == "truncate":
        return data[:i]
    if how == "flip":
        b = bytearray(data)
        for j in range(1 + extra % 4):
            pos = (i + j * 7919) % max(len(b), 1)
            if b:
                b[pos] ^= 1 << (extra + j) % 8
        return bytes(b)
    if how == "encoding":
        return data.decode("utf-8", "replace").encode("utf-16") if extra % 2 else data[:i] + "é".encode("latin-1") + data[i:]
    if how == "duplicate_line":
        return b"\n".join(lines[:k] + [lines[k]] + lines[k:]) if lines else data
    if how == "delete_line":
        return b"\n".join(lines[:k] + lines[k + 1:])
    if how == "empty_field":
        parts = lines[k].split(b"\t" if b"\t" in lines[k] else b",")
        parts[extra % len(parts)] = b""
        return b"\n".join(lines[:k] + [(b"\t" if b"\t" in lines[k] else b",").join(parts)] + lines[k + 1:])
    if how == "huge_field":
        return data[:i] + b"9" * (200_000 + extra) + data[i:]
    return data[:i] + bytes((extra * 37 + j) % 256 for j in range(64)) + data[i:]  # junk


DAMAGE = st.tuples(st.sampled_from(["truncate", "flip", "encoding", "duplicate_line", "delete_line", "empty_field",
                                    "huge_field", "junk"]), st.floats(0, 1), st.integers(0, 10_000))


def check(args: list[str], damaged: Path, out: Path | None = None) -> None:
    """The command ends in a named gpfn error or a correct result; never a traceback or a partial file."""
    before = set(damaged.parent.iterdir())
    r = CliRunner().invoke(main, args)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"traceback from {args}: {type(r.exception).__name__}: {r.exception}") from r.exception
    assert r.exit_code in (0, 1), (r.exit_code, r.output)
    if r.exit_code == 1:
        assert [ln for ln in r.output.splitlines() if ln.startswith("Error: ")] and damaged.name in r.output, r.output
        if out is not None:
            assert not out.exists(), f"{out} written by a failed run"
    elif out is not None:
        read_dataset(out) if out.suffix in (".gpfn", ".zip") else None
    left = {p for p in set(damaged.parent.iterdir()) - before if ".tmp" in p.name}
    assert not left, f"temporary files left: {left}"


@pytest.mark.parametrize("kind", ["vcf", "bcf", "hapmap", "numeric", "plink"])
def test_genotype_readers(valid, tmp_path_factory, tally, kind):
    @CASES
    @given(DAMAGE)
    def case(damage):
        d = tmp_path_factory.mktemp(kind)
        src = valid[kind]
        damaged = d / src.name
        damaged.write_bytes(corrupt(src.read_bytes(), *damage))
        if kind == "plink":  # the .bed damaged, or its .bim or .fam
            for ext in (".bim", ".fam"):
                shutil.copy(src.with_suffix(ext), damaged.with_suffix(ext))
            which = [".bed", ".bim", ".fam"][damage[2] % 3]
            if which != ".bed":
                shutil.copy(src, damaged)
                part = damaged.with_suffix(which)
                part.write_bytes(corrupt(src.with_suffix(which).read_bytes(), *damage))
        out = d / "out.gpfn"
        check(["parse", str(damaged), "--reader", {"plink": "plink", "numeric": "numeric", "hapmap": "hapmap"}.get(
            kind, "vcf"), "-o", str(out)], damaged if kind != "plink" else damaged, out)
        tally(f"inputs tried: {kind}")

    case()


def test_phenotype_csv(valid, tmp_path_factory, tally):
    @CASES
    @given(DAMAGE)
    def case(damage):
        d = tmp_path_factory.mktemp("pheno")
        damaged = d / "p.csv"
        damaged.write_bytes(corrupt(valid["phenotypes"].read_bytes(), *damage))
        out = d / "out.gpfn"
        check(["parse", str(valid["numeric"]), "--phenotypes", str(damaged), "-o", str(out)], damaged, out)
        tally("inputs tried: phenotype csv")

    case()


def test_dataset_files(valid, tmp_path_factory, tally):
    @CASES
    @given(DAMAGE)
    def case(damage):
        d = tmp_path_factory.mktemp("ds")
        damaged = d / "d.zip"
        damaged.write_bytes(corrupt(valid["dataset"].read_bytes(), *damage))
        check(["inspect", str(damaged)], damaged)
        out = d / "p.csv"
        check(["predict", "--model", str(valid["model"]), "--train", str(damaged), "--target", str(valid["dataset"]),
               "-o", str(out)], damaged, out)
        tally("inputs tried: dataset")

    case()


def test_model_files(valid, tmp_path_factory, tally):
    @settings(CASES, max_examples=max(EXAMPLES * 5 // 8, 1))
    @given(DAMAGE)
    def case(damage):
        d = tmp_path_factory.mktemp("model")
        damaged = d / "m.gpfn"
        damaged.write_bytes(corrupt(valid["model"].read_bytes(), *damage))
        check(["inspect", str(damaged)], damaged)
        out = d / "p.csv"
        check(["predict", "--model", str(damaged), "--train", str(valid["dataset"]), "--target",
               str(valid["dataset"]), "-o", str(out)], damaged, out)
        tally("inputs tried: model file")

    case()


def test_draw_stores(tmp_path_factory, tally):
    from gpfn_core.net.config import FitConfig
    from gpfn_core.tasks.generate import generate

    base = tmp_path_factory.mktemp("store") / "s"
    generate(FitConfig(prior="ril", founders="random", overrides={"n_markers": 300}, feature_max_size=8,
                       pop_max_size=40, batch_size=2), base, 4, shard_size=2)
    files = sorted(p.relative_to(base) for p in base.rglob("*") if p.is_file())

    @settings(CASES, max_examples=max(EXAMPLES * 3 // 4, 1))
    @given(DAMAGE)
    def case(damage):
        d = tmp_path_factory.mktemp("store") / "s"
        shutil.copytree(base, d)
        target = d / files[damage[2] % len(files)]
        target.write_bytes(corrupt(target.read_bytes(), *damage))
        r = CliRunner().invoke(main, ["inspect", str(d)])
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise AssertionError(f"traceback: {type(r.exception).__name__}: {r.exception}") from r.exception
        assert r.exit_code in (0, 1) and (r.exit_code == 0 or str(d) in r.output), r.output
        r = CliRunner().invoke(main, ["fit", "--store", str(d), "--batch-size", "2", "--emb-size", "8",
                                      "--num-layers", "1", "--num-heads", "2", "--hidden-dim", "8", "--max-steps", "1",
                                      "--border-draws", "2", "--val-draws", "0", "--stack-draws", "0", "--no-progress",
                                      "-o", str(d.parent / "m.gpfn")])
        if r.exception is not None and not isinstance(r.exception, SystemExit):
            raise AssertionError(f"traceback: {type(r.exception).__name__}: {r.exception}") from r.exception
        assert r.exit_code in (0, 1) and (r.exit_code == 0 or str(d) in r.output), r.output
        tally("inputs tried: draw store")

    case()
