"""Built-in genotype readers.

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


@hookimpl
def gpfn_genotype_readers():
    return [NumericMatrix]
