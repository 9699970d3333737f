"""``gpfn predict``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("predict")
@click.option("--model", "model", required=True, type=click.Path(path_type=Path), help="Model file (gpfn fit).")
@click.option("--train", "train", required=True, type=click.Path(path_type=Path),
              help="Training Dataset with phenotypes (gpfn parse --phenotypes).")
@click.option("--target", "target", required=True, type=click.Path(path_type=Path), help="Target Dataset.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@click.option("--phenotype", default=None, help="Phenotype column of the training dataset (default: its first).")
@click.option("--normalized", is_flag=True, help="Predictions on the standardised scale instead of the phenotype's.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, ...")
@click.option("--ensemble", type=int, default=None,
              help="Subsets to average when the training set exceeds the model's context (default: automatic).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for subsets and selectors.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def predict(model, train, target, out, phenotype, normalized, device, ensemble, seed, force) -> None:
    """Predict breeding values (mean, sd, q05, q95) of the TARGET individuals."""
    from gpfn_core.predict import predict as run

    report = run(model, train, target, out, phenotype=phenotype, normalized=normalized, device=device,
                 ensemble=ensemble, seed=seed, overwrite=force)
    for k, v in report.items():
        click.echo(f"{k}: {v}", err=True)
    if report["ensemble_members"] > 1:
        click.echo(f"note: {report['training_taxa']} training taxa exceed the model's context of {report['context']}; "
                   f"averaged {report['ensemble_members']} random subsets", err=True)
    click.echo(str(out))
