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


def read_phenotypes(path: str | Path, columns: list[str] | None = None, taxon_column: str | None = None,
                    means_over: list[str] | None = None) -> PhenotypeTable:
    """Read ``columns`` (default: every column but the taxon's) from a CSV/TSV with a header.

    NA-like tokens are missing values; any other non-numeric value (``12.5kg``, ``n.a.``) is
    missing too, and the report counts them per column with the first few and their lines.
    A column of words (at least 90% of its values; ``loc``: ``Ames``, ``Lincoln``) is a factor,
    kept as text (``text``) for use as a covariate, not as a phenotype.

    ``means_over``: the file holds several records per taxon (plots, environments), and
    each trait becomes every taxon's least-squares mean with these columns as fixed
    effects (:func:`least_squares_means`; ``[]``: plain means).  They are factors whatever
    their values look like (a replicate numbered 1 and 2), and are not kept.
    """
    path = Path(path)
    it, header_no, head, sep = open_table(path)
    if len(head) < 2:
        raise GpfnError(f"{path}:{header_no}: header needs a taxon column and at least one phenotype, got {head}")
    check_unique(head, "column name", f"{path}:{header_no}")
    tcol = 0 if taxon_column is None else _column(path, head, taxon_column, "taxon column")
    over = [] if means_over is None else list(means_over)
    over_idx = [_column(path, head, c, "--means-over") for c in over]
    if tcol in over_idx:
        raise GpfnError(f"{path}: --means-over names the taxon column '{head[tcol]}'")
    wanted = [h for i, h in enumerate(head) if i != tcol and i not in over_idx] if not columns else list(columns)
    idx = [_column(path, head, c, "phenotype") for c in wanted]
    if set(idx) & set(over_idx):
        raise GpfnError(f"{path}: {sorted(set(wanted) & set(over))} both a phenotype and a --means-over column")
    taxa, rows, raw, seen, levels = [], [], [], {}, []
    odd: dict[str, list[str]] = {}  # column -> "line N: 'value'" of values that are neither numbers nor NA-like
    for no, line in it:
        cells = split(line, sep)
        if len(cells) != len(head):
            raise GpfnError(f"{path}:{no}: expected {len(head)} fields as in the header, got {len(cells)}")
        t = cells[tcol]
        if not t:
            raise GpfnError(f"{path}:{no}: empty taxon name in column '{head[tcol]}'")
        if t in seen and means_over is None:
            raise GpfnError(f"{path}:{no}: duplicate taxon '{t}' (first on line {seen[t]}); a file of several "
                            f"records per taxon (plots, environments) needs --means-over")
        seen.setdefault(t, no)
        if over_idx:
            level = [cells[i] for i in over_idx]
            empty = [over[j] for j, v in enumerate(level) if v.lower() in MISSING_TOKENS]
            if empty:
                raise GpfnError(f"{path}:{no}: no value of --means-over column(s) {', '.join(empty)}")
            levels.append(level)
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
    report = {"phenotype_rows": len(taxa)}
    taxa = np.array(taxa)
    if means_over is not None:
        taxa, values, text, text_names, report["means_over"] = least_squares_means(
            path, taxa, values, names, text, text_names, np.array(levels, dtype=str).reshape(len(taxa), len(over)),
            over)
    missing = {name: int(np.isnan(values[:, j]).sum()) for j, name in enumerate(names)}
    report["missing_values"] = missing
    if text_names:
        report["factor_columns"] = text_names
    if odd:  # a typo must not vanish into "missing": say how many, and where
        report["non_numeric_values"] = {name: {"count": len(v), "first": v[:3]} for name, v in odd.items()}
    return PhenotypeTable(taxa, names, values, report, text_names, text)


def least_squares_means(path: Path, taxa: np.ndarray, values: np.ndarray, column_names: list[str],
                        text: np.ndarray | None, text_names: list[str], levels: np.ndarray, over: list[str]):
    """Each taxon's least-squares mean of each trait over its records, with the ``over``
    factors (environments, replicates, blocks; ``levels`` ``[records, len(over)]``) as fixed
    effects: y = taxon + factor effects + error, fitted by least squares on the records
    with a value, and the taxon's mean is its effect plus the mean over levels of each
    factor's (``column_names``: the traits, for messages).  With balanced records (every taxon in every level) this is the plain mean;
    with unbalanced ones it is not biased by which environments a taxon happened to be
    grown in, the first stage of a two-stage analysis.  Records of a taxon that share no
    level with the others' (two disconnected trials) are an error: their means would not
    be comparable.  A factor column of words (``family``) must be constant within a taxon
    and is kept; one that varies is dropped and reported.

    Returns the taxa (in order of first appearance), their means, the kept factor columns
    and a report of the records per taxon and the levels of each factor."""
    from scipy.sparse import csr_matrix, hstack
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import lsqr

    names, first, taxon_of = np.unique(taxa, return_index=True, return_inverse=True)
    order = np.argsort(first)  # taxa in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    taxon_of = rank[taxon_of]
    n_taxa, n_rec = order.size, len(taxa)
    blocks, n_levels = [], []
    for j in range(len(over)):
        lv, code = np.unique(levels[:, j], return_inverse=True)
        blocks.append(csr_matrix((np.ones(n_rec), (np.arange(n_rec), code)), shape=(n_rec, lv.size)))
        n_levels.append(int(lv.size))
    design_t = csr_matrix((np.ones(n_rec), (np.arange(n_rec), taxon_of)), shape=(n_rec, n_taxa))
    design = hstack([design_t, *blocks]).tocsr()
    means = np.full((n_taxa, values.shape[1]), np.nan)
    for k in range(values.shape[1]):
        ok = np.isfinite(values[:, k])
        if not ok.any():
            continue
        x, y = design[ok], values[ok, k]
        seen_t = np.bincount(taxon_of[ok], minlength=n_taxa) > 0
        if blocks:  # taxa and levels linked by this trait's records: one component, or the means are not comparable
            count, label = connected_components(x.T @ x, directed=False)
            label = label[:n_taxa][seen_t]
            if np.unique(label).size > 1:
                apart = names[order][seen_t][label != np.bincount(label).argmax()]
                raise GpfnError(f"{path}: the records of {column_names[k]!r} of {apart.size} taxa (e.g. "
                                f"{', '.join(apart[:5])}) share no {'/'.join(over)} level with the others', so their "
                                f"means are not comparable; give them in a file of their own")
        # lsqr's minimum-norm solution: taxon + level effects are determined up to a constant per factor,
        # which the mean over each factor's levels adds back
        b = lsqr(x, y, atol=1e-12, btol=1e-12, iter_lim=20 * x.shape[1])[0]
        at, shift = n_taxa, 0.0
        for size, blk in zip(n_levels, blocks):
            seen_l = np.asarray(blk[ok].sum(0)).ravel() > 0
            shift += b[at:at + size][seen_l].mean()
            at += size
        means[:, k] = np.where(seen_t, b[:n_taxa] + shift, np.nan)
    kept_text, kept_names, dropped = [], [], []
    for j, name in enumerate(text_names):
        col = text[:, j]
        first_value = col[first[order]]
        if (col == first_value[taxon_of]).all():
            kept_text.append(first_value)
            kept_names.append(name)
        else:
            dropped.append(name)
    per = np.bincount(taxon_of, minlength=n_taxa)
    report = {"records": int(n_rec), "taxa": int(n_taxa), "records_per_taxon": [int(per.min()), float(np.median(per)),
              int(per.max())], "levels": dict(zip(over, n_levels))}
    if dropped:
        report["factor_columns_dropped"] = dropped
    return (names[order], means, np.column_stack(kept_text) if kept_text else None, kept_names, report)


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
