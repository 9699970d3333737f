"""Parsing speed and memory: gpfn's readers against a pandas per-taxon parser (the original GPFN's way).

Writes a bgzipped VCF and a HapMap file of N samples x M markers (default 1,000 x
100,000), converts the VCF to VCF Zarr (``vcf2zarr``, from ``pip install gpfn[vcz]``) and
to PLINK 2 .pgen (``plink2``, or pgenlib's writer where plink2 is not installed), then
parses each in a fresh process and reports seconds and peak memory (max RSS above the
process's start) as a multiple of the int8 dosage matrix.  Speed-ups are against the
pandas parser for VCF and HapMap, and against gpfn's own VCF reader for VCZ and pgen.

    python benchmarks/bench_parse.py [--samples 1000] [--markers 100000] [--keep DIR] [--record]
(the pandas baseline needs `pip install gpfn[bench]`)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
kind, path = sys.argv[1], sys.argv[2]
import numpy as np
if kind == "gpfn-vcf":
    from gpfn_plugins.readers import Vcf as R
elif kind == "gpfn-hapmap":
    from gpfn_plugins.readers import HapMap as R
elif kind == "gpfn-vcz":
    from gpfn_plugins.vcz import Vcz as R
elif kind == "gpfn-pgen":
    from gpfn_plugins.pgen import Pgen as R
else:
    import pandas as pd
def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024
start = rss_kib()  # resident now (imports done); the peak below is measured from here
t0 = time.perf_counter()
if kind.startswith("gpfn"):
    d = R().read(path).dosage
elif kind == "pandas-vcf":
    import gzip
    with gzip.open(path, "rt") as f:
        meta = sum(1 for line in f if line.startswith("##"))
    df = pd.read_csv(path, sep="\t", skiprows=meta, compression="gzip", low_memory=False)
    cols = []
    for c in df.columns[9:]:  # per taxon, as the original did
        gt = df[c].astype(str).str.slice(0, 3)
        cols.append(gt.map({"0|0": 0, "0|1": 1, "1|0": 1, "1|1": 2, "0/0": 0, "0/1": 1, "1/1": 2}).fillna(-1).to_numpy())
    d = np.stack(cols).astype(np.int8)
else:
    df = pd.read_csv(path, sep="\t", low_memory=False)
    alleles = df["alleles"].str.split("/", expand=True)
    cols = []
    for c in df.columns[11:]:  # per taxon
        calls = df[c]
        dose = (calls.str[0] == alleles[1]).astype(int) + (calls.str[1] == alleles[1]).astype(int)
        cols.append(np.where(calls == "NN", -1, dose))
    d = np.stack(cols).astype(np.int8)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start
print(json.dumps({"seconds": seconds, "peak_kib": peak, "shape": list(d.shape)}))
"""


def write_files(folder: Path, n: int, m: int) -> tuple[Path, Path]:
    import pysam

    rng = np.random.default_rng(0)
    vcf, hmp = folder / "bench.vcf", folder / "bench.hmp.txt"
    samples = [f"s{i}" for i in range(n)]
    fixed = "+\tNA\tNA\tNA\tNA\tNA\tNA"
    gt_text = np.array(["0|0", "0|1", "1|0", "1|1"])
    hmp_text = np.array(["AA", "AG", "AG", "GG"])
    with open(vcf, "w") as fv, open(hmp, "w") as fh:
        fv.write('##fileformat=VCFv4.2\n##contig=<ID=1,length=1000000000>\n'
                 '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
                 "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n")
        fh.write("rs#\talleles\tchrom\tpos\tstrand\tassembly#\tcenter\tprotLSID\tassayLSID\tpanelLSID\tQCcode\t"
                 + "\t".join(samples) + "\n")
        for start in range(0, m, 5000):
            k = min(5000, m - start)
            codes = rng.integers(0, 4, (k, n))
            vrows, hrows = gt_text[codes], hmp_text[codes]
            for j in range(k):
                pos = start + j + 1
                fv.write(f"1\t{pos}\tm{pos}\tA\tG\t.\t.\t.\tGT\t" + "\t".join(vrows[j]) + "\n")
                fh.write(f"m{pos}\tA/G\t1\t{pos}\t{fixed}\t" + "\t".join(hrows[j]) + "\n")
    pysam.tabix_compress(str(vcf), str(vcf) + ".gz", force=True)
    vcf.unlink()
    return Path(str(vcf) + ".gz"), hmp


def convert(vcf: Path, folder: Path) -> dict[str, Path | str]:
    """The VCF as VCF Zarr and as .pgen, with the tools users convert with; a format whose tool
    is missing maps to the reason."""
    import shutil

    out: dict[str, Path | str] = {}
    vcz = folder / "bench.vcz"
    tool = shutil.which("vcf2zarr")
    if tool:
        r = subprocess.run([tool, "convert", "--force", str(vcf), str(vcz)], capture_output=True, text=True)
        out["VCZ"] = vcz if r.returncode == 0 else f"vcf2zarr failed: {r.stderr.strip()[-80:]}"
    else:
        out["VCZ"] = "vcf2zarr not installed (pip install gpfn[vcz])"
    stem = folder / "bench"
    plink2 = shutil.which("plink2")
    if plink2:
        r = subprocess.run([plink2, "--vcf", str(vcf), "--make-pgen", "--out", str(stem)], capture_output=True,
                           text=True)
        out["pgen"] = Path(f"{stem}.pgen") if r.returncode == 0 else f"plink2 failed: {r.stdout.strip()[-80:]}"
    else:
        out["pgen"] = "plink2 not installed"
    return out


def run(kind: str, path: Path) -> dict:
    r = subprocess.run([sys.executable, "-c", CHILD, kind, str(path)], capture_output=True, text=True)
    if r.returncode:
        return {"error": r.stderr.strip().splitlines()[-1] if r.stderr else f"exit {r.returncode}"}
    return json.loads(r.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--markers", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    ap.add_argument("--record", action="store_true", help="write the results to benchmarks/results/")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        vcf, hmp = write_files(folder, args.samples, args.markers)
        print(f"# {args.samples} samples x {args.markers} markers; files written in {time.perf_counter() - t0:.0f} s "
              f"(VCF.gz {vcf.stat().st_size / 2**20:.0f} MiB, HapMap {hmp.stat().st_size / 2**20:.0f} MiB)")
        converted = convert(vcf, folder)
        matrix_kib = args.samples * args.markers / 1024
        rows, results = [], {}

        def add(fmt, name, r, base):
            results[f"{fmt}/{name}"] = r
            if "error" in r:
                rows.append((fmt, name, "-", "-", "-", r["error"][:60]))
                return
            ratio = base["seconds"] / r["seconds"] if "seconds" in base else float("nan")
            rows.append((fmt, name, f"{r['seconds']:.1f}", f"{r['peak_kib'] / matrix_kib:.2f}x", f"{ratio:.1f}", ""))

        vcf_ours = None
        for fmt, path in (("VCF.gz", vcf), ("HapMap", hmp)):
            base = run(f"pandas-{'vcf' if fmt == 'VCF.gz' else 'hapmap'}", path)
            ours = run(f"gpfn-{'vcf' if fmt == 'VCF.gz' else 'hapmap'}", path)
            vcf_ours = ours if fmt == "VCF.gz" else vcf_ours
            add(fmt, "pandas per-taxon (baseline)", base, base)
            add(fmt, "gpfn", ours, base)
        for fmt, path in converted.items():  # against gpfn's VCF reader on the same genotypes
            r = run(f"gpfn-{fmt.lower()}", path) if isinstance(path, Path) else {"error": path}
            add(fmt, "gpfn (vs gpfn VCF.gz)", r, vcf_ours)
        print(f"{'file':7}  {'parser':28}  {'seconds':>8}  {'peak mem / dosage':>17}  {'speed-up':>8}")
        for r in rows:
            print(f"{r[0]:7}  {r[1]:28}  {r[2]:>8}  {r[3]:>17}  {r[4]:>8}  {r[5]}")
        if args.record:
            from records import write

            print(f"recorded: {write('parse', results, data={'samples': args.samples, 'markers': args.markers})}")

if __name__ == "__main__":
    main()
