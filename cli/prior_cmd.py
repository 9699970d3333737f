"""``gpfn prior``: list priors, show their hyperparameters, look at one draw."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from gpfn_cli.common import founders_option, parse_overrides, registry, set_option, table


@click.group("prior")
def prior() -> None:
    """Inspect priors: their hyperparameters and individual draws."""


@prior.command("list")
def prior_list() -> None:
    """List the priors that `gpfn fit --prior` accepts."""
    reg = registry()
    rows = []
    for name in reg.prior_names():
        p = reg.make_prior(name, founders="random")
        rows.append((name, p.description))
    table(("prior", "description"), rows)


@prior.command("show")
@click.argument("name")
@click.option("--seed", type=int, default=0, show_default=True, help="Prior seed.")
@click.option("--index", type=int, default=0, show_default=True, help="Draw index.")
@click.option("--no-draw", is_flag=True, help="Only list the hyperparameters.")
@set_option
@founders_option
@click.option("--selector", default=None, metavar="NAME",
              help="Also preprocess the draw with this feature selector (see `gpfn plugins --kind selector`).")
@click.option("--features", type=int, default=100, show_default=True, help="Number of features for --selector.")
@click.option("--json", "as_json", is_flag=True, help="Print the draw's hyperparameters and statistics as JSON.")
def prior_show(name: str, seed: int, index: int, no_draw: bool, overrides, founders: str, selector: str | None,
               features: int, as_json: bool) -> None:
    """Show prior NAME's hyperparameters and one draw's summary statistics."""
    reg = registry()
    pr = reg.make_prior(name, seed=seed, overrides=parse_overrides(overrides), founders=founders)
    if not as_json:
        click.echo(f"prior {name}: {pr.description}\n")
        table(("hyperparameter", "type", "range", "meaning"),
               [(p.name, p.kind, p.low if p.fixed else f"{p.low} .. {p.high}" + ("" if p.scale == "uniform" else f" ({p.scale})"), p.help) for p in pr.hyperparameter_space()])
    if no_draw:
        return
    t0 = time.perf_counter()
    d = pr.draw(index)
    seconds = time.perf_counter() - t0
    stats = draw_summary(d)
    stats["seconds"] = round(seconds, 3)
    if selector:
        from gpfn_core.net.preprocess import preprocess_draw

        sel = reg.get("selector", selector)(features, seed=seed)
        t0 = time.perf_counter()
        p = preprocess_draw(d, sel)
        stats["features"] = f"{p.x.shape[1]} ({selector})"
        stats["preprocess_seconds"] = round(time.perf_counter() - t0, 3)
    if as_json:
        click.echo(json.dumps({"params": d.params, "stats": stats}, indent=2, default=float))
        return
    click.echo(f"\ndraw seed={seed} index={index}\n")
    table(("hyperparameter", "value"), [(k, _fmt(v)) for k, v in d.params.items()])
    click.echo("")
    table(("statistic", "value"), [(k, _fmt(v)) for k, v in stats.items()])


@prior.command("draw")
@click.argument("name")
@click.option("-o", "--out", required=True, type=click.Path(path_type=Path), help="Folder to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Prior seed.")
@click.option("--index", type=int, default=0, show_default=True, help="Draw index.")
@set_option
@founders_option
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def prior_draw(name: str, out: Path, seed: int, index: int, overrides, founders: str, force: bool) -> None:
    """Write one draw of prior NAME as Datasets: OUT/train.gpfn (phenotypes), OUT/target.gpfn
    (the targets' true genetic values, for `gpfn evaluate --train --target`) and OUT/draw.json."""
    from gpfn_core.tasks.generate import export_draw

    pr = registry().make_prior(name, seed=seed, overrides=parse_overrides(overrides), founders=founders)
    info = export_draw(pr.draw(index), out, overwrite=force)
    click.echo(f"{out}: {info['train']} training + {info['target']} target individuals x {info['markers']} markers "
               f"(train.gpfn, target.gpfn, draw.json)")


def draw_summary(d) -> dict:
    from gpfn_core.data.encoding import alt_frequency

    x = d.x.astype(np.float64)
    observed = d.x >= 0
    p = alt_frequency(d.x)
    maf = np.minimum(p, 1 - p)
    g, y = d.g.astype(np.float64), d.y.astype(np.float64)
    tr = slice(0, d.n_train)
    return {
        "individuals": d.n,
        "train": d.n_train,
        "eval": d.n_eval,
        "markers": x.shape[1],
        "polymorphic_markers": int((maf > 0).sum()),
        "mean_maf": float(maf.mean()),
        "heterozygosity": float((d.x == 1).mean()),
        "missing_fraction": float((~observed).mean()),
        "realized_h2_train": float(np.var(g[tr]) / np.var(y[tr])) if np.var(y[tr]) > 0 else float("nan"),
        "phenotype_mean": float(y.mean()),
        "phenotype_sd": float(y.std()),
    }


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
