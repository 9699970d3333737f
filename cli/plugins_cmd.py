"""``gpfn plugins``: what is installed, and where it came from."""

from __future__ import annotations

import click

from gpfn_cli.common import registry, table


@click.command("plugins")
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
    table(("kind", "name", "from", "description"), rows)
    if reg.problems:
        click.echo("\nProblems:", err=True)
        for p in reg.problems:
            click.echo(f"  {p}", err=True)
