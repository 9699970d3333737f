"""Hybrids made from their parents' genotypes: ``gpfn parse PARENTS --crosses CROSSES``.

Hybrid breeding genotypes the inbred parent lines, not every single cross: the crosses
to predict have not been made yet.  A single cross of two inbred lines carries one
gamete of each, and an inbred line's gamete is its only haplotype, so the hybrid's
dosage is the sum of its parents' gametes, ``(d1 + d2) / 2`` for homozygous parental
calls 0 and 2, as the ``hybrid`` prior makes its hybrids and as a genotyped hybrid panel
would read.

Where a parent's call is heterozygous (residual heterozygosity) the gamete it gives is
not known, and where it is missing nothing is: the hybrid's call is missing there (``-1``,
imputed with the training mean at prediction as any missing call), and the report counts
both.  A parent line with more than :data:`HETEROZYGOUS_WARN` of its calls heterozygous is
named in the report: it is probably not an inbred line.  The Dataset keeps each hybrid's
two parents as factor columns named as in the crosses file's header, so ``gpfn evaluate
--groups female`` holds out every cross of some female lines (crosses with one parent
untested) and ``--covariates`` can fit them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.data.textio import open_table, split
from gpfn_core.errors import GpfnError
from gpfn_core.types import GenotypeTable

HETEROZYGOUS_WARN = 0.05  # share of a parent's observed calls heterozygous above which the report names it
ROWS_AT_ONCE = 4096  # hybrids made at a time (bounds the temporaries at a few rows x markers)


@dataclass(frozen=True)
class Crosses:
    """The single crosses of a crosses file: each hybrid's name and its two parents."""

    hybrid: np.ndarray  # str [h]
    parent1: np.ndarray  # str [h]
    parent2: np.ndarray  # str [h]
    lines: np.ndarray  # int [h]: the file's line of each cross, for messages
    source: str
    parent_names: tuple[str, str] = ("parent1", "parent2")  # the header's names of the two parent columns

    def parent_rows(self, taxa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """int ``[h]`` each: the rows of each cross's two parents among ``taxa``, -1 where absent."""
        index = {t: i for i, t in enumerate(taxa)}
        return (np.array([index.get(t, -1) for t in self.parent1], dtype=np.int64),
                np.array([index.get(t, -1) for t in self.parent2], dtype=np.int64))

    def parents_of(self, taxa: np.ndarray) -> np.ndarray:
        """str ``[len(taxa), 2]``: the two parents of each of the hybrids ``taxa``."""
        at = {h: k for k, h in enumerate(self.hybrid)}
        rows = np.array([at[t] for t in taxa], dtype=np.int64)
        return np.column_stack([self.parent1[rows], self.parent2[rows]]).reshape(len(rows), 2)


def read_crosses(path: str | Path) -> Crosses:
    """Read a CSV/TSV with a header whose first three columns are the hybrid's name and its
    two parents (female and male, or the lines of the two pools; further columns are
    ignored).  Every hybrid name is unique and every field of the three is filled."""
    path = Path(path)
    it, header_no, head, sep = open_table(path)
    if len(head) < 3:
        raise GpfnError(f"{path}:{header_no}: a crosses file needs three columns (hybrid, parent 1, parent 2), "
                        f"the header has {len(head)}: {head}")
    if not head[1] or not head[2] or head[1] == head[2]:
        raise GpfnError(f"{path}:{header_no}: the two parent columns need two different names (they become the "
                        f"Dataset's factor columns, e.g. for --groups), got {head[1]!r} and {head[2]!r}")
    hybrid, p1, p2, where, seen = [], [], [], [], {}
    for no, line in it:
        cells = split(line, sep)
        if len(cells) != len(head):
            raise GpfnError(f"{path}:{no}: expected {len(head)} fields as in the header, got {len(cells)}")
        for j in range(3):
            if not cells[j]:
                raise GpfnError(f"{path}:{no}: empty {head[j]!r} (column {j + 1})")
        if cells[0] in seen:
            raise GpfnError(f"{path}:{no}: duplicate hybrid '{cells[0]}' (first on line {seen[cells[0]]})")
        seen[cells[0]] = no
        hybrid.append(cells[0])
        p1.append(cells[1])
        p2.append(cells[2])
        where.append(no)
    if not hybrid:
        raise GpfnError(f"{path}: header only, no crosses")
    return Crosses(np.array(hybrid), np.array(p1), np.array(p2), np.array(where), str(path), (head[1], head[2]))


def make_hybrids(parents: GenotypeTable, crosses: Crosses) -> tuple[GenotypeTable, dict[str, Any]]:
    """The hybrids of ``crosses`` from the genotypes of their ``parents``: each call the sum of
    the parents' gametes where both parental calls are homozygous, else missing; with the
    report's counts.  A parent that is not among the genotyped taxa is an error naming the
    crosses file's line."""
    i1, i2 = crosses.parent_rows(parents.taxa)
    unknown = np.flatnonzero((i1 < 0) | (i2 < 0))
    if unknown.size:
        k = int(unknown[0])
        name = crosses.parent1[k] if i1[k] < 0 else crosses.parent2[k]
        names = sorted(set(crosses.parent1[i1 < 0]) | set(crosses.parent2[i2 < 0]))
        raise GpfnError(f"{crosses.source}:{crosses.lines[k]}: parent '{name}' of hybrid '{crosses.hybrid[k]}' is not "
                        f"among the {parents.n_taxa} genotyped taxa of {parents.source} ({len(names)} parent(s) "
                        f"missing in all, e.g. {', '.join(names[:5])})")
    d = parents.dosage
    out = np.empty((len(crosses.hybrid), parents.n_markers), dtype=np.int8)
    het_parent = missing_parent = 0
    for s in range(0, len(out), ROWS_AT_ONCE):
        a, b = d[i1[s:s + ROWS_AT_ONCE]], d[i2[s:s + ROWS_AT_ONCE]]
        missing = (a < 0) | (b < 0)
        het = ~missing & ((a == 1) | (b == 1))
        out[s:s + ROWS_AT_ONCE] = np.where(missing | het, -1, (a + b) // 2)
        missing_parent += int(missing.sum())
        het_parent += int(het.sum())
    used = np.unique(np.concatenate([i1, i2]))
    observed = (d[used] >= 0).sum(1)
    het_share = (d[used] == 1).sum(1) / np.maximum(observed, 1)
    report: dict[str, Any] = {
        "crosses_file": crosses.source, "hybrids": len(out), "parents_used": int(used.size),
        "hybrid_calls_missing_parent": missing_parent,
        "hybrid_calls_heterozygous_parent": het_parent,
    }
    odd = het_share > HETEROZYGOUS_WARN
    if odd.any():
        worst = np.argsort(-het_share[odd])[:5]
        report["parents_not_inbred"] = {
            "count": int(odd.sum()), "above": HETEROZYGOUS_WARN,
            "first": [f"{parents.taxa[used[odd][j]]}: {het_share[odd][j]:.0%} heterozygous" for j in worst]}
    table = GenotypeTable(crosses.hybrid, parents.marker, parents.chrom, parents.pos, parents.ref, parents.alt, out,
                          parents.source, parents.info)
    return table, report
