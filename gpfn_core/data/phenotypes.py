"""Phenotype tables (CSV/TSV) and joining them to genotypes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpfn_core.errors import GpfnError
from gpfn_core.data.textio import MISSING_TOKENS, check_unique, open_table, split


@dataclass
class PhenotypeTable:
    taxa: np.ndarray  # str [n]
    names: list[str]
    values: np.ndarray  # float64 [n, k], NaN missing
    report: dict = field(default_factory=dict)
    text_names: list[str] = field(default_factory=list)  # columns of words (locations, years, blocks): factors
    text: np.ndarray | None = None  # str [n, t], "" missing


def read_phenotypes(path: str | Path, columns: list[str] | None = None, taxon_column: str | None = None) -> PhenotypeTable:
    """Read ``columns`` (default: every column but the taxon's) from a CSV/TSV with a header.

    NA-like tokens are missing values; any other non-numeric value (``12.5kg``, ``n.a.``) is
    missing too, and the report counts them per column with the first few and their lines.
    A column of words (at least 90% of its values; ``loc``: ``Ames``, ``Lincoln``) is a factor,
    kept as text (``text``) for use as a covariate, not as a phenotype.
    """
    path = Path(path)
    it, header_no, head, sep = open_table(path)
    if len(head) < 2:
        raise GpfnError(f"{path}:{header_no}: header needs a taxon column and at least one phenotype, got {head}")
    check_unique(head, "column name", f"{path}:{header_no}")
    tcol = 0 if taxon_column is None else _column(path, head, taxon_column, "taxon column")
    wanted = [h for i, h in enumerate(head) if i != tcol] if not columns else list(columns)
    idx = [_column(path, head, c, "phenotype") for c in wanted]
    taxa, rows, raw, seen = [], [], [], {}
    odd: dict[str, list[str]] = {}  # column -> "line N: 'value'" of values that are neither numbers nor NA-like
    for no, line in it:
        cells = split(line, sep)
        if len(cells) != len(head):
            raise GpfnError(f"{path}:{no}: expected {len(head)} fields as in the header, got {len(cells)}")
        t = cells[tcol]
        if not t:
            raise GpfnError(f"{path}:{no}: empty taxon name in column '{head[tcol]}'")
        if t in seen:
            raise GpfnError(f"{path}:{no}: duplicate taxon '{t}' (first on line {seen[t]})")
        seen[t] = no
        taxa.append(t)
        raw.append([cells[i] for i in idx])
        row = []
        for name, i in zip(wanted, idx):
            v = _number(cells[i])
            if v is None:
                odd.setdefault(name, []).append(f"line {no}: {cells[i]!r}")
                v = np.nan
            row.append(v)
        rows.append(row)
    if not taxa:
        raise GpfnError(f"{path}: header only, no phenotype rows")
    values = np.array(rows, dtype=np.float64).reshape(len(taxa), len(idx))
    cells = np.array(raw, dtype=str).reshape(len(taxa), len(idx))
    present = ~np.isin(np.char.lower(cells), list(MISSING_TOKENS))
    # a column of words (at least 90% of its values) is a factor (location, year, block), not a phenotype
    words = [j for j in range(len(wanted)) if present[:, j].any() and
             len(odd.get(wanted[j], ())) >= 0.9 * present[:, j].sum()]
    text_names = [wanted[j] for j in words]
    for name in text_names:
        odd.pop(name, None)
    keep = [j for j in range(len(wanted)) if j not in words]
    names = [wanted[j] for j in keep]
    values = values[:, keep]
    text = np.where(present[:, words], cells[:, words], "") if words else None
    missing = {name: int(np.isnan(values[:, j]).sum()) for j, name in enumerate(names)}
    report = {"phenotype_rows": len(taxa), "missing_values": missing}
    if text_names:
        report["factor_columns"] = text_names
    if odd:  # a typo must not vanish into "missing": say how many, and where
        report["non_numeric_values"] = {name: {"count": len(v), "first": v[:3]} for name, v in odd.items()}
    return PhenotypeTable(np.array(taxa), names, values, report, text_names, text)


def _column(path: Path, head: list[str], name: str, what: str) -> int:
    if name not in head:
        raise GpfnError(f"{path}: no {what} column '{name}'; the header has: {', '.join(head)}")
    return head.index(name)


def _number(token: str) -> float | None:
    """The value of a cell: a number, NaN for an NA-like token, None for anything else."""
    if token.lower() in MISSING_TOKENS:
        return np.nan
    try:
        v = float(token)
    except ValueError:
        return None
    return v if np.isfinite(v) else None
