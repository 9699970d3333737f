"""`gpfn parse`: genotypes (+ phenotypes) -> a Dataset file, every change reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from gpfn_core.data.crosses import make_hybrids, read_crosses
from gpfn_core.data.dataset import Dataset, write_dataset
from gpfn_core.errors import GpfnError, ValidationError
from gpfn_core.data.phenotypes import read_phenotypes
from gpfn_core.data.encoding import alt_frequency
from gpfn_core.registry import get_registry
from gpfn_core.types import GenotypeTable


def choose_reader(path: Path, name: str | None):
    reg = get_registry()
    if name:
        return reg.get("reader", name)()
    for entry in reg.entries("reader"):
        reader = entry.obj()
        if reader.can_read(path):
            return reader
    raise GpfnError(f"{path}: no installed reader recognises this file; choose one with --reader "
                    f"({', '.join(reg.names('reader'))})")


def filter_markers(t: GenotypeTable, max_missing: float, min_maf: float) -> tuple[GenotypeTable, dict[str, int]]:
    """Drop markers missing in more than ``max_missing`` of taxa or with MAF below ``min_maf``."""
    if not 0 <= max_missing <= 1:
        raise ValidationError(f"max_missing must be in [0, 1], got {max_missing}")
    if not 0 <= min_maf <= 0.5:
        raise ValidationError(f"min_maf must be in [0, 0.5], got {min_maf}")
    d = t.dosage
    observed = d >= 0
    miss_rate = 1 - observed.mean(0)
    p = alt_frequency(d)
    maf = np.minimum(p, 1 - p)
    too_missing = miss_rate > max_missing
    too_rare = ~too_missing & (maf < min_maf)
    keep = ~(too_missing | too_rare)
    if not keep.any():
        raise GpfnError(f"{t.source}: every marker was filtered out ({int(too_missing.sum())} by --max-missing "
                        f"{max_missing}, {int(too_rare.sum())} by --min-maf {min_maf})")
    sub = GenotypeTable(t.taxa, t.marker[keep], t.chrom[keep], t.pos[keep], t.ref[keep], t.alt[keep], d[:, keep],
                        t.source, t.info)
    return sub, {"markers_dropped_missing": int(too_missing.sum()), "markers_dropped_maf": int(too_rare.sum())}


def parse(
    genotypes: str | Path, out: str | Path, *, reader: str | None = None, phenotypes: str | Path | None = None,
    phenotype: list[str] | None = None, taxon_column: str | None = None, impute: str = "mean",
    max_missing: float = 1.0, min_maf: float = 0.0, overwrite: bool = False, crosses: str | Path | None = None,
    means_over: list[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Read, join, filter, impute and write; returns the output path and the report.
    ``crosses``: a CSV of single crosses (hybrid, parent 1, parent 2) of the inbred lines
    ``genotypes`` holds; the Dataset then holds the hybrids (:mod:`gpfn_core.data.crosses`),
    and phenotypes join them by the hybrid's name.  ``means_over``: the phenotype file has
    several records per taxon, averaged as least-squares means with these columns as fixed
    effects (:func:`~gpfn_core.data.phenotypes.least_squares_means`)."""
    genotypes, out = Path(genotypes), Path(out)
    if out.exists() and not overwrite:
        raise GpfnError(f"{out}: already exists (use --force to replace it)")
    if impute not in ("mean", "mode"):
        raise ValidationError(f"impute must be 'mean' or 'mode', got {impute!r}")
    planned = read_crosses(crosses) if crosses is not None else None  # its mistakes before the long read
    if means_over is not None and phenotypes is None:
        raise ValidationError("--means-over averages the records of a phenotype file: give --phenotypes")
    rd = choose_reader(genotypes, reader)
    table = rd.read(genotypes)
    report: dict[str, Any] = {"reader": rd.name, "taxa_read": table.n_taxa, "markers_read": table.n_markers,
                              **{k: v for k, v in table.info.items() if k != "reader"}}
    if planned is not None:
        table, made = make_hybrids(table, planned)
        report.update(made)
    pheno_values, names, factors, factor_names = None, [], None, []
    if phenotypes is not None:
        ph = read_phenotypes(phenotypes, phenotype, taxon_column, means_over)
        names, factor_names = ph.names, ph.text_names
        if not names:
            raise GpfnError(f"{phenotypes}: no numeric phenotype column (only the factor columns {factor_names})")
        index = {t: i for i, t in enumerate(ph.taxa)}
        rows = np.array([index.get(t, -1) for t in table.taxa])
        if (rows < 0).all():
            raise GpfnError(f"{phenotypes}: none of its {len(ph.taxa)} taxa match the {table.n_taxa} genotyped taxa "
                            f"of {genotypes} (e.g. '{ph.taxa[0]}' vs '{table.taxa[0]}')")
        values = np.where(rows[:, None] >= 0, ph.values[np.maximum(rows, 0)], np.nan)
        keep = ~np.isnan(values).all(axis=1)  # a taxon with a value for any of the phenotypes
        report.update({
            "phenotype_file": str(phenotypes), **ph.report,
            "taxa_dropped_no_phenotype": int((rows < 0).sum()),
            "taxa_dropped_missing_phenotype": int(((rows >= 0) & ~keep).sum()),
            "phenotyped_taxa_without_genotypes": int(len(ph.taxa) - (rows >= 0).sum()),
        })
        if keep.sum() < 1:
            raise GpfnError(f"{phenotypes}: no genotyped taxon has a value for any of the phenotypes {names}")
        table = GenotypeTable(table.taxa[keep], table.marker, table.chrom, table.pos, table.ref, table.alt,
                              table.dosage[keep], table.source, table.info)
        pheno_values = values[keep]
        if ph.text is not None:
            factors = np.where(rows[keep, None] >= 0, ph.text[np.maximum(rows[keep], 0)], "")
    if planned is not None:  # each hybrid's parents, as factor columns (--groups, --covariates)
        clash = sorted(set(planned.parent_names) & set(names + factor_names))
        if clash:
            raise GpfnError(f"{crosses}: its parent column(s) {clash} are also columns of {phenotypes}; rename one")
        parents = planned.parents_of(table.taxa)
        factors = parents if factors is None else np.column_stack([factors, parents])
        factor_names = [*factor_names, *planned.parent_names]
    table, dropped = filter_markers(table, max_missing, min_maf)
    report.update(dropped)
    missing = table.dosage < 0
    report["missing_calls"] = int(missing.sum())
    if impute == "mode" and missing.any():
        counts = np.stack([(table.dosage == v).sum(0) for v in (0, 1, 2)])
        mode = counts.argmax(0).astype(np.int8)
        table.dosage[missing] = np.broadcast_to(mode, table.dosage.shape)[missing]
        report["imputed"] = f"{report['missing_calls']} missing calls set to the marker's most common genotype"
    else:
        report["imputed"] = (f"{report['missing_calls']} missing calls kept as -1; prediction imputes them with the "
                             f"training population's marker mean")
    report.update({"taxa": table.n_taxa, "markers": table.n_markers})
    path = write_dataset(out, Dataset(table, pheno_values, names, {"reader": rd.name, "report": report}, factors,
                                      factor_names), overwrite)
    return path, report
