"""The ``gpfn`` command line."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click

from gpfn_core import __version__
from gpfn_core.errors import GpfnError


class GpfnGroup(click.Group):
    """Turns :class:`GpfnError` into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GpfnError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


def registry():
    from gpfn_core.registry import GpfnPluginWarning, get_registry

    with warnings.catch_warnings():
        # `gpfn plugins` shows problems in its table; other commands print them once here.
        warnings.simplefilter("ignore", GpfnPluginWarning)
        reg = get_registry()
    return reg


def warn_problems(reg) -> None:
    for p in reg.problems:
        click.echo(f"Warning: {p}", err=True)


@click.group(cls=GpfnGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="gpfn")
@click.option("-q", "--quiet", is_flag=True, help="Only print results and errors.")
def main(quiet: bool) -> None:
    """gpfn: Genomic Prior-Data Fitted Networks.

    Simulate breeding programs (priors), fit transformers on their draws, and predict
    genomic estimated breeding values of a target population in one forward pass.

    \b
    Plugins (schemes, priors, selectors, readers) come from installed packages;
    `gpfn plugins` lists them.
    """
    import logging

    # gpfn's own progress messages only (libraries such as msprime log at INFO too).
    logger = logging.getLogger("gpfn")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("gpfn: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


@main.command("plugins")
@click.option("--kind", type=click.Choice(["scheme", "prior", "selector", "reader"]), help="Only this kind.")
def plugins_cmd(kind: str | None) -> None:
    """List installed plugins: kind, name, providing distribution and one-line description."""
    reg = registry()
    rows = [(e.kind, e.name, f"{e.distribution} {e.version}".strip(), e.description) for e in reg.entries(kind)]
    if kind in (None, "prior"):
        own = set(reg.names("prior"))
        for e in reg.entries("scheme"):
            if e.name not in own:
                rows.append(("prior", e.name, f"{e.distribution} {e.version}".strip(), f"generic prior over scheme '{e.name}'"))
    rows.sort(key=lambda r: (["scheme", "prior", "selector", "reader"].index(r[0]), r[1]))
    _table(("kind", "name", "from", "description"), rows)
    if reg.problems:
        click.echo("\nProblems:", err=True)
        for p in reg.problems:
            click.echo(f"  {p}", err=True)


def _table(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for j, r in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            click.echo("  ".join("-" * w for w in widths))


from gpfn_cli import demo_cmd, fit_cmd, generate_cmd, parse_cmd, predict_cmd, prior_cmd  # noqa: E402

main.add_command(demo_cmd.demo)
main.add_command(parse_cmd.parse)
main.add_command(predict_cmd.predict)
main.add_command(predict_cmd.evaluate)
main.add_command(predict_cmd.models)
main.add_command(parse_cmd.inspect)
main.add_command(prior_cmd.prior)
main.add_command(fit_cmd.fit)
main.add_command(fit_cmd.stack)
main.add_command(generate_cmd.generate)

if __name__ == "__main__":  # pragma: no cover
    main()
