"""``h3r export``: landmark models as files for other runtimes (ONNX) and as shippable bundles."""

from collections import Counter
from pathlib import Path

import click
import torch
from rich.console import Console

from h3r.cli.options import check_outputs, force_option
from h3r.data.datasets import DatasetError, read_dataset
from h3r.inference.network import DecodingNetwork
from h3r.inference.onnx import DEFAULT_OPSET, SUPPORTED_OPSETS, OnnxRunner, export_onnx, max_difference
from h3r.load import load_detector, model_files
from h3r.pretrained.bundle import is_bundle

PARITY_BATCH = 3


@click.group()
def export() -> None:
    """Export landmark models to other runtimes."""


@export.command("onnx")
@click.option("--model", "model_name", default="face68", show_default=True,
              help="A bundled model's name, a bundle folder, an h3r run folder or checkpoint (.ckpt), or a "
                   "torchalign folder (config.yaml + model.pth).")
@click.argument("output", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--opset", default=DEFAULT_OPSET, show_default=True,
              type=click.IntRange(SUPPORTED_OPSETS.start, SUPPORTED_OPSETS.stop - 1), help="ONNX opset.")
@force_option
def onnx_command(model_name: str, output: Path, opset: int, force: bool) -> None:
    """Write a model and its decoder as one ONNX file.

    One graph takes normalised crops (N, 3, H, W) and gives landmarks (N, K, 2) in crop pixels and scores
    (N, K). The file holds the crop scale, flip order and normalisation, so `h3r predict --runtime onnxruntime`
    needs it alone. After writing, ONNX Runtime is checked against PyTorch on random crops. The file is
    written atomically, never over an input or a file of another kind unless --force.
    """
    if not output.parent.is_dir():
        raise click.BadParameter(f"folder {str(output.parent)!r} does not exist", param_hint="OUTPUT")
    try:
        inputs = model_files(model_name)
        detector = load_detector(model_name)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None
    if not isinstance(detector.runner, DecodingNetwork):
        raise click.BadParameter(f"{model_name}: already an ONNX model", param_hint="--model")
    check_outputs({"OUTPUT": (output, "onnx")}, inputs, force)
    network = detector.runner
    metadata = {**detector.preprocessing(), "source": Path(model_name).name}
    try:
        export_onnx(network, output, metadata=metadata, opset=opset)
        runner = OnnxRunner(output)
    except ImportError as error:  # onnx or onnxruntime missing: the message names the pip package
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.FileError(str(output), hint=error.strerror or str(error)) from None
    crops = torch.randn(PARITY_BATCH, 3, *detector.size, generator=torch.Generator().manual_seed(0))
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


@export.command("bundle")
@click.argument("run", type=click.Path(exists=True, path_type=Path))
@click.argument("output", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", default="face68", show_default=True, help="The bundle's name (a bundled model's short name).")
@click.option("--test-data", "test_spec", metavar="READER:PATH[:SPLIT]",
              help="Also score the model on these faces for the card, e.g. 300w:../shared/data/300w-private:test.")
@click.option("--training-command", help="The command that trained the run; default: h3r train RUN/config.yaml.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for the scoring; default: one per core.")
@click.option("--force", is_flag=True, help="Write into an existing OUTPUT folder that holds files but no bundle.")
def bundle_command(run: Path, output: Path, name: str, test_spec: str | None, training_command: str | None,
                   threads: int | None, force: bool) -> None:
    """Make a shippable bundle (safetensors weights, model.json, MODEL_CARD.md) of a training run.

    RUN is an `h3r train` run folder (its best.ckpt) or one .ckpt file. The model is scored with the flip
    test on the validation faces its config held out and, with --test-data, on a test set; the scores
    and the commands that reproduce them go into model.json and the card. Paths in the run's config are
    read from the current folder. OUTPUT must be new, empty or a bundle (--force: any folder); each file is
    written atomically.
    """
    from h3r.cli.evaluate import evaluation_setting
    from h3r.engine.checkpoint import read_checkpoint
    from h3r.engine.config import validate_config
    from h3r.engine.evaluate import evaluate_detector
    from h3r.engine.train import load_faces
    from h3r.pretrained.bundle import bundle_description, bundle_weights, write_bundle

    _check_bundle_folder(output, force)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        checkpoint = read_checkpoint(run)
        config = validate_config(checkpoint["config"], source=f"{run}: its training config")
        train_faces, val_faces = load_faces(config)
        test_faces = None if test_spec is None else read_dataset(test_spec)
    except (DatasetError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    detector = load_detector(run)
    box = checkpoint["preprocessing"]["box"]
    metrics = {}
    for split, spec, faces in (("validation", "val", val_faces), ("test", test_spec, test_faces)):
        if faces is None:
            metrics[split] = None
            continue
        try:
            result = evaluate_detector(detector, faces, box, flip=True, scheme=checkpoint["scheme"]["name"])
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        setting = evaluation_setting(name, spec, result.faces, box, True, result.conversion)
        metrics[split] = {**setting, **result.report}
    run_dir = run if run.is_dir() else run.parent
    description = bundle_description(
        checkpoint,
        name=name,
        source=str(run / "best.ckpt" if run.is_dir() else run),
        training_command=training_command or f"h3r train {run_dir / 'config.yaml'}",
        metrics=metrics,
        faces={"train": len(train_faces), "validation": len(val_faces), "subsets": _subset_counts(train_faces, val_faces)},
        initialisation=initialisation_chain(config.model.init),
    )
    write_bundle(output, bundle_weights(checkpoint), description)
    console = Console()
    console.print(f"wrote {output}: {', '.join(sorted(p.name for p in output.iterdir()))}")
    for split, report in metrics.items():
        if report is not None:
            console.print(f"  {split}: {report['dataset']}, {report['n']} faces, NME {report['nme']:.2%}, "
                          f"FR@0.10 {report['fr@0.10']:.2%}")


def initialisation_chain(init: str | None) -> list[str]:
    """The ``model.init`` of a run, then of the model it started from, and so on back to a start from random
    weights (not listed) or from ``imagenet``; e.g. ``["runs/stage1", "imagenet"]``.

    Raises:
        click.ClickException: an ``init`` model that cannot be read, or a chain that loops.
    """
    from h3r.engine.config import IMAGENET_INIT
    from h3r.load import model_description

    chain = []
    while init is not None:
        if init in chain:
            raise click.ClickException(f"model.init loops: {' -> '.join([*chain, init])}")
        chain.append(init)
        if init == IMAGENET_INIT:
            break
        try:
            description = model_description(init)
        except ValueError as error:
            raise click.ClickException(f"model.init {init}: {error}") from None
        init = None if description is None else description["config"]["model"].get("init")
    return chain


def _check_bundle_folder(output: Path, force: bool) -> None:
    """Refuse an OUTPUT that is a file, or a folder holding files but no bundle (a run folder, say) unless forced."""
    if output.exists() and not output.is_dir():
        raise click.BadParameter(f"{output}: a file; give a folder", param_hint="OUTPUT")
    if output.is_dir() and any(output.iterdir()) and not is_bundle(output) and not force:
        raise click.BadParameter(f"{output}: a folder that holds files but no bundle; not writing into it "
                                 "(--force does)", param_hint="OUTPUT")  # fmt: skip


def _subset_counts(*datasets) -> dict[str, int]:
    """Faces per subset tag (300-W: afw, helen, lfpw), over ``datasets``."""
    counts = Counter(tag for faces in datasets for sample in faces for tag in sample.subsets)
    return dict(sorted(counts.items()))
