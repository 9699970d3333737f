"""Built-in genotype readers.

``vcf``: VCF/BCF, plain or bgzipped, through pysam (see :class:`Vcf`).

``numeric``: a dosage matrix as CSV/TSV (optionally gzipped), one row per taxon, taxa in
the first column, marker ids in the header, values 0/1/2 (copies of the counted
allele) and NA-like tokens or -1 for missing.  Marker ids of the form ``chr:pos`` or
``chr_pos`` give chromosome and position; alleles are unknown (empty).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gpfn_core import GenotypeReader, GenotypeTable, hookimpl
from gpfn_core.errors import GpfnError
from gpfn_core.textio import MISSING_TOKENS, delimiter_of, lines, split

_POSITION_ID = re.compile(r"^(?:chr)?([A-Za-z0-9]+)[:_](\d+)$")


class NumericMatrix(GenotypeReader):
    """Dosage matrix CSV/TSV: taxa in rows, markers in columns, 0/1/2."""

    name = "numeric"
    description = "dosage matrix CSV/TSV (taxa x markers, 0/1/2, NA missing)"
    extensions = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")

    def can_read(self, path: Path) -> bool:
        return any(str(path).lower().endswith(e) for e in self.extensions)

    def read(self, path: Path) -> GenotypeTable:
        path = Path(path)
        it = lines(path)
        try:
            header_no, header = next(it)
        except StopIteration:
            raise GpfnError(f"{path}: empty file") from None
        sep = delimiter_of(header)
        head = split(header, sep)
        markers = np.array(head[1:])
        if markers.size == 0:
            raise GpfnError(f"{path}:{header_no}: header has no marker columns")
        uniq, counts = np.unique(markers, return_counts=True)
        if (counts > 1).any():
            raise GpfnError(f"{path}:{header_no}: duplicate marker id(s) {', '.join(uniq[counts > 1][:5])}")
        lookup = {"0": 0, "1": 1, "2": 2, "-1": -1, **{t: -1 for t in MISSING_TOKENS}}
        taxa, rows, seen = [], [], {}
        for no, line in it:
            cells = split(line, sep)
            if len(cells) != len(head):
                raise GpfnError(f"{path}:{no}: expected {len(head)} fields as in the header, got {len(cells)}")
            taxon = cells[0]
            if taxon in seen:
                raise GpfnError(f"{path}:{no}: duplicate taxon '{taxon}' (first on line {seen[taxon]})")
            seen[taxon] = no
            values = np.array(cells[1:])
            codes = np.full(values.size, -2, np.int8)
            for token in np.unique(values):  # a handful of distinct tokens per row
                code = lookup.get(token.lower(), -2)
                if code == -2:
                    j = int(np.flatnonzero(values == token)[0])
                    raise GpfnError(f"{path}:{no}: marker '{markers[j]}' (column {j + 2}): unknown genotype "
                                    f"{str(token)!r}; expected 0, 1, 2 or a missing value (NA)")
                codes[values == token] = code
            taxa.append(taxon)
            rows.append(codes)
        if not taxa:
            raise GpfnError(f"{path}: header only, no genotype rows")
        chrom, pos = [], []
        for mk in markers:
            m = _POSITION_ID.match(mk)
            chrom.append(m.group(1) if m else "")
            pos.append(int(m.group(2)) if m else 0)
        empty = np.full(markers.size, "", dtype=object)
        return GenotypeTable(np.array(taxa), markers, np.array(chrom), np.array(pos, np.int64), empty.copy(), empty.copy(),
                             np.stack(rows), source=str(path), info={"reader": self.name})




_ZERO, _ONE, _DOT, _SLASH, _PIPE = (ord(c) for c in "01./|")


def _dosage_from_samples(tail: bytes, n_samples: int) -> np.ndarray | None:
    """Dosages of one biallelic VCF line's sample columns (GT first, as the spec requires).

    Vectorised over samples: each sample field starts after a tab; its GT is one
    character (haploid or '.') or three ('a/b', 'a|b').  Haploid calls count as
    homozygous.  Returns None when the column count is wrong.
    """
    b = np.frombuffer(tail, dtype=np.uint8)
    starts = np.concatenate([[0], np.flatnonzero(b == 9) + 1])
    if starts.size != n_samples:
        return None
    last = b.size - 1
    a1 = b[starts]
    sep = b[np.minimum(starts + 1, last)]
    a2 = b[np.minimum(starts + 2, last)]
    diploid = ((sep == _SLASH) | (sep == _PIPE)) & (starts + 2 <= last)
    a2 = np.where(diploid, a2, a1)
    missing = (a1 == _DOT) | (a2 == _DOT)
    dos = (a1 == _ONE).astype(np.int8) + (a2 == _ONE).astype(np.int8)
    return np.where(missing, np.int8(-1), dos).astype(np.int8)


class Vcf(GenotypeReader):
    """VCF or BCF, plain or bgzipped, through pysam: GT only, biallelic sites."""

    name = "vcf"
    description = "VCF/BCF (plain or bgzipped) via pysam: GT field, multi-allelic sites skipped and counted"
    extensions = (".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")

    def can_read(self, path: Path) -> bool:
        return any(str(path).lower().endswith(e) for e in self.extensions)

    def read(self, path: Path) -> GenotypeTable:
        import pysam

        path = Path(path)
        if not path.is_file():
            raise GpfnError(f"{path}: no such file")
        quiet = pysam.set_verbosity(0)  # htslib would complain on stderr that an index is missing: none is needed
        try:
            vf = pysam.VariantFile(str(path))
        except (OSError, ValueError) as exc:
            raise GpfnError(f"{path}: not a readable VCF/BCF file ({exc})") from None
        finally:
            pysam.set_verbosity(quiet)
        with vf:
            samples = list(vf.header.samples)
            if not samples:
                raise GpfnError(f"{path}: the VCF header names no samples")
            if len(set(samples)) != len(samples):
                dup = sorted({s for s in samples if samples.count(s) > 1})
                raise GpfnError(f"{path}: duplicate sample name(s) in the header: {', '.join(dup[:5])}")
            if "GT" not in vf.header.formats:
                raise GpfnError(f"{path}: no GT FORMAT field in the header; gpfn needs called genotypes (GT)")
            rows, ids, chrom, pos, ref, alt = [], [], [], [], [], []
            skipped = {"multiallelic": 0, "monomorphic_no_alt": 0, "no_gt": 0}
            seen: dict[str, int] = {}
            n = len(samples)
            try:
                for k, rec in enumerate(vf, start=1):
                    alts = rec.alts
                    if not alts:
                        skipped["monomorphic_no_alt"] += 1
                        continue
                    if len(alts) != 1:
                        skipped["multiallelic"] += 1
                        continue
                    if not rec.format.keys() or rec.format.keys()[0] != "GT":
                        skipped["no_gt"] += 1
                        continue
                    line = str(rec).rstrip("\n").encode()
                    cut = 0
                    for _ in range(9):
                        cut = line.index(b"\t", cut) + 1
                    dos = _dosage_from_samples(line[cut:], n)
                    if dos is None:
                        raise GpfnError(f"{path}: record {k} ({rec.chrom}:{rec.pos}): expected {n} sample columns")
                    mid = rec.id if rec.id else f"{rec.chrom}:{rec.pos}"
                    if mid in seen:
                        raise GpfnError(f"{path}: record {k}: duplicate marker id '{mid}' (first at record {seen[mid]})")
                    seen[mid] = k
                    rows.append(dos)
                    ids.append(mid)
                    chrom.append(rec.chrom)
                    pos.append(rec.pos)
                    ref.append(rec.ref)
                    alt.append(alts[0])
            except (OSError, ValueError) as exc:
                raise GpfnError(f"{path}: truncated or damaged after {len(rows)} sites ({exc})") from None
        if not rows:
            raise GpfnError(f"{path}: no biallelic sites with genotypes (skipped: {skipped})")
        dosage = np.ascontiguousarray(np.stack(rows, axis=1))
        return GenotypeTable(np.array(samples), np.array(ids), np.array(chrom), np.array(pos, np.int64), np.array(ref),
                             np.array(alt), dosage, source=str(path),
                             info={"reader": self.name, **{f"sites_skipped_{k}": v for k, v in skipped.items()}})


@hookimpl
def gpfn_genotype_readers():
    return [NumericMatrix, Vcf]
