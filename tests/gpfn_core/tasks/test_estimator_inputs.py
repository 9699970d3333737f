"""GPFNRegressor on the containers Python users hold genotypes in: pandas DataFrames whose
columns are marker ids, and xarray/sgkit Datasets (call_dosage or call_genotype)."""

import shutil
import subprocess
import warnings

import numpy as np
import pytest
from helpers import needs

from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.tasks.estimator import GPFNRegressor, _table

pd = pytest.importorskip("pandas")
xr = pytest.importorskip("xarray")


def _frame(x, rows, cols):
    return pd.DataFrame(x.astype(float), index=[f"t{i}" for i in rows], columns=[f"m{j}" for j in cols])


def test_dataframes_are_matched_by_marker_name(model_path, draw):
    nt, m = 60, draw.x.shape[1]
    x = np.where(draw.x < 0, np.nan, draw.x).astype(float)
    plain = GPFNRegressor(model=str(model_path)).fit(x[:nt], draw.y[:nt]).predict(x[nt:])
    est = GPFNRegressor(model=str(model_path)).fit(_frame(x[:nt], range(nt), range(m)), draw.y[:nt])
    assert list(est.feature_names_in_[:2]) == ["m0", "m1"]
    order = np.random.default_rng(0).permutation(m)  # the target's columns in another order: the same numbers
    shuffled = _frame(x[nt:][:, order], range(nt, draw.n), order)
    np.testing.assert_allclose(est.predict(shuffled), plain, rtol=1e-4, atol=1e-4)
    assert est.alignment_["shared_markers"] == m and est.alignment_["matched_by"] == "marker id"
    # ten markers missing from the targets and one they have alone: dropped, reported, and the
    # prediction is that of the training population on the shared markers
    keep = np.arange(10, m)
    partial = _frame(np.column_stack([x[nt:][:, keep], np.zeros(draw.n - nt)]), range(nt, draw.n),
                     [*keep, "extra"])
    with pytest.warns(UserWarning, match="dropped 10 unmatched train, 1 unmatched target"):
        got = est.predict(partial)
    ref = GPFNRegressor(model=str(model_path)).fit(x[:nt][:, keep], draw.y[:nt]).predict(x[nt:][:, keep])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValidationError, match="duplicate marker column 'm1'"):
        est.fit(pd.DataFrame(x[:nt, :3], columns=["m0", "m1", "m1"]), draw.y[:nt])


def _sgkit(x, first, contigs=("1", "2"), swap=False):
    """An sgkit-style Dataset of ``x`` (individuals x markers, -1 missing): call_genotype
    [variants, samples, 2] with the alleles of each dosage, positions, contigs, alleles, ids."""
    n, m = x.shape
    g = np.zeros((m, n, 2), np.int8)
    d = np.where(x < 0, 0, x).T
    g[..., 0], g[..., 1] = d >= 1, d >= 2
    g[(x < 0).T] = -1
    alleles = np.array([["A", "G"]] * m)
    if swap:  # the same genotypes written against the other allele
        g = np.where(g < 0, g, 1 - g)
        alleles = alleles[:, ::-1]
    return xr.Dataset(
        {"call_genotype": (("variants", "samples", "ploidy"), g),
         "variant_position": ("variants", np.arange(m) * 100 + 100),
         "variant_contig": ("variants", (np.arange(m) >= m // 2).astype(np.int64)),
         "variant_allele": (("variants", "alleles"), alleles.astype(object)),
         "sample_id": ("samples", np.array([f"t{i}" for i in range(first, first + n)], dtype=object))},
        attrs={"contig_id": list(contigs)})


def test_sgkit_datasets_of_genotype_calls_or_dosages(model_path, draw):
    nt = 60
    x = np.where(draw.x < 0, np.nan, draw.x).astype(float)
    plain = GPFNRegressor(model=str(model_path)).fit(x[:nt], draw.y[:nt]).predict(x[nt:])
    est = GPFNRegressor(model=str(model_path)).fit(_sgkit(draw.x[:nt], 0), draw.y[:nt])
    np.testing.assert_allclose(est.predict(_sgkit(draw.x[nt:], nt)), plain, rtol=1e-4, atol=1e-4)
    assert est.alignment_["shared_markers"] == draw.x.shape[1]  # ids from chromosome:position
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing dropped: no warning
        swapped = est.predict(_sgkit(draw.x[nt:], nt, swap=True))
    np.testing.assert_allclose(swapped, plain, rtol=1e-4, atol=1e-4)
    assert est.alignment_["flipped_ref_alt"] == draw.x.shape[1]
    dosage = xr.Dataset({"call_dosage": (("variants", "samples"), x[nt:].T)})
    np.testing.assert_allclose(est.fit(x[:nt], draw.y[:nt]).predict(dosage), plain, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValidationError, match="needs call_genotype .* or call_dosage"):
        est.predict(xr.Dataset({"other": ("v", np.zeros(3))}))
    bare = xr.Dataset({"call_genotype": (("variants", "samples", "ploidy"), np.zeros((5, 3, 2), np.int8))})
    with pytest.raises(GpfnError, match="no array variant_allele, variant_position, variant_contig, contig_id"):
        est.predict(bare)


@needs("bcftools", "vcf2zarr")
def test_a_vcf2zarr_store_opened_by_xarray_reads_as_the_vcz_reader_reads_it(tmp_path):
    from gpfn_plugins.vcz import Vcz

    rng = np.random.default_rng(1)
    n, m = 8, 30
    head = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n"
            "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n"
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(f"s{i}" for i in range(n)) + "\n")
    rows = []
    for j in range(m):
        calls = [f"{a}/{b}" for a, b in rng.integers(0, 2, (n, 2))]
        calls[j % n] = "./."
        alt = "G,T" if j == 4 else "G"  # one multi-allelic site, left out by both
        rows.append(f"1\t{100 * (j + 1)}\tsnp{j}\tA\t{alt}\t.\t.\t.\tGT\t" + "\t".join(calls))
    (tmp_path / "g.vcf").write_text(head + "\n".join(rows) + "\n")
    subprocess.run(["bcftools", "view", "-Oz", "-o", str(tmp_path / "g.vcf.gz"), str(tmp_path / "g.vcf")], check=True)
    subprocess.run(["bcftools", "index", str(tmp_path / "g.vcf.gz")], check=True)
    subprocess.run([shutil.which("vcf2zarr"), "convert", str(tmp_path / "g.vcf.gz"), str(tmp_path / "g.vcz")],
                   check=True, capture_output=True)
    got = _table(xr.open_zarr(tmp_path / "g.vcz", consolidated=False), "X")
    want = Vcz().read(tmp_path / "g.vcz")
    np.testing.assert_array_equal(got.dosage, want.dosage)
    for k in ("taxa", "marker", "chrom", "pos", "ref", "alt"):
        assert list(getattr(got, k)) == list(getattr(want, k)), k
    assert got.info["sites_skipped_multiallelic"] == 1 and got.info["reader"] == "xarray"
