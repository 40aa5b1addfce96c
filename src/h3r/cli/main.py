"""The ``h3r`` command line: one click group, one module per subcommand group."""

import click

from h3r import __version__
from h3r.cli.analyze import analyze
from h3r.cli.evaluate import evaluate
from h3r.cli.export import export
from h3r.cli.predict import predict
from h3r.cli.train import train


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="h3r")
def cli() -> None:
    """Sub-pixel landmark localization by heatmap regression via randomized rounding."""


cli.add_command(analyze)
cli.add_command(evaluate)
cli.add_command(export)
cli.add_command(predict)
cli.add_command(train)
