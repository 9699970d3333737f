"""``gpfn demo``: the quick start in one command."""

from __future__ import annotations

import csv
from pathlib import Path

import click
import numpy as np


@click.command("demo")
@click.option("-o", "--out", default="gpfn-demo", show_default=True, type=click.Path(path_type=Path),
              help="Folder for the parsed datasets and predictions.csv (the demo's own files in it are replaced).")
@click.option("--model", "model", default=None, type=click.Path(path_type=Path),
              help="Model file (default: the shipped model for --population-type).")
@click.option("--population-type", default="nam", show_default=True, help="Which shipped model to use.")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda, ...")
def demo(out, model, population_type, device) -> None:
    """Predict the bundled example's targets with the shipped model.

    \b
    The example is a NAM population simulated by gpfn (210 phenotyped training and 90
    target individuals from unseen families, 2,000 SNPs as HapMap).  The demo runs
      gpfn parse train.hmp.txt --phenotypes train_phenotypes.csv -o OUT/train.gpfn
      gpfn parse target.hmp.txt -o OUT/target.gpfn
      gpfn predict --train OUT/train.gpfn --target OUT/target.gpfn -o OUT/predictions.csv
    and then scores the predictions, and GBLUP's, against the simulated true values.
    """
    from gpfn_core.data.dataset import read_dataset
    from gpfn_core.example_data import FILES
    from gpfn_core.linear.gblup import gblup
    from gpfn_core.models.lookup import find_model
    from gpfn_core.tasks.parse import parse
    from gpfn_core.tasks.predict import align, predict

    from gpfn_cli.common import bound_threads

    bound_threads()
    out.mkdir(parents=True, exist_ok=True)
    if model is None:
        model = find_model(population_type)
        click.echo(f"model: {model} (shipped, population type {population_type})", err=True)
    train, target, csv_path = out / "train.gpfn", out / "target.gpfn", out / "predictions.csv"
    parse(FILES["train"], train, phenotypes=FILES["phenotypes"], overwrite=True)
    parse(FILES["target"], target, overwrite=True)
    tr, tg = read_dataset(train), read_dataset(target)
    click.echo(f"parsed {tr.table.n_taxa} training individuals ({', '.join(tr.phenotype_names)}) and "
               f"{tg.table.n_taxa} targets x {tr.table.n_markers} markers into {out}/", err=True)
    report = predict(model, train, target, csv_path, device=device, overwrite=True)
    with open(csv_path, newline="") as f:
        rows = {row["taxon"]: row for row in csv.DictReader(f)}
    pred = {t: float(row["mean"]) for t, row in rows.items()}
    with open(FILES["truth"], newline="") as f:
        truth = {row["taxon"]: float(row["genetic_value"]) for row in csv.DictReader(f)}
    taxa = list(tg.table.taxa)
    g = np.array([truth[t] for t in taxa])
    r_gpfn = float(np.corrcoef([pred[t] for t in taxa], g)[0, 1])
    al = align(tr, tg)
    r_gblup = float(np.corrcoef(gblup(al.train, tr.phenotype(), al.target).prediction, g)[0, 1])
    click.echo(f"predicted {report['targets']} targets on {report['device']} "
               f"(columns: taxon, mean, sd, q05, q95 on the phenotype's scale)", err=True)
    if report.get("stack_weights"):
        w = report["stack_weights"]
        click.echo(f"mean = {w[0]:.2f} x the network's + {w[1]:.2f} x GBLUP averaged over h2 + {w[2]:.2f} x the "
                   f"smoother columns weighed by their leave-one-out fit + {w[3]:.2f} x GBLUP with a within-family kernel + "
                   f"{w[4]:.2f} x large marker effects plus family GBLUP of the rest"
                   + (f" + {w[5]:.2f} x BayesB's posterior mean (a short chain)" if len(w) > 5 and w[5] else "")
                   + f", intervals x {report['interval_scale']:.2f} (the "
                   f"model's stacking at {report['training_taxa']} training individuals)", err=True)
    click.echo(f"accuracy against the simulated true genetic values (Pearson r): "
               f"GPFN {r_gpfn:.3f}, GBLUP {r_gblup:.3f}", err=True)
    q05, q95 = (np.array([float(rows[t][q]) for t in taxa]) for q in ("q05", "q95"))
    sd = np.array([float(rows[t]["sd"]) for t in taxa])
    click.echo(f"uncertainty: the 90% intervals [q05, q95] hold {int(((q05 <= g) & (g <= q95)).sum())} of "
               f"{len(g)} true values; mean reported sd {sd.mean():.2f} (sd of the true values {g.std():.2f}, "
               f"of the prediction errors {np.std(np.array([pred[t] for t in taxa]) - g):.2f})", err=True)
    click.echo(f"predictions: {csv_path}")
