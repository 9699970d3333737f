"""``gpfn fit``: train a model on a prior's draws (options mirror the original train_model.py)."""

from __future__ import annotations

import json

import click

from gpfn_cli.common import (context_option, explicit, founders_option, note, opt, parse_overrides, refuse,
                             set_option, size_distribution_option)
from gpfn_core.net.config import STACK_SIZES


@click.command("fit")
@click.option("--prior", default=None, help="Prior to train on (`gpfn prior list`); not needed with --store.")
@click.option("--store", default=None, type=click.Path(file_okay=False),
              help="Train from this draw store (gpfn generate); its metadata sets prior and preprocessing.")
@click.option("--follow", is_flag=True, help="With --store: the store is still being generated; write its metadata "
              "if new and wait for shards as they are committed.")
@opt("delete_consumed", is_flag=True, help="With --follow: delete shards once read (bounded disk use).")
@opt("shard_size", type=int, default=64, help="Shard size of a store created by --follow.")
@opt("save_path", "-o", default="model.gpfn", help="Model file to write (safetensors + JSON config).")
@click.option("--seed", type=int, default=0, show_default=True, help="Prior and training seed.")
@set_option
@founders_option
@opt("device", default="auto", help="cpu, cuda, cuda:1 ... (auto: cuda when available).")
@opt("num_workers", type=int, default=0, help="DataLoader worker processes generating draws.")
@opt("feature_max_size", type=int, default=100, help="Features per individual after selection.")
@opt("num_samples", type=int, default=100_000, help="Prior draws to train on (sets the number of steps).")
@opt("pop_max_size", type=int, default=1000, help="Individuals per draw (training + evaluation).")
@opt("feature_selection", default="pca", help="Feature selector (`gpfn plugins --kind selector`).")
@opt("smoothers", default="gblup,sparse", help="Closed-form predictions from all markers appended to the features: "
     "gblup (GBLUP at a grid of h2), sparse (marker-weighted kernel), bma (GBLUP averaged over h2 by "
     "marginal likelihood, and the h2 weights); comma-separated, '' for none.")
@opt("num_layers", type=int, default=6, help="Transformer layers.")
@opt("hidden_dim", type=int, default=1024, help="Width of the feed-forward layers.")
@opt("num_heads", type=int, default=4, help="Attention heads.")
@opt("input_norm", type=click.Choice(["global", "feature", "none"]), default="global",
     help="Scale features per draw by one training RMS (global), per feature (feature, the original's), or not.")
@opt("no_input_norm", is_flag=True, help="Same as --input-norm none (the original's flag).")
@click.option("--relationship-bias/--no-relationship-bias", "relationship_bias", default=True,
              help="Bias attention by the individuals' relationship in feature space (default on; "
                   "--no-relationship-bias: the original's plain attention).")
@opt("kernel_features", type=int, default=8,
     help="Relationship-weighted phenotype means given to every individual (0: none, the original's).")
@opt("emb_size", type=int, default=256, help="Token embedding size.")
@opt("dropout", "--dropout_p", type=float, default=0.0, help="Dropout probability.")
@opt("min_training_samples", type=int, default=None, help="Smallest training set (default 20, or pop_max_size/2 if less).")
@opt("max_training_samples", type=int, default=None, help="Largest training set (default pop_max_size-10).")
@opt("nonuniform_eval_pos", is_flag=True, help="Favour large training sets (weight 1/evaluation size).")
@size_distribution_option
@context_option
@opt("batch_size", type=int, default=8, help="Draws per micro-batch.")
@opt("lr", type=float, default=1e-4, help="Peak learning rate (AdamW, cosine schedule).")
@opt("warmup_steps", type=int, default=100, help="Linear warm-up steps.")
@opt("accumulation_steps", type=int, default=1, help="Micro-batches per optimiser step.")
@opt("loss_function", type=click.Choice(["bar", "bar_mse"]), default="bar", help="Bar-distribution NLL, or NLL + MSE.")
@opt("allow_tf32", is_flag=True, help="Allow TF32 matmuls on CUDA.")
@opt("no_bf16", is_flag=True, help="Disable bf16 autocast on CUDA.")
@opt("num_buckets", type=int, default=None, help="Buckets of the bar distribution (default 1,000, or half the border "
     "draws' target values where they are fewer).")
@opt("border_draws", type=int, default=100, help="Prior draws whose targets set the bucket borders.")
@opt("target", type=click.Choice(["g", "y"]), default="g", help="Predict true genetic values (g) or phenotypes (y).")
@opt("log_steps", type=int, default=10, help="Log every this many optimiser steps.")
@opt("checkpoint_steps", type=int, default=0, help="Checkpoint every this many steps (0: only at the end if set).")
@opt("checkpoint_path", default=None, help="Checkpoint file (default SAVE_PATH.ckpt).")
@click.option("--smoother-stats/--no-smoother-stats", "smoother_stats", default=True, show_default=True,
              help="Give every token each smoother's leave-one-out fit to the training phenotypes (MSE, r).")
@opt("init_from", default=None, type=click.Path(exists=True, dir_okay=False),
     help="Start from this model file's weights (its architecture and preprocessing; fresh optimiser); the new "
          "file keeps the whole training history.  Unless one of them is given, the file's training-set schedule "
          "(--pop-max-size, --min/--max-training-samples, --size-distribution, --context, --nonuniform-eval-pos) "
          "continues too.  A --smoothers list that extends the file's (e.g. gblup,sparse,bma for a gblup,sparse "
          "model) grows the model, the new inputs' weights starting at zero.")
@opt("resume", default=None, type=click.Path(exists=True, dir_okay=False), help="Continue exactly from a checkpoint.")
@opt("val_draws", type=int, default=50, help="Held-out prior draws for validation (model vs GBLUP).")
@opt("val_every", type=int, default=0, help="Validate every this many steps (0: at the end only).")
@opt("stack_draws", type=int, default=200,
     help="Fresh prior draws that fit, after training, the weights blending the network's mean with GBLUP averaged "
          "over h2, the leave-one-out choice among the smoother columns and GBLUP with a within-family kernel "
          "(needs the gblup smoother; 0: the network alone).  `gpfn stack MODEL` refits them for a file.")
@opt("stack_sizes", default=",".join(map(str, STACK_SIZES)), callback=lambda ctx, param, v: _sizes(v, "--stack-sizes"),
     help="Training-set sizes the stacking is fitted at (comma-separated; each size's draws have 200 more "
          "individuals as targets, and sizes whose draws exceed --pop-max-size are left out).")
@opt("max_steps", type=int, default=None, help="Stop after this many steps (the schedule still spans num_samples).")
@opt("tensorboard", default=None, metavar="DIR", help="Write TensorBoard logs here (needs tensorboard).")
@click.option("--no-progress", is_flag=True, help="Log lines instead of a progress bar.")
def fit(prior, store, follow, overrides, input_norm, no_input_norm, no_bf16, no_progress, **kw) -> None:
    """Fit a GPFN on draws of a prior, generated on the fly.

    \b
    Examples:
      gpfn fit --prior nam -o nam.gpfn --num-samples 200000 --device cuda
      torchrun --nproc_per_node 4 -m gpfn_cli.main fit --prior wild ...
    """
    from gpfn_core.net.config import FitConfig
    from gpfn_core.net.train import fit as run_fit

    if not prior and not store:
        raise click.UsageError("give --prior NAME (draws on the fly) or --store DIR")
    refuse(["follow"] if follow and not store else [], "follows a draw store being generated: give --store DIR")
    refuse(["delete_consumed"] if kw.get("delete_consumed") and not follow else [],
           "deletes the shards of a store being followed: use it with --follow")
    if store and not explicit("num_samples") and not (follow and prior):
        kw["num_samples"] = 0  # a store's draws: all of them (an existing store's size decides)
    if kw.get("init_from") and not store:
        kw.update(_schedule_of(kw["init_from"], click.get_current_context()))
    cfg = FitConfig(prior=prior or "", store=store, follow=follow, overrides=parse_overrides(overrides), input_norm="none" if no_input_norm else input_norm,
                    bf16=not no_bf16, **kw)
    stats = run_fit(cfg, progress=not no_progress, log=note)
    if stats:
        summary = {k: v for k, v in stats.items() if k != "history"}
        click.echo(json.dumps({"model": cfg.save_path, **summary}, indent=2, default=str))


# the options that set which training-set and population sizes the draws have (see gpfn_core.net.config.Schedule)
SCHEDULE_OPTIONS = ("pop_max_size", "min_training_samples", "max_training_samples", "size_distribution", "context",
                    "nonuniform_eval_pos")


def _schedule_of(model: str, ctx: click.Context) -> dict:
    """``--init-from``: the model file's schedule options, when the command line sets none of them
    (a continuation trains on the sizes the model was trained on; a user who gives any of them
    chooses a new schedule, and its other options keep their defaults)."""
    from click.core import ParameterSource

    from gpfn_core.net.modelfile import read_metadata

    if any(ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None) for name in SCHEDULE_OPTIONS):
        return {}
    fc = read_metadata(model).get("fit_config") or {}
    taken = {k: fc[k] for k in SCHEDULE_OPTIONS if k in fc and fc[k] != ctx.params.get(k)}
    if taken:
        click.echo(f"--init-from {model}: continuing its training-set schedule ("
                   + "; ".join(f"{k} {v!r}" for k, v in taken.items()) + ")", err=True)
    return taken


def _sizes(value, hint: str) -> tuple[int, ...]:
    """``"30,100"`` -> ``(30, 100)``: positive integers, else a usage error naming ``hint``."""
    try:
        sizes = tuple(sorted({int(v) for v in str(value).split(",") if v.strip()}))
    except ValueError:
        sizes = ()
    if not sizes or sizes[0] < 3:
        raise click.BadParameter(f"expected comma-separated training-set sizes of at least 3, got {value!r}",
                                 param_hint=hint)
    return sizes


@click.command("stack")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--draws", type=int, default=200, show_default=True, help="Fresh draws of the model's prior to fit on.")
@click.option("--seed", type=int, default=None, help="Prior seed of the draws (default the file's).")
@click.option("--sizes", default=None, callback=lambda ctx, param, v: None if v is None else _sizes(v, "--sizes"),
              help="Training-set sizes to fit at, comma-separated (default the file's --stack-sizes, else "
                   "30,100,300,1000).")
@click.option("--set", "overrides", multiple=True, metavar="NAME=VALUE",
              help="Fit on the model's prior with this hyperparameter changed (as gpfn fit --set), e.g. "
                   "family_share=0:0.5; recorded with the stacking.  Repeatable.")
@click.option("--add", is_flag=True, help="Fit only --sizes and keep the file's other fitted sizes (the same prior "
              "seed and --set as they were fitted with), e.g. --sizes 2500 --add.")
def stack(model, draws, seed, sizes, overrides, add) -> None:
    """Fit the stacking of MODEL and record it in the file (network unchanged).

    `gpfn predict` then blends the network's mean with closed-form predictions from
    all training individuals, mean = w * network + a1 * GBLUP averaged over h2 (marginal
    likelihood) + a2 * the smoother columns weighed by their leave-one-out fit (pseudo-BMA+)
    + a3 * GBLUP with a
    within-family kernel (families from the genomic relationships) averaged over h2 and
    the family share of the genetic variance + a4 * large marker effects found by
    Bayesian single-effect regressions plus that family GBLUP of the rest (+ a5 * BayesB's
    posterior mean from a short seeded chain, at sizes of 2,000 or more), with the weights
    (summing to one, grid 0.05) that gave the highest mean r on fresh draws of the
    model's prior with as many training individuals (fitted at each of --sizes,
    interpolated in log n between them), and widens or narrows the intervals by the
    factor that gave them 90% coverage on those draws.  `gpfn fit` does this itself
    (--stack-draws); this is for files fitted before it, or to refit on more draws.
    """
    from gpfn_core.net.stackfit import stack_model_file

    if draws < 1:
        raise click.BadParameter(f"must be at least 1, got {draws}", param_hint="--draws")
    if add and not sizes:
        raise click.BadParameter("--add needs the sizes to add", param_hint="--sizes")
    res = stack_model_file(model, draws=draws, seed=seed, sizes=sizes, overrides=parse_overrides(overrides),
                           log=note, add=add)
    click.echo(json.dumps({"model": model, **res}, indent=2))
