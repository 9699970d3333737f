"""``gpfn prior``: list priors, show their hyperparameters, look at one draw."""

from __future__ import annotations

import json
import time

import click
import numpy as np

from gpfn_core.errors import ValidationError


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("h2=0.5", "n_qtl=10:20")`` -> dict; values are checked by the prior."""
    out: dict[str, str] = {}
    for item in pairs:
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValidationError(f"--set expects NAME=VALUE, NAME=LOW:HIGH or NAME=LOW:HIGH:SCALE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


set_option = click.option(
    "--set", "overrides", multiple=True, metavar="NAME=VALUE",
    help="Fix a hyperparameter (h2=0.5), change its range (n_qtl=10:20, keeping its scale) or its range "
         "and scale (poly_share=0:0.9:uniform; scales: uniform, log, log-complement). Repeatable.",
)
founders_option = click.option(
    "--founders", type=click.Choice(["msprime", "random"]), default="msprime", show_default=True,
    help="Founder source: msprime coalescent pool (cached after first use) or fast random founders.",
)


@click.group("prior")
def prior() -> None:
    """Inspect priors: their hyperparameters and individual draws."""


@prior.command("list")
def prior_list() -> None:
    """List the priors that `gpfn fit --prior` accepts."""
    from gpfn_cli.main import _table, registry

    reg = registry()
    rows = []
    for name in reg.prior_names():
        p = reg.make_prior(name, founders="random")
        rows.append((name, p.description))
    _table(("prior", "description"), rows)


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
    from gpfn_cli.main import _table, registry

    reg = registry()
    pr = reg.make_prior(name, seed=seed, overrides=parse_overrides(overrides), founders=founders)
    if not as_json:
        click.echo(f"prior {name}: {pr.description}\n")
        _table(("hyperparameter", "type", "range", "meaning"),
               [(p.name, p.kind, p.low if p.fixed else f"{p.low} .. {p.high}" + ("" if p.scale == "uniform" else f" ({p.scale})"), p.help) for p in pr.hyperparameter_space()])
    if no_draw:
        return
    t0 = time.perf_counter()
    d = pr.draw(index)
    seconds = time.perf_counter() - t0
    stats = draw_summary(d)
    stats["seconds"] = round(seconds, 3)
    if selector:
        from gpfn_core.preprocess import preprocess_draw

        sel = reg.get("selector", selector)(features, seed=seed)
        t0 = time.perf_counter()
        p = preprocess_draw(d, sel)
        stats["features"] = f"{p.x.shape[1]} ({selector})"
        stats["preprocess_seconds"] = round(time.perf_counter() - t0, 3)
    if as_json:
        click.echo(json.dumps({"params": d.params, "stats": stats}, indent=2, default=float))
        return
    click.echo(f"\ndraw seed={seed} index={index}\n")
    _table(("hyperparameter", "value"), [(k, _fmt(v)) for k, v in d.params.items()])
    click.echo("")
    _table(("statistic", "value"), [(k, _fmt(v)) for k, v in stats.items()])


def draw_summary(d) -> dict:
    from gpfn_core.preprocess import alt_frequency

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
