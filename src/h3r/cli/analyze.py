"""``h3r analyze``: the paper's analyses as commands."""

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from h3r.analysis.quantization import CODEC_NAMES, STRIDES, plot_study, quantization_study
from h3r.cli.options import check_outputs, force_option
from h3r.codecs import CODECS
from h3r.utils.io import atomic_write_text
from h3r.utils.malloc import tune_allocator


@click.group()
def analyze() -> None:
    """Analyses of the quantization system."""


def _comma_list(convert):
    def parse(ctx, param, value: str):
        try:
            items = [convert(item.strip()) for item in value.split(",") if item.strip()]
        except ValueError:
            raise click.BadParameter(f"expected a comma-separated list, got {value!r}") from None
        if not items:
            raise click.BadParameter("must not be empty")
        return items

    return parse


def _check_codecs(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in CODECS]
    if unknown:
        raise click.BadParameter(f"unknown codec(s) {', '.join(unknown)}; choose from {', '.join(CODECS)}")
    return names


@analyze.command()
@click.option("--codecs", default=",".join(CODEC_NAMES), show_default=True,
              callback=lambda c, p, v: _check_codecs(_comma_list(str)(c, p, v)), help="Codecs to compare.")
@click.option("--strides", default=",".join(map(str, STRIDES)), show_default=True,
              callback=_comma_list(int), help="Heatmap strides.")
@click.option("--input-size", default=256, show_default=True, type=click.IntRange(min=1),
              help="Side of the square network input, pixels.")
@click.option("--points", "n_points", default=100_000, show_default=True, type=click.IntRange(min=1),
              help="Random sub-pixel landmarks.")
@click.option("--blur", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Blur the ideal heatmaps by a Gaussian of this sigma (heatmap cells).")
@click.option("--noise", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Add Gaussian noise of this standard deviation, relative to the heatmap's peak.")
@click.option("--margin", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Keep points this many input pixels away from the edges of the sampled domain.")
@click.option("--sigma", default=None, type=click.FloatRange(min=0, min_open=True),
              help="Target sigma (cells) for the Gaussian codecs; default: each codec's own (2, soft-argmax 1).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write results as JSON.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG plot.")
@force_option
def quantization(codecs, strides, input_size, n_points, blur, noise, margin, sigma, seed, json_path, plot_path, force):
    """Round-trip error of every codec against heatmap resolution (the paper's quantization analysis).

    Random sub-pixel landmarks are rendered into each codec's ideal heatmap (optionally blurred and noisy),
    decoded, and compared with the truth in input pixels.
    """
    tune_allocator()
    check_outputs({"--json": (json_path, "json"), "--plot": (plot_path, "figure")}, [], force)
    for stride in strides:
        if stride < 1 or input_size % stride:
            raise click.BadParameter(f"stride {stride} must be a positive divisor of --input-size {input_size}",
                                     param_hint="--strides")
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("round trips", total=n_points * len(codecs) * len(strides))
        try:
            results = quantization_study(codecs, strides, input_size, n_points, blur, noise, margin, sigma, seed,
                                         on_chunk=lambda n: progress.advance(task, n))
        except ValueError as error:
            raise click.UsageError(str(error)) from None
    console.print(_table(results, "mean_px"), _table(results, "max_px"))
    if json_path:
        atomic_write_text(json_path, json.dumps(results, indent=2) + "\n")
        console.print(f"wrote {json_path}")
    if plot_path:
        plot_study(results, plot_path)
        console.print(f"wrote {plot_path}")


def _table(results: dict, statistic: str) -> Table:
    strides = next(iter(results["codecs"].values())).keys()
    what = {"mean_px": "Mean", "max_px": "Max"}[statistic]
    table = Table(title=f"{what} round-trip error, input pixels ({results['n_points']:,} points, "
                        f"{results['input_size']}-pixel input, blur {results['blur']}, noise {results['noise']})")
    table.add_column("codec \\ stride (heatmap)")
    for stride in strides:
        table.add_column(f"{stride} ({results['input_size'] // int(stride)}²)", justify="right")
    for name, per_stride in results["codecs"].items():
        table.add_row(name, *(f"{value[statistic]:.4g}" for value in per_stride.values()))
    return table
