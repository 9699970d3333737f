"""``gpfn generate``: prior draws into a Zarr draw store."""

from __future__ import annotations

import json

import click

from gpfn_cli.common import (context_option, explicit, founders_option, opt, parse_overrides, refuse, set_option,
                             size_distribution_option)

# options that a store records: a generator following a store takes them from its metadata
FOLLOWED = ("feature_max_size", "feature_selection", "smoothers", "pop_max_size", "min_training_samples",
            "max_training_samples", "nonuniform_eval_pos", "size_distribution", "context", "batch_size", "target")


@click.command("generate")
@click.option("--prior", default=None, help="Prior to draw from (`gpfn prior list`); omit to follow an existing "
              "store's metadata (e.g. written by `gpfn fit --store DIR --follow`).")
@click.option("--store", required=True, type=click.Path(), help="Draw store directory (created, or completed).")
@opt("num_draws", type=int, default=None, help="Draws in the store (rounded up to whole shards).")
@opt("shard_size", type=int, default=64, help="Draws per shard (the unit written and committed at once).")
@opt("workers", type=int, default=1, help="Local worker processes.")
@click.option("--mpi", is_flag=True, help="One MPI rank per process (mpiexec/srun ... gpfn generate --mpi); ranks "
              "split the shards.")
@click.option("--seed", type=int, default=0, show_default=True, help="Prior seed.")
@set_option
@founders_option
@opt("feature_max_size", type=int, default=100, help="Features per individual.")
@opt("feature_selection", default="pca", help="Feature selector.")
@opt("smoothers", default="gblup,sparse", help="Closed-form predictions from all markers appended to the features: "
     "gblup (GBLUP at a grid of h2), sparse (marker-weighted kernel), bma (GBLUP averaged over h2 by "
     "marginal likelihood, and the h2 weights); comma-separated, '' for none.")
@opt("pop_max_size", type=int, default=1000, help="Individuals per draw.")
@opt("min_training_samples", type=int, default=None, help="Smallest training set (default 20, or pop_max_size/2 if less).")
@opt("max_training_samples", type=int, default=None, help="Largest training set (default pop_max_size-10).")
@opt("nonuniform_eval_pos", is_flag=True, help="Favour large training sets.")
@size_distribution_option
@context_option
@opt("batch_size", type=int, default=8, help="The trainer's batch size (the split schedule is per batch).")
@opt("target", type=click.Choice(["g", "y"]), default="g", help="Evaluation target: genetic value or phenotype.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def generate(prior, store, num_draws, shard_size, workers, mpi, overrides, no_progress, **kw) -> None:
    """Generate prior draws into a chunked Zarr store; rerun to complete an interrupted store.

    \b
    Examples:
      gpfn generate --prior nam --store draws/ --num-draws 100000 --workers 16
      mpiexec -n 64 gpfn generate --prior nam --store /scratch/draws --num-draws 1000000 --mpi
    """
    from gpfn_core.tasks.generate import generate as run
    from gpfn_core.tasks.generate import generate_mpi
    from gpfn_core.net.config import FitConfig

    from pathlib import Path

    refuse(explicit("workers") if mpi else [], "with --mpi the ranks are the processes; give --workers or --mpi")
    if prior is None:
        if not (Path(store) / "zarr.json").exists():
            raise click.UsageError("give --prior, or --store of an existing store whose settings to follow")
        refuse(explicit("seed", "overrides", "founders", "shard_size", *FOLLOWED),
               "without --prior the draws follow the store's metadata (gpfn inspect STORE shows it); give them "
               "only with --prior")
        from gpfn_core.tasks.generate import config_of_store

        cfg, total, shard_size = config_of_store(store)
        num_draws = num_draws or total
    else:
        if num_draws is None:
            raise click.UsageError("--num-draws is needed with --prior")
        cfg = FitConfig(prior=prior, overrides=parse_overrides(overrides), **kw)
    if mpi:
        report = generate_mpi(cfg, store, num_draws, shard_size=shard_size)
        if report["rank"] == 0:
            _note_rounding(num_draws, shard_size)
            click.echo(json.dumps(report, indent=2))
        return
    _note_rounding(num_draws, shard_size)
    report = run(cfg, store, num_draws, shard_size=shard_size, workers=workers, progress=not no_progress)
    click.echo(json.dumps(report, indent=2))


def _note_rounding(num_draws: int, shard_size: int) -> None:
    from gpfn_core.tasks.generate import plan

    whole = plan(num_draws, shard_size) * shard_size
    if whole != num_draws:
        click.echo(f"note: --num-draws {num_draws} is rounded up to {whole} draws (whole shards of {shard_size}; "
                   f"a smaller --shard-size rounds less)", err=True)
