import gzip

import numpy as np
import pysam
import pytest
from helpers import needs
from hypothesis import given, settings
from hypothesis import strategies as st

from gpfn_core import GpfnError
from gpfn_plugins.readers import NumericMatrix, Vcf

HEADER = ("##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n"
          '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
          '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
          "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\n")
BODY = ("1\t10\tm1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\n"
        "1\t20\t.\tC\tT\t.\t.\t.\tGT:DP\t0|1:5\t./.:0\t1|1:3\n"
        "1\t30\tm3\tG\tA,T\t.\t.\t.\tGT\t0/0\t1/2\t0/1\n"
        "1\t40\tm4\tT\tC\t.\t.\t.\tGT\t1\t0\t.\n")
EXPECTED = np.array([[0, 1, 2], [1, -1, 2], [2, 0, -1]]).T


def formats(tmp_path, text):
    """The same data as plain VCF, bgzipped VCF and BCF."""
    vcf = tmp_path / "g.vcf"
    vcf.write_text(text)
    gz = tmp_path / "g.vcf.gz"
    pysam.tabix_compress(str(vcf), str(gz), force=True)
    bcf = tmp_path / "g.bcf"
    with pysam.VariantFile(str(vcf)) as vin, pysam.VariantFile(str(bcf), "wb", header=vin.header) as vout:
        for rec in vin:
            vout.write(rec)
    return [vcf, gz, bcf]


def test_vcf_bgzip_and_bcf_agree(tmp_path):
    for path in formats(tmp_path, HEADER + BODY):
        t = Vcf().read(path)
        np.testing.assert_array_equal(t.dosage, EXPECTED)
        assert list(t.marker) == ["m1", "1:20", "m4"] and list(t.alt) == ["G", "T", "C"]
        assert t.info["sites_skipped_multiallelic"] == 1 and list(t.taxa) == ["s1", "s2", "s3"]


def test_vcf_and_numeric_readers_agree(tmp_path):
    csv = tmp_path / "g.csv"
    csv.write_text("taxon,m1,1:20,m4\ns1,0,1,2\ns2,1,NA,0\ns3,2,2,NA\n")
    np.testing.assert_array_equal(NumericMatrix().read(csv).dosage, Vcf().read(formats(tmp_path, HEADER + BODY)[1]).dosage)


@pytest.mark.parametrize("header,body,match", [
    (HEADER.replace('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n', ""),
     BODY.replace("GT:DP", "DP").replace("\tGT\t", "\tDP\t").replace("0/0", "3").replace("0/1", "4").replace("1/1", "5")
     .replace("0|1:5", "5").replace("./.:0", "0").replace("1|1:3", "3").replace("1/2", "2")
     .replace("\t1\t0\t.", "\t1\t1\t1"), "no GT FORMAT field"),
    (HEADER.replace("s2\ts3", "s1\ts3"), BODY, "not a readable VCF/BCF file: its header is incomplete"),  # htslib refuses it
    (HEADER, "1\t10\tm1\tA\tG\t.\t.\t.\tGT\t0/0\t0/1\t1/1\n1\t20\tm1\tC\tT\t.\t.\t.\tGT\t0/0\t0/1\t1/1\n",
     "record 2: duplicate marker id 'm1'"),
    (HEADER, "1\t30\tm3\tG\tA,T\t.\t.\t.\tGT\t0/0\t1/2\t0/1\n", "no biallelic sites"),
])
def test_vcf_bad_input(tmp_path, header, body, match):
    p = tmp_path / "bad.vcf"
    p.write_text(header + body)
    with pytest.raises(GpfnError, match=match):
        Vcf().read(p)


def test_vcf_garbage_and_truncated(tmp_path):
    junk = tmp_path / "junk.vcf"
    junk.write_bytes(b"\x00\x01 this is not a vcf")
    with pytest.raises(GpfnError, match="junk.vcf"):
        Vcf().read(junk)
    gz = formats(tmp_path, HEADER + BODY * 1)[1]
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(gz.read_bytes()[:-40])
    with pytest.raises(GpfnError, match="cut.vcf.gz"):
        Vcf().read(cut)


@given(st.lists(st.lists(st.sampled_from(["0/0", "0/1", "1/0", "1/1", "0|1", "1|1", "./.", ".", "0", "1"]),
                         min_size=3, max_size=3), min_size=1, max_size=8))
def test_vcf_fuzz_genotypes(tmp_path_factory, rows):
    p = tmp_path_factory.mktemp("v") / "f.vcf"
    p.write_text(HEADER + "".join(f"1\t{i + 1}\tm{i}\tA\tG\t.\t.\t.\tGT\t" + "\t".join(r) + "\n"
                                  for i, r in enumerate(rows)))

    def dose(gt):
        alleles = gt.replace("|", "/").split("/")
        if "." in alleles:
            return -1
        return sum(int(a) for a in alleles) * (2 if len(alleles) == 1 else 1)

    np.testing.assert_array_equal(Vcf().read(p).dosage, np.array([[dose(g) for g in r] for r in rows]).T)


def test_gzipped_numeric(tmp_path):
    p = tmp_path / "g.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write("taxon\ta\tb\nx\t0\t2\n")
    np.testing.assert_array_equal(NumericMatrix().read(p).dosage, [[0, 2]])


HMP_HEAD = "rs#\talleles\tchrom\tpos\tstrand\tassembly#\tcenter\tprotLSID\tassayLSID\tpanelLSID\tQCcode\ts1\ts2\ts3\n"
FIX = "+\tNA\tNA\tNA\tNA\tNA\tNA"


def hapmap(tmp_path, body, name="g.hmp.txt"):
    p = tmp_path / name
    p.write_text(HMP_HEAD + body)
    return p


def test_hapmap_one_and_two_letter_codes_agree_with_vcf(tmp_path):
    from gpfn_plugins.readers import HapMap

    one = hapmap(tmp_path, f"m1\tA/G\t1\t10\t{FIX}\tA\tR\tG\nx2\tC/T\t1\t20\t{FIX}\tY\tN\tT\n"
                           f"m3\tG/A/T\t1\t30\t{FIX}\tG\tA\tT\nm4\tT/C\t1\t40\t{FIX}\tC\tT\tN\n", "one.hmp.txt")
    two = hapmap(tmp_path, f"m1\tA/G\t1\t10\t{FIX}\tAA\tAG\tGG\nx2\tC/T\t1\t20\t{FIX}\tCT\tNN\tTT\n"
                           f"m4\tT/C\t1\t40\t{FIX}\tCC\tTT\t--\n", "two.hmp.txt")
    a, b = HapMap().read(one), HapMap().read(two)
    np.testing.assert_array_equal(a.dosage, EXPECTED)
    np.testing.assert_array_equal(b.dosage, EXPECTED)
    assert a.info["sites_skipped_multiallelic"] == 1 and list(a.alt) == ["G", "T", "C"]
    np.testing.assert_array_equal(a.dosage, Vcf().read(formats(tmp_path, HEADER + BODY)[0]).dosage)


@pytest.mark.parametrize("body,match", [
    (f"m1\tA/G\t1\t10\t{FIX}\tA\tC\tG\n", r":2: taxon 's2' \(column 13\): genotype 'C' does not fit the alleles A/G"),
    (f"m1\tAG\t1\t10\t{FIX}\tA\tA\tG\n", "field 'alleles' must look like A/G"),
    (f"m1\tA/G\t1\tten\t{FIX}\tA\tA\tG\n", "field 'pos' must be an integer"),
    (f"m1\tA/G\t1\t10\t{FIX}\tA\tA\n", r":2: expected 14 fields"),
    (f"m1\tA/G\t1\t10\t{FIX}\tA\tA\tG\nm1\tA/G\t1\t11\t{FIX}\tA\tA\tG\n", "duplicate marker id 'm1'"),
])
def test_hapmap_bad_input(tmp_path, body, match):
    from gpfn_plugins.readers import HapMap

    with pytest.raises(GpfnError, match=match):
        HapMap().read(hapmap(tmp_path, body))


@given(st.lists(st.lists(st.sampled_from(["A", "G", "R", "N", "AA", "AG", "GA", "GG", "NN", "--"]),
                         min_size=3, max_size=3), min_size=1, max_size=6))
def test_hapmap_fuzz(tmp_path_factory, rows):
    from gpfn_plugins.readers import HapMap

    p = hapmap(tmp_path_factory.mktemp("h"), "".join(f"m{i}\tA/G\t1\t{i}\t{FIX}\t" + "\t".join(r) + "\n"
                                                      for i, r in enumerate(rows)))
    pair = {"A": "AA", "G": "GG", "R": "AG"}
    dose = lambda c: -1 if c in ("N", "NN", "--") else pair.get(c, c).count("G")  # noqa: E731
    np.testing.assert_array_equal(HapMap().read(p).dosage, np.array([[dose(c) for c in r] for r in rows]).T)


def test_reader_choice_by_content(tmp_path):
    from gpfn_core.tasks.parse import choose_reader

    p = hapmap(tmp_path, f"m1\tA/G\t1\t10\t{FIX}\tA\tR\tG\n", name="plain.txt")
    assert choose_reader(p, None).name == "hapmap"


needs_tools = needs("bcftools", "plink1.9")


@needs_tools
def test_files_written_by_bcftools_and_plink_agree_with_every_reader(tmp_path):
    """The same genotypes as VCF, BCF (bcftools), .bed (plink1.9), HapMap and a numeric matrix."""
    import subprocess

    from gpfn_plugins.readers import HapMap, Plink

    rng = np.random.default_rng(3)
    n, m = 12, 40
    g = rng.integers(0, 2, (m, n, 2))
    g[rng.random((m, n)) < 0.05] = -1  # missing calls
    gt = lambda a, b: "./." if a < 0 else f"{a}/{b}"  # noqa: E731
    samples = [f"s{i}" for i in range(n)]
    vcf = tmp_path / "g.vcf"
    vcf.write_text(HEADER.replace("s1\ts2\ts3", "\t".join(samples)) + "".join(
        f"1\t{(j + 1) * 100}\tm{j}\tA\tG\t.\t.\t.\tGT\t" + "\t".join(gt(*g[j, i]) for i in range(n)) + "\n"
        for j in range(m)))
    expected = np.where(g[..., 0] < 0, -1, g.sum(2)).T
    subprocess.run(["bcftools", "view", "-Ob", "-o", str(tmp_path / "g.bcf"), str(vcf)], check=True)
    subprocess.run(["bcftools", "view", "-Oz", "-o", str(tmp_path / "g.vcf.gz"), str(vcf)], check=True)
    subprocess.run(["plink1.9", "--vcf", str(vcf), "--make-bed", "--keep-allele-order", "--allow-extra-chr",
                    "--out", str(tmp_path / "g")], check=True, capture_output=True)
    code = {-1: "NN", 0: "AA", 1: "AG", 2: "GG"}
    hmp = tmp_path / "g.hmp.txt"
    hmp.write_text(HMP_HEAD.replace("s1\ts2\ts3", "\t".join(samples)) + "".join(
        f"m{j}\tA/G\t1\t{(j + 1) * 100}\t{FIX}\t" + "\t".join(code[int(v)] for v in expected[:, j]) + "\n"
        for j in range(m)))
    num = tmp_path / "g.csv"
    num.write_text("taxon," + ",".join(f"m{j}" for j in range(m)) + "\n" + "".join(
        f"s{i}," + ",".join("NA" if v < 0 else str(v) for v in expected[i]) + "\n" for i in range(n)))
    tables = [Vcf().read(vcf), Vcf().read(tmp_path / "g.bcf"), Vcf().read(tmp_path / "g.vcf.gz"),
              Plink().read(tmp_path / "g.bed"), HapMap().read(hmp), NumericMatrix().read(num)]
    for t in tables:
        np.testing.assert_array_equal(t.dosage, expected)
        assert list(t.taxa) == samples and list(t.marker) == [f"m{j}" for j in range(m)]
    for t in tables[:5]:
        assert set(t.alt) == {"G"} and set(t.ref) == {"A"}


def test_plink_bad_input(tmp_path):
    from gpfn_plugins.readers import Plink

    bed = tmp_path / "x.bed"
    bed.write_bytes(b"\x6c\x1b\x01\x00")
    with pytest.raises(GpfnError, match="x.bim beside it"):
        Plink().read(bed)
    (tmp_path / "x.bim").write_text("1\tm1\t0\t1\tA\tG\n")
    (tmp_path / "x.fam").write_text("f i1 0 0 0 -9\n")
    bed.write_bytes(b"garbage")
    with pytest.raises(GpfnError, match="not a SNP-major PLINK"):
        Plink().read(bed)


@given(st.integers(1, 7), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_plink_fuzz_round_trip_with_alleles_from_the_bim(tmp_path_factory, n, m, seed):
    """bed-reader's writer, with each marker's alleles named: the reader counts allele 1 of the
    .bim as its ``alt``, whatever order the file lists them in."""
    from bed_reader import to_bed

    from gpfn_plugins.readers import Plink

    rng = np.random.default_rng(seed)
    d = rng.integers(-1, 3, (n, m)).astype(np.int8)
    a1 = rng.choice(list("ACGT"), m)
    a2 = np.array([next(b for b in "ACGT" if b != a) for a in a1])
    path = tmp_path_factory.mktemp("p") / "f.bed"
    to_bed(path, np.where(d < 0, np.nan, d).astype(np.float32),
           properties={"iid": [f"i{i}" for i in range(n)], "sid": [f"m{j}" for j in range(m)], "allele_1": a1,
                       "allele_2": a2})
    bim = [line.split() for line in path.with_suffix(".bim").read_text().splitlines()]
    assert [b[4] for b in bim] == list(a1)  # the file itself names allele 1 as written
    t = Plink().read(path)
    np.testing.assert_array_equal(t.dosage, d)
    assert list(t.alt) == list(a1) and list(t.ref) == list(a2)
    assert list(t.taxa) == [f"i{i}" for i in range(n)]


@needs_tools
@settings(max_examples=10, deadline=None)
@given(st.integers(2, 8), st.integers(2, 12), st.integers(0, 2**32 - 1))
def test_plink_reads_what_plink_writes_counting_allele_1(tmp_path_factory, n, m, seed):
    """A VCF made into a .bed by plink1.9 *without* --keep-allele-order: plink then names the
    minor allele A1, so a reader that ignored the .bim would count the wrong allele."""
    import subprocess

    from gpfn_plugins.readers import Plink

    rng = np.random.default_rng(seed)
    g = rng.integers(0, 2, (m, n, 2))
    samples = [f"s{i}" for i in range(n)]
    vcf = tmp_path_factory.mktemp("v") / "g.vcf"
    vcf.write_text(HEADER.replace("s1\ts2\ts3", "\t".join(samples)) + "".join(
        f"1\t{(j + 1) * 100}\tm{j}\tA\tG\t.\t.\t.\tGT\t" + "\t".join(f"{a}/{b}" for a, b in g[j]) + "\n"
        for j in range(m)))
    out = vcf.with_suffix("")
    subprocess.run(["plink1.9", "--vcf", str(vcf), "--make-bed", "--allow-extra-chr", "--out", str(out)],
                   check=True, capture_output=True)
    t = Plink().read(out.with_suffix(".bed"))
    alt_count = g.sum(2).T  # copies of G (the VCF's ALT) per sample and marker
    for j, (a1, a2) in enumerate(zip(t.alt, t.ref)):
        if "0" in (a1, a2):  # a monomorphic marker: plink names one allele only
            continue
        assert {a1, a2} == {"A", "G"}
        np.testing.assert_array_equal(t.dosage[:, j], alt_count[:, j] if a1 == "G" else 2 - alt_count[:, j])

def test_a_vcf_cut_inside_its_header_is_named_without_python_reprs(tmp_path):
    whole = HEADER + "1\t100\tm1\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\t0/0\n"
    cut = tmp_path / "cut.vcf"
    cut.write_text(whole[:40])
    with pytest.raises(GpfnError) as e:
        Vcf().read(cut)
    assert str(e.value).startswith(f"{cut}: not a readable VCF/BCF file") and "b'" not in str(e.value)
