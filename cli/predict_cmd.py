"""``gpfn predict``."""

from __future__ import annotations

from pathlib import Path

import click

from gpfn_cli.common import bound_threads, explicit, note, refuse


@click.command("predict")
@click.option("--model", "model", default=None, type=click.Path(path_type=Path),
              help="Model file (gpfn fit); default: the shipped model for --population-type.")
@click.option("--population-type", default=None,
              help="Which shipped model to use without --model: nam, diverse, silva, ril, recurrent, outbred, hybrid, universal "
                   "(default: universal where it is at least as accurate as each type's own model, else nam; "
                   "see `gpfn models`).")
@click.option("--train", "train", required=True, type=click.Path(path_type=Path),
              help="Training Dataset with phenotypes (gpfn parse --phenotypes).")
@click.option("--target", "target", required=True, type=click.Path(path_type=Path), help="Target Dataset.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@click.option("--phenotype", default=None, help="Phenotype column of the training dataset (default: its first); a "
              "comma-separated list, or 'all', predicts each in one run (columns NAME_mean, NAME_sd, NAME_q05, "
              "NAME_q95).")
@click.option("--normalized", is_flag=True, help="Predictions on the standardised scale instead of the phenotype's.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, ...")
@click.option("--ensemble", type=int, default=None,
              help="Subsets to average when the training set exceeds the model's context (default: automatic).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for subsets and selectors.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--covariates", default=None, metavar="A,B", help="Columns of the phenotype file (locations, years, "
              "blocks: words or numbers) fitted as fixed effects on the training individuals and taken out of their "
              "phenotypes; the targets get breeding values, without covariate effects.")
@click.option("--max-memory", type=float, default=None, metavar="GIB",
              help="Memory allowed, in GiB (default: the memory available): targets that would not fit at once "
                   "are preprocessed in passes (targets_per_pass), and a job that would not fit even so is refused "
                   "before it starts; the estimate is printed as memory_estimate.")
@click.option("--solver", type=click.Choice(["auto", "dense", "iterative"]), default="auto", show_default=True,
              help="dense: the relationships decomposed (n x n); iterative: no n x n matrix (conjugate gradients "
                   "through the genotypes, memory and time about linear in the training set), for training sets "
                   "past what the dense path holds; auto: dense where it fits in the memory allowed, else iterative.")
def predict(model, population_type, train, target, out, phenotype, normalized, device, ensemble, seed,
            force, covariates, max_memory, solver) -> None:
    """Predict breeding values (mean, sd, q05, q95) of the TARGET individuals."""
    from gpfn_core.tasks.predict import predict as run

    model = _chosen_model(model, population_type)
    report = run(model, train, target, out, phenotype=phenotype, normalized=normalized, device=device,
                 ensemble=ensemble, seed=seed, overwrite=force, covariates=_names(covariates),
                 max_memory=None if max_memory is None else max_memory * 2**30, solver=solver, log=note)
    for k, v in report.items():
        note(f"{k}: {v}")
    if report["ensemble_members"] > 1:
        note(f"note: {report['training_taxa']} training taxa exceed the model's context of {report['context']}; "
             f"averaged {report['ensemble_members']} random subsets")
    click.echo(str(out))


@click.command("evaluate")
@click.argument("dataset", required=False, type=click.Path(path_type=Path))
@click.option("--model", "model", default=None, type=click.Path(path_type=Path),
              help="Model file; default: the shipped model for --population-type.")
@click.option("--population-type", default=None,
              help="Which shipped model to use without --model (default as in gpfn predict).")
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-validation folds over DATASET.")
@click.option("--groups", default=None, help="Folds of whole groups: a column of the phenotype file (families, "
              "genetic groups), a CSV of taxon,group, or 'genomic' (clusters of the genomic relationships); each group "
              "left out whole, one per fold up to --folds groups.  Two columns, e.g. 'female,male' (the parents "
              "gpfn parse --crosses keeps): crosses with both parents untested (T0); crosses with one of them are in "
              "neither set of that fold.")
@click.option("--covariates", default=None, metavar="A,B", help="Columns of the phenotype file fitted as fixed "
              "effects on each fold's training individuals and taken out of the phenotypes before predicting and "
              "scoring.")
@click.option("--train", "train", type=click.Path(path_type=Path), default=None, help="Training Dataset (instead of folds).")
@click.option("--target", "target", type=click.Path(path_type=Path), default=None,
              help="Target Dataset with observed phenotypes.")
@click.option("--phenotype", default=None, help="Phenotype column (default: the first); a comma-separated list or "
              "'all' evaluates each.")
@click.option("--png", type=click.Path(path_type=Path), default=None, help="Write a scatter + accuracy plot here.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the per-fold results as JSON.")
@click.option("--methods", default="gpfn,gblup,ridge", show_default=True,
              help="Comma-separated among gpfn, gblup, gblup-cg (GBLUP with no n x n matrix: conjugate gradients "
                   "and randomised-trace REML, for training sets past what dense GBLUP holds), ridge, elasticnet "
                   "(3-fold CV), rkhs (Gaussian kernels, bandwidths averaged by REML likelihood), bayesb, bayescpi "
                   "(the Bayesian samplers take minutes on large sets).")
@click.option("--iterations", type=int, default=6000, show_default=True, help="BayesB/BayesCπ Gibbs iterations.")
@click.option("--burn-in", type=int, default=1000, show_default=True, help="BayesB/BayesCπ iterations discarded.")
def evaluate(dataset, model, population_type, folds, groups, covariates, train, target, phenotype, png, seed, device,
             as_json, methods, iterations, burn_in) -> None:
    """Compare GPFN with GBLUP, ridge regression and optionally RKHS, BayesB/BayesCπ on the same folds
    (Pearson, Spearman, RMSE, time)."""
    import json

    from gpfn_core.tasks.evaluate import evaluate as run, parse_methods, plot
    from gpfn_core.models.lookup import shipped_model

    refuse(["population_type"] if model is not None and population_type else [],
           "chooses a shipped model; --model names one already: give one of them")
    refuse(explicit("folds") if train is not None or target is not None else [],
           "cross-validates DATASET; with --train and --target there is one split: give one of them")
    if dataset is not None and (train is not None or target is not None):
        raise click.UsageError("give DATASET (cross-validation with --folds) or --train and --target, not both")
    methods = parse_methods(methods)
    bound_threads()
    if model is None and "GPFN" in methods:
        model, line = shipped_model(population_type)
        note(line)

    refuse(["groups"] if groups and dataset is None else [], "makes folds of DATASET: give DATASET, not --train "
           "and --target")
    res = run(model, dataset=dataset, folds=folds, train=train, target=target, phenotype=phenotype, seed=seed,
              device=device, methods=methods, iterations=iterations, burn_in=burn_in, groups=groups,
              covariates=_names(covariates))
    if as_json:
        click.echo(json.dumps({"traits": {t: {"summary": r["summary"], "folds": r["folds"],
                                              **({"covariate_effects": r["covariate_effects"]}
                                                 if "covariate_effects" in r else {})}
                                          for t, r in res["traits"].items()},
                               "summary": res["summary"], "folds": res["folds"], "fold_info": res["fold_info"]},
                              indent=2))
    else:
        if len(res["fold_info"]) > 1 and groups:
            for f in res["fold_info"]:
                note(f"fold {f['fold']}: {f['size']} taxa, groups {', '.join(f['groups'])}")
        click.echo(f"{'trait':12}  {'method':8}  {'pearson':>8}  {'spearman':>8}  {'rmse':>10}  {'seconds':>8}")
        for trait, r in res["traits"].items():
            for m in methods:
                s = r["summary"][m]
                click.echo(f"{trait[:12]:12}  {m:8}  {s['pearson']:8.3f}  {s['spearman']:8.3f}  {s['rmse']:10.4g}  "
                           f"{s['seconds']:8.2f}")
            if "covariate_effects" in r:
                click.echo(f"{trait}: covariate effects (mean over folds) " + ", ".join(
                    f"{k} {v:+.4g}" for k, v in r["covariate_effects"].items()), err=True)
    if png:
        click.echo(f"plot: {plot(res, png)}", err=True)


@click.command("models")
@click.option("--brief", is_flag=True, help="One line per model instead of its card.")
def models(brief) -> None:
    """List the shipped (and $GPFN_MODELS) models with their cards, then the matrix of
    every model on every prior's held-out draws (what choosing the wrong type costs)."""
    from gpfn_core.models.cards import card, matrix_table
    from gpfn_core.models.scoring import current
    from gpfn_core.models.lookup import list_models, model_dirs, population_types

    found = list_models()
    if not found:
        click.echo(f"no models installed in {', '.join(map(str, model_dirs()))}")
        return
    for path, meta in found:
        if brief:
            res = current(path, meta)["matrix"]
            drawn, row = next(((k, res[k]) for k in ("final", "selection") if res.get(k)), (None, {}))
            h = row.get(meta.get("prior"))
            types = ",".join(population_types(meta.get("prior")))
            what = (f"held-out r {h['model_r']:.3f} vs GBLUP {h['gblup_r']:.3f} ({drawn} draws)" if h
                    else "not measured since the last change")
            click.echo(f"{path}  prior {meta.get('prior')} ({types})  {meta.get('n_parameters', 0) / 1e6:.2f} M "
                       f"parameters  {what}")
        else:
            click.echo(card(path, meta))
    table = matrix_table(found)
    if table:
        click.echo(("\n" if brief else "") + table)


def _chosen_model(model: Path | None, population_type: str | None) -> Path:
    """The model file a prediction uses: ``--model``, or the shipped one for ``--population-type``
    (named on stderr); the BLAS threads bound to this process's cores first."""
    from gpfn_core.models.lookup import shipped_model

    refuse(["population_type"] if model is not None and population_type else [],
           "chooses a shipped model; --model names one already: give one of them")
    bound_threads()
    if model is None:
        model, line = shipped_model(population_type)
        note(line)
    return model


def _names(spec: str | None) -> list[str] | None:
    return [n.strip() for n in spec.split(",") if n.strip()] if spec else None


@click.command("cross")
@click.option("--model", "model", default=None, type=click.Path(path_type=Path),
              help="Model file (gpfn fit); default: the shipped model for --population-type.")
@click.option("--population-type", default=None, help="Which shipped model to use without --model (as gpfn predict).")
@click.option("--train", "train", required=True, type=click.Path(path_type=Path),
              help="Training Dataset with phenotypes (gpfn parse --phenotypes).")
@click.option("--parents", "parents", required=True, type=click.Path(path_type=Path),
              help="Dataset of the genotyped parent lines (gpfn parse).")
@click.option("--crosses", "crosses", required=True, type=click.Path(path_type=Path),
              help="CSV/TSV of the planned crosses: name, parent 1, parent 2 (its first three columns); 'all' for "
                   "every pair of the parents.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@click.option("--phenotype", default=None, help="Phenotype column (default: the first); a comma-separated list or "
              "'all' for several (columns NAME_mean, NAME_sd, NAME_usefulness).")
@click.option("--progeny", type=click.Choice(["ril", "dh", "f2"]), default="ril", show_default=True,
              help="What each cross's progeny are: recombinant inbred lines (single-seed descent from the F1), "
                   "doubled haploids of the F1, or F2 plants.")
@click.option("--lines", type=int, default=100, show_default=True, help="Progeny simulated per cross.")
@click.option("--selfing", type=int, default=6, show_default=True, help="Generations of selfing for --progeny ril.")
@click.option("--selected", type=float, default=0.1, show_default=True,
              help="Share of each cross's progeny a breeder keeps: usefulness = mean + i sd at its selection "
                   "intensity i.")
@click.option("--lower", is_flag=True, help="Lower values are better (usefulness = mean - i sd), for every trait "
              "predicted (run once per direction where traits differ).")
@click.option("--map", "map_path", default=None, type=click.Path(path_type=Path),
              help="Genetic map: CSV/TSV of marker, chromosome, position in cM (default: each chromosome one "
                   "Morgan, markers placed by base-pair position).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the meioses, subsets and selectors.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, ...")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@click.option("--max-memory", type=float, default=None, metavar="GIB",
              help="Memory allowed, in GiB (default: the memory available), as for gpfn predict.")
def cross(model, population_type, train, parents, crosses, out, phenotype, progeny, lines, selfing, selected, lower,
          map_path, seed, device, force, max_memory) -> None:
    """Rank planned crosses by their progeny: each cross's lines are simulated from its
    parents' genotypes (meiosis on a genetic map) and predicted as gpfn predict's targets;
    the CSV gives their mean, sd and usefulness (mean + i sd) per cross."""
    from gpfn_core.tasks.cross import predict_crosses

    model = _chosen_model(model, population_type)
    report = predict_crosses(model, train, parents, crosses, out, phenotype=phenotype, progeny=progeny, lines=lines,
                             selfing=selfing, selected=selected, lower=lower, map_path=map_path, seed=seed,
                             device=device, overwrite=force,
                             max_memory=None if max_memory is None else max_memory * 2**30, log=note)
    for k, v in report.items():
        note(f"{k}: {v}")
    click.echo(str(out))


@click.command("trainset")
@click.option("--candidates", required=True, type=click.Path(path_type=Path),
              help="Dataset of the genotyped lines that could be phenotyped (gpfn parse).")
@click.option("--targets", required=True, type=click.Path(path_type=Path),
              help="Dataset of the lines to be predicted (selection candidates, untested crosses).")
@click.option("--size", required=True, type=int, help="Lines to phenotype.")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="CSV to write.")
@click.option("--h2", type=float, default=0.5, show_default=True, help="Heritability assumed by the criterion.")
@click.option("--phenotyped", default=None, type=click.Path(path_type=Path),
              help="Dataset whose taxa among the candidates are phenotyped already: they stay in, and --size lines "
                   "are added.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def trainset_cmd(candidates, targets, size, out, h2, phenotyped, force) -> None:
    """Choose which candidates to phenotype so that the targets are predicted best: the
    lines that raise the targets' mean GBLUP reliability most, one at a time (CDmean's
    idea); the report sets a random training set of the same size beside it."""
    from gpfn_core.tasks.trainset import trainset

    bound_threads()
    report = trainset(candidates, targets, out, size, h2=h2, phenotyped=phenotyped, overwrite=force)
    for k, v in report.items():
        note(f"{k}: {v}")
    click.echo(str(out))
