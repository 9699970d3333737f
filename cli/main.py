"""The ``gpfn`` command line."""

from __future__ import annotations

import sys
from typing import Any

import click

from gpfn_core.version import __version__
from gpfn_core.errors import GpfnError


class GpfnGroup(click.Group):
    """Turns :class:`GpfnError` into a one-line message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GpfnError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(1)


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


from gpfn_cli import demo_cmd, fit_cmd, generate_cmd, parse_cmd, plugins_cmd, predict_cmd, prior_cmd  # noqa: E402

main.add_command(plugins_cmd.plugins_cmd)
main.add_command(demo_cmd.demo)
main.add_command(parse_cmd.parse)
main.add_command(predict_cmd.predict)
main.add_command(predict_cmd.cross)
main.add_command(predict_cmd.trainset_cmd)
main.add_command(predict_cmd.evaluate)
main.add_command(predict_cmd.models)
main.add_command(parse_cmd.inspect)
main.add_command(prior_cmd.prior)
main.add_command(fit_cmd.fit)
main.add_command(fit_cmd.stack)
main.add_command(generate_cmd.generate)

if __name__ == "__main__":  # pragma: no cover
    main()
