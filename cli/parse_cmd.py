"""``gpfn parse`` and ``gpfn inspect``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np


@click.command("parse")
@click.argument("genotypes", type=click.Path(path_type=Path))
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path),
              help="Dataset to write: a directory, or a .zip file.")
@click.option("--reader", default=None, help="Genotype reader (default: the first that recognises the file).")
@click.option("--phenotypes", type=click.Path(path_type=Path), default=None, help="Phenotype CSV/TSV with a header.")
@click.option("--phenotype", multiple=True, help="Phenotype column(s) to keep (default: all); a genotyped taxon "
              "with a value for any of them is kept.")
@click.option("--taxon-column", default=None, help="Taxon column of the phenotype file (default: the first).")
@click.option("--impute", type=click.Choice(["mean", "mode"]), default="mean", show_default=True,
              help="mean: keep missing calls, imputed with the training mean at prediction; mode: fill now.")
@click.option("--max-missing", type=float, default=1.0, show_default=True, help="Drop markers missing in more than this share of taxa.")
@click.option("--min-maf", type=float, default=0.0, show_default=True, help="Drop markers with a minor-allele frequency below this.")
@click.option("--crosses", type=click.Path(path_type=Path), default=None,
              help="CSV/TSV of single crosses (hybrid, parent 1, parent 2: its first three columns) of the inbred "
                   "lines in GENOTYPES: the Dataset holds the hybrids, each call the sum of its parents' gametes "
                   "(missing where a parent is heterozygous or missing), and --phenotypes join them by name.")
@click.option("--means-over", default=None, metavar="COLUMNS",
              help="The phenotype file has several records per taxon (plots, environments): each trait becomes the "
                   "taxon's least-squares mean with these columns (comma-separated) as fixed effects, e.g. "
                   "'Experiment' or 'Env,Rep'; 'none' for plain means.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--progress/--no-progress", default=None, help="Progress bar for large files (default: on a terminal).")
def parse(genotypes, out, reader, phenotypes, phenotype, taxon_column, impute, max_missing, min_maf, crosses,
          means_over, force, progress) -> None:
    """Parse GENOTYPES (and phenotypes) into a gpfn Dataset, reporting every change."""
    import sys

    from gpfn_cli.common import note

    from gpfn_core.data import textio
    from gpfn_core.tasks.parse import parse as run

    textio.SHOW_PROGRESS = sys.stderr.isatty() if progress is None else progress

    path, report = run(genotypes, out, reader=reader, phenotypes=phenotypes, phenotype=list(phenotype) or None,
                       taxon_column=taxon_column, impute=impute, max_missing=max_missing, min_maf=min_maf,
                       overwrite=force, crosses=crosses,
                       means_over=None if means_over is None else
                       [c.strip() for c in means_over.split(",") if c.strip() and c.strip().lower() != "none"])
    for k, v in report.items():
        note(f"{k}: {v}")
    for column, odd in report.get("non_numeric_values", {}).items():
        click.echo(f"Warning: {phenotypes}: {odd['count']} value(s) of '{column}' are not numbers and were read as "
                   f"missing, e.g. {', '.join(odd['first'])}", err=True)
    if report.get("parents_not_inbred"):
        odd = report["parents_not_inbred"]
        click.echo(f"Warning: {crosses}: {odd['count']} parent line(s) have more than "
                   f"{odd['above']:.0%} heterozygous calls (their "
                   f"hybrids' calls there are missing), e.g. {', '.join(odd['first'])}", err=True)
    click.echo(str(path))


@click.command("inspect")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def inspect(path: Path, as_json: bool) -> None:
    """Summarise a Dataset, a model file or a draw store."""
    from gpfn_core.errors import GpfnError

    if (path / "zarr.json").is_file() and b'"gpfn-draw-store"' in (path / "zarr.json").read_bytes():
        from gpfn_core.sim.store import StoreReader, committed_shards

        reader = StoreReader(path)
        shards = committed_shards(path)
        total = int(reader.meta["num_draws"]) // int(reader.meta["shard_size"])
        summary = {"kind": "draw store", **reader.meta, "committed_shards": len(shards), "total_shards": total,
                   "progress": f"{100 * len(shards) / max(total, 1):.1f}%",
                   "draws_available_in_order": reader.available()}
    elif path.is_file() and path.suffix != ".zip":
        from gpfn_core.net.modelfile import read_metadata

        meta = read_metadata(path)
        summary = {"kind": "model", **{k: v for k, v in meta.items() if k not in ("borders", "fit_config")}}
        if isinstance(summary.get("training"), dict):
            summary["training"] = {k: v for k, v in summary["training"].items() if k != "history"}
    else:
        from gpfn_core.data.dataset import read_dataset
        from gpfn_core.data.encoding import alt_frequency

        try:
            ds = read_dataset(path)
        except GpfnError:
            raise
        t = ds.table
        d = t.dosage
        observed = d >= 0
        p = alt_frequency(d)
        summary = {
            "kind": "dataset", "path": str(path), "taxa": t.n_taxa, "markers": t.n_markers,
            "chromosomes": sorted(set(t.chrom.tolist()) - {""}), "missing_fraction": float(1 - observed.mean()),
            "mean_maf": float(np.minimum(p, 1 - p).mean()), "phenotypes": ds.phenotype_names,
            "source": ds.attrs.get("source"), "reader": ds.attrs.get("reader"),
            "format_version": ds.attrs.get("format_version"), "report": ds.attrs.get("report", {}),
        }
        if ds.phenotypes is not None:
            summary["phenotype_means"] = {n: float(np.nanmean(ds.phenotypes[:, j])) for j, n in enumerate(ds.phenotype_names)}
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=str))
    else:
        for k, v in summary.items():
            click.echo(f"{k}: {v}")
