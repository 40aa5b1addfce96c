"""``h3r export``: landmark models as files for other runtimes (ONNX)."""

from pathlib import Path

import click
import torch
from rich.console import Console

from h3r.codecs import H3RCodec
from h3r.inference.network import DecodingNetwork
from h3r.inference.onnx import (
    DEFAULT_OPSET,
    SUPPORTED_OPSETS,
    OnnxRunner,
    export_onnx,
    max_difference,
    official_metadata,
)
from h3r.models import OfficialModel, load_official

PARITY_BATCH = 3


@click.group()
def export() -> None:
    """Export landmark models to other runtimes."""


def resolve_model(name_or_dir: str) -> OfficialModel:
    """The model a ``--model`` option names, with its test-time settings.

    Today that is a folder of the authors' torchalign code (``config.yaml`` + ``model.pth``), loaded by
    :func:`~h3r.models.load_official`. This is the one place that maps the option to a model: bundled
    models are to be added here by name, returning the same :class:`~h3r.models.OfficialModel`.

    Raises:
        ValueError: (:class:`~h3r.models.OfficialCheckpointError`) naming the folder or file and the problem.
    """
    return load_official(name_or_dir)


def official_network(official: OfficialModel) -> DecodingNetwork:
    """A released model and the paper's decoder (top-k softmax over its foreground logits), in eval mode."""
    codec = H3RCodec(input_size=official.input_size, stride=official.stride, topk=official.topk)
    return DecodingNetwork(official.model, codec).eval()


@export.command("onnx")
@click.option("--model", "model_name", required=True, metavar="DIR",
              help="A released model folder of the authors' torchalign code (config.yaml + model.pth).")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--opset", default=DEFAULT_OPSET, show_default=True,
              type=click.IntRange(SUPPORTED_OPSETS.start, SUPPORTED_OPSETS.stop - 1), help="ONNX opset.")
def onnx_command(model_name: str, output: Path, opset: int) -> None:
    """Write a model and its decoder as one ONNX file.

    One graph takes normalised crops (N, 3, H, W) and gives landmarks (N, K, 2) in crop pixels and scores
    (N, K). The file holds the crop scale, flip order and normalisation, so `h3r predict --runtime onnxruntime`
    needs it alone. After writing, ONNX Runtime is checked against PyTorch on random crops.
    """
    if not output.parent.is_dir():
        raise click.BadParameter(f"folder {str(output.parent)!r} does not exist", param_hint="OUTPUT")
    try:
        official = resolve_model(model_name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None
    network = official_network(official)
    try:
        export_onnx(network, output, metadata=official_metadata(official, Path(model_name).name), opset=opset)
        runner = OnnxRunner(output)
    except ImportError as error:  # onnx or onnxruntime missing: the message names the pip package
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.FileError(str(output), hint=error.strerror or str(error)) from None
    crops = torch.randn(PARITY_BATCH, 3, *official.input_size, generator=torch.Generator().manual_seed(0))
    _report(Console(), runner, opset, max_difference(network, runner, crops))


def _report(console: Console, runner: OnnxRunner, opset: int, difference: float) -> None:
    """Print the file written, its inputs and outputs, its settings and the parity check."""
    size = runner.path.stat().st_size / 2**20
    console.print(f"wrote {runner.path} ({size:.2f} MiB, ONNX opset {opset})")
    for kind, nodes in (("input", runner.session.get_inputs()), ("output", runner.session.get_outputs())):
        for node in nodes:
            shape = ", ".join(str(side) for side in node.shape)
            console.print(f"  {kind:6} {node.name:9} {node.type} ({shape})")
    meta = runner.metadata
    console.print(f"  {meta['num_landmarks']} landmarks, stride {meta['stride']}, {meta['codec']} decoding "
                  f"(top {meta['topk']}), crop scale {meta['crop_scale']}, flip test {'on' if meta['flip'] else 'off'}")
    console.print(f"ONNX Runtime vs PyTorch on {PARITY_BATCH} random crops: "
                  f"max landmark difference {difference:.2g} px")
