"""Built-in genotype readers.

``vcf``: VCF/BCF, plain or bgzipped, through pysam (see :class:`Vcf`).
``hapmap``: HapMap text with one- or two-character calls (see :class:`HapMap`).
``plink``: PLINK 1 .bed/.bim/.fam through bed-reader (see :class:`Plink`).

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
from gpfn_core.data.textio import MISSING_TOKENS, check_unique, lines, open_table, progress, split

_POSITION_ID = re.compile(r"^(?:chr)?([A-Za-z0-9]+)[:_](\d+)$")


class NumericMatrix(GenotypeReader):
    """Dosage matrix CSV/TSV: taxa in rows, markers in columns, 0/1/2."""

    name = "numeric"
    description = "dosage matrix CSV/TSV (taxa x markers, 0/1/2, NA missing)"
    extensions = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz", ".txt.gz")

    def can_read(self, path: Path) -> bool:
        if not any(str(path).lower().endswith(e) for e in self.extensions):
            return False
        try:  # a HapMap file saved as .txt is not a dosage matrix
            first = next(lines(path), (0, ""))[1]
        except GpfnError:
            return True  # let read() report what is wrong with it
        return not first.lower().startswith(("rs#", "rs\t"))

    def read(self, path: Path) -> GenotypeTable:
        path = Path(path)
        it, header_no, head, sep = open_table(path)
        markers = np.array(head[1:])
        if markers.size == 0:
            raise GpfnError(f"{path}:{header_no}: header has no marker columns")
        check_unique(markers, "marker id", f"{path}:{header_no}")
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


def _plain_message(exc: Exception) -> str:
    """htslib's message without Python's bytes reprs (``b'name'`` -> ``name``)."""
    return re.sub(r"\bb'([^']*)'", r"\1", str(exc)) or type(exc).__name__


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
        quiet = pysam.set_verbosity(0)  # htslib's own complaints (a missing index, damaged blocks) stay off stderr
        try:
            try:
                vf = pysam.VariantFile(str(path))
            except (OSError, ValueError) as exc:
                why = "its header is incomplete or damaged" if "valid header" in str(exc) else _plain_message(exc)
                raise GpfnError(f"{path}: not a readable VCF/BCF file: {why}") from None
            try:
                samples, rows, ids, chrom, pos, ref, alt, skipped = self._records(vf, path)
            finally:
                try:
                    vf.close()
                except OSError:  # htslib reports a damaged file again on closing it: the read's error is the one
                    pass
        finally:
            pysam.set_verbosity(quiet)
        if not rows:
            raise GpfnError(f"{path}: no biallelic sites with genotypes (skipped: {skipped})")
        dosage = np.ascontiguousarray(np.stack(rows, axis=1))
        return GenotypeTable(np.array(samples), np.array(ids), np.array(chrom), np.array(pos, np.int64), np.array(ref),
                             np.array(alt), dosage, source=str(path),
                             info={"reader": self.name, **{f"sites_skipped_{k}": v for k, v in skipped.items()}})

    @staticmethod
    def _records(vf, path: Path):
        """Samples and the biallelic GT records of an open VariantFile, checked."""
        try:
            samples = list(vf.header.samples)
        except (OSError, ValueError) as exc:
            raise GpfnError(f"{path}: damaged header ({_plain_message(exc)})") from None
        if not samples:
            raise GpfnError(f"{path}: the VCF header names no samples")
        check_unique(samples, "sample name", f"{path}: header")
        if "GT" not in vf.header.formats:
            raise GpfnError(f"{path}: no GT FORMAT field in the header; gpfn needs called genotypes (GT)")
        rows, ids, chrom, pos, ref, alt = [], [], [], [], [], []
        skipped = {"multiallelic": 0, "monomorphic_no_alt": 0, "no_gt": 0}
        seen: dict[str, int] = {}
        n = len(samples)
        try:
            for k, rec in progress(enumerate(vf, start=1), path, "sites"):
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
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise GpfnError(f"{path}: truncated or damaged after {len(rows)} sites ({_plain_message(exc)})") from None
        return samples, rows, ids, chrom, pos, ref, alt, skipped


_IUPAC = {"A": "AA", "C": "CC", "G": "GG", "T": "TT", "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC"}
_HAPMAP_MISSING = frozenset({"N", "NN", "-", "--", "0", "00", "?", "??", ".", ".."})
_HAPMAP_FIXED = ("rs#", "alleles", "chrom", "pos", "strand", "assembly#", "center", "protLSID", "assayLSID",
                 "panelLSID", "QCcode")


class HapMap(GenotypeReader):
    """HapMap (TASSEL) text: 11 marker columns, then one column per taxon.

    Calls may be one-character IUPAC codes (A, C, G, T, R, Y, S, W, K, M; N missing)
    or two-character genotypes (AA, AG, GG; NN or -- missing), mixed freely.  The
    ``alleles`` column (``ref/alt``) decides which allele is counted: the dosage is the
    number of copies of its second allele.  Sites with more than two alleles are
    skipped and counted.
    """

    name = "hapmap"
    description = "HapMap text (IUPAC one-letter or two-letter calls), alleles column decides the counted allele"
    extensions = (".hmp.txt", ".hmp", ".hapmap", ".hmp.txt.gz", ".hmp.gz")

    def can_read(self, path: Path) -> bool:
        if any(str(path).lower().endswith(e) for e in self.extensions):
            return True
        try:  # any other name: recognise the header
            first = next(lines(path), (0, ""))[1].lower()
        except GpfnError:
            return False
        return first.startswith(("rs#", "rs\t")) and "alleles" in first[:20]

    def read(self, path: Path) -> GenotypeTable:
        path = Path(path)
        it, header_no, head, sep = open_table(path)
        if len(head) <= 11 or head[0].lower() not in ("rs#", "rs", "marker") or head[1].lower() != "alleles":
            raise GpfnError(f"{path}:{header_no}: not a HapMap header (expected {' '.join(_HAPMAP_FIXED)} then taxa)")
        taxa = np.array(head[11:])
        check_unique(taxa, "taxon name", f"{path}:{header_no}")
        rows, ids, chrom, pos, ref, alt = [], [], [], [], [], []
        seen: dict[str, int] = {}
        multi = 0
        for no, line in it:
            cells = split(line, sep)
            if len(cells) != len(head):
                raise GpfnError(f"{path}:{no}: expected {len(head)} fields as in the header, got {len(cells)}")
            alleles = cells[1].upper().split("/")
            if len(alleles) != 2 or any(len(a) != 1 or a not in "ACGT" for a in alleles):
                if len(alleles) > 2:
                    multi += 1
                    continue
                raise GpfnError(f"{path}:{no}: field 'alleles' must look like A/G, got {cells[1]!r}")
            a_ref, a_alt = alleles
            if cells[0] in seen:
                raise GpfnError(f"{path}:{no}: duplicate marker id '{cells[0]}' (first on line {seen[cells[0]]})")
            seen[cells[0]] = no
            try:
                position = int(cells[3])
            except ValueError:
                raise GpfnError(f"{path}:{no}: field 'pos' must be an integer, got {cells[3]!r}") from None
            calls = np.array([c.upper() for c in cells[11:]])
            codes = np.full(calls.size, -2, np.int8)
            for token in np.unique(calls):  # a handful of distinct calls per line
                if token in _HAPMAP_MISSING:
                    code = -1
                else:
                    pair = _IUPAC.get(token, token) if len(token) == 1 else token
                    if len(pair) != 2 or any(ch not in (a_ref, a_alt) for ch in pair):
                        j = int(np.flatnonzero(calls == token)[0])
                        raise GpfnError(f"{path}:{no}: taxon '{taxa[j]}' (column {j + 12}): genotype {str(token)!r} "
                                        f"does not fit the alleles {a_ref}/{a_alt}")
                    code = pair.count(a_alt)
                codes[calls == token] = code
            rows.append(codes)
            ids.append(cells[0])
            chrom.append(cells[2])
            pos.append(position)
            ref.append(a_ref)
            alt.append(a_alt)
        if not rows:
            raise GpfnError(f"{path}: no biallelic markers (skipped {multi} with more than two alleles)")
        return GenotypeTable(taxa, np.array(ids), np.array(chrom), np.array(pos, np.int64), np.array(ref),
                             np.array(alt), np.ascontiguousarray(np.stack(rows, axis=1)), source=str(path),
                             info={"reader": self.name, "sites_skipped_multiallelic": multi})


class Plink(GenotypeReader):
    """PLINK 1 binary (.bed + .bim + .fam) through bed-reader.

    As PLINK's own convention, allele 1 of the .bim (usually the minor allele) is the
    counted (``alt``) allele and allele 2 the ``ref``.
    """

    name = "plink"
    description = "PLINK 1 binary .bed/.bim/.fam via bed-reader (counts allele 1)"
    extensions = (".bed",)

    def can_read(self, path: Path) -> bool:
        return str(path).lower().endswith(".bed")

    def read(self, path: Path) -> GenotypeTable:
        try:
            from bed_reader import open_bed
        except ImportError:  # pragma: no cover - a declared dependency
            raise GpfnError("reading PLINK files needs bed-reader: pip install bed-reader") from None
        path = Path(path)
        for ext in (".bed", ".bim", ".fam"):
            if not path.with_suffix(ext).is_file():
                raise GpfnError(f"{path}: PLINK needs {path.with_suffix(ext).name} beside it; not found")
        with open(path, "rb") as f:
            magic = f.read(3)
        if magic != b"\x6c\x1b\x01":
            raise GpfnError(f"{path}: not a SNP-major PLINK 1 .bed file (bad magic bytes {magic!r})")
        try:
            with open_bed(path, num_threads=1) as bed:
                iid, sid = np.asarray(bed.iid).astype(str), np.asarray(bed.sid).astype(str)
                chrom, pos = np.asarray(bed.chromosome).astype(str), np.asarray(bed.bp_position).astype(np.int64)
                a1, a2 = np.asarray(bed.allele_1).astype(str), np.asarray(bed.allele_2).astype(str)
                dosage = bed.read(dtype="int8", order="C")
        except GpfnError:
            raise
        except Exception as exc:
            raise GpfnError(f"{path}: damaged PLINK fileset ({type(exc).__name__}: {exc})") from None
        check_unique(iid, "taxon", str(path))
        check_unique(sid, "marker id", str(path))
        dosage[dosage < 0] = -1  # bed-reader marks missing as -127
        return GenotypeTable(iid, sid, chrom, pos, a2, a1, dosage, source=str(path), info={"reader": self.name})


@hookimpl
def gpfn_genotype_readers():
    return [HapMap, NumericMatrix, Plink, Vcf]
