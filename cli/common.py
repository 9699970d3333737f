"""What several ``gpfn`` commands share: option decorators, ``--set`` parsing, the plugin
registry (its problems printed once), and plain-text tables."""

from __future__ import annotations

import warnings
from typing import Any

import click

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


def opt(name: str, *aliases: str, **kw):
    """An option spelled both ``--with-dashes`` and as the original's ``--with_underscores``."""
    dashed = "--" + name.replace("_", "-")
    names = [dashed] if "_" not in name else [dashed, "--" + name]
    return click.option(*names, *aliases, name, show_default=True, **kw)


# the training-set schedule's options, shared with `gpfn generate` (a store records its schedule)
size_distribution_option = opt(
    "size_distribution", type=click.Choice(["uniform", "loguniform"]), default="uniform",
    help="Training-set sizes between the smallest and largest: uniform, or log-uniform (as many small as large).")
context_option = opt(
    "context", type=int, default=None, help="Most training (and target) tokens the transformer sees per draw; the "
    "population grows with the training set up to pop_max_size and the smoothers see all of it, as predict does "
    "beyond the model's context (default: whole draws).")


def registry():
    from gpfn_core.registry import GpfnPluginWarning, get_registry

    with warnings.catch_warnings():
        # `gpfn plugins` shows problems in its table; other commands print them once here.
        warnings.simplefilter("ignore", GpfnPluginWarning)
        reg = get_registry()
    return reg


def quiet() -> bool:
    """Whether ``gpfn -q`` was given."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("quiet"))


def note(message: str) -> None:
    """A report or progress line on stderr, left out under ``gpfn -q`` (which prints only
    results, warnings and errors)."""
    if not quiet():
        click.echo(message, err=True)


def warn_problems(reg) -> None:
    for p in reg.problems:
        click.echo(f"Warning: {p}", err=True)


def table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            click.echo("  ".join("-" * w for w in widths))


def explicit(*names: str) -> list[str]:
    """Which of the current command's parameters ``names`` the user gave (not their defaults)."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return [n for n in names if ctx.get_parameter_source(n) not in (ParameterSource.DEFAULT, None)]


def flag(name: str) -> str:
    """The option a parameter name is typed as: ``feature_max_size`` -> ``--feature-max-size``."""
    ctx = click.get_current_context()
    for p in ctx.command.params:
        if p.name == name and isinstance(p, click.Option):
            return next((o for o in p.opts if o.startswith("--") and "_" not in o), p.opts[0])
    return name


def refuse(names: list[str], why: str) -> None:
    """A usage error (exit 2) naming the options ``names`` and why they cannot be used so."""
    if names:
        raise click.UsageError(f"{', '.join(flag(n) for n in names)}: {why}")


def bound_threads() -> None:
    """Predicting and evaluating use the cores this process may use (its affinity and cgroup
    quota, or OMP_NUM_THREADS), one BLAS pool each, as generate and fit do: on a shared
    server a pool as wide as the machine spins against the other jobs."""
    from gpfn_core.threads import limit_threads, threads_for

    limit_threads(threads_for(1)[0])
