"""``h3r evaluate``: NME, failure rate and AUC of a model on a face dataset, overall and per subset."""

import json
import shlex
from pathlib import Path

import click
import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from h3r.cli.evaluate_pose import evaluate_pose_model, is_pose_model
from h3r.cli.options import check_outputs, exif_option, force_option
from h3r.data.datasets import DatasetError, FaceDataset, read_dataset
from h3r.data.training_set import BOX_SOURCES
from h3r.engine.config import validate_config
from h3r.engine.evaluate import Evaluation, default_box, evaluate_detector, model_scheme
from h3r.engine.train import load_faces
from h3r.inference.detector import ModelOutputError
from h3r.load import load_detector, model_description, model_files
from h3r.metrics.face import plot_ced
from h3r.utils.io import atomic_write_text
from h3r.utils.malloc import tune_allocator

THRESHOLDS = ("0.08", "0.10")
VALIDATION_SPEC = "val"
"""``--data`` value for the validation faces that the model's training config held out."""


@click.command()
@click.option("--model", "model_name", default="face68", show_default=True,
              help="A bundled model's name, a bundle folder, an h3r checkpoint (.ckpt), a run folder (its best.ckpt), "
                   "an ONNX export (.onnx) or a torchalign folder.")
@click.option("--data", "spec", required=True, metavar="READER:PATH[:SPLIT]|val",
              help="The test faces, e.g. 300w:data/300W:full, wflw:data/WFLW:test (readers: 300w, wflw, wflw-68, "
                   "cofw, aflw, mtfl, coco; people: coco-pose, mpii, lsp); or val: the validation faces held out "
                   "by the model's training config (runs, checkpoints and bundles; the config's paths are taken "
                   "from the current folder). Faces of another landmark scheme than the model's are scored "
                   "through a scheme conversion, e.g. a 68-point model on MTFL's 5 points.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the scores as JSON (fractions), with the setting and the command that reproduces them.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the CED curves (overall and per subset), e.g. ced.png.")
@click.option("--save-predictions", "predictions_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each face's box, landmarks (image pixels), scores and NME as JSON.")
@click.option("--box", type=click.Choice(BOX_SOURCES), default=None,
              help="Crop from the dataset's face boxes or the landmarks' bounding box; default: what the model "
                   "was trained with, the landmark box where the dataset has no boxes (300-W), the dataset's "
                   "boxes where its landmark scheme is not the model's.")
@click.option("--flip/--no-flip", default=None, help="Flip test; default: on (the model's setting).")
@click.option("--skip-bad", is_flag=True, help="Leave out malformed samples instead of stopping.")
@click.option("--device", default="cuda" if torch.cuda.is_available() else "cpu", show_default=True,
              help="Where the network runs.")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads; default: one per core. 1 avoids stalls on busy machines.")
@click.option("--detections", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pose models on COCO: a COCO results JSON of person boxes to crop instead of the ground truth's.")
@click.option("--score-threshold", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="With --detections: the lowest detection score kept.")
@click.option("--head-boxes", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pose models on MPII: gt_valid.mat-style head boxes (headboxes_src) for the official PCKh.")
@exif_option
@force_option
def evaluate(model_name, spec, json_path, plot_path, predictions_path, box, flip, skip_bad, device, threads,
             detections, score_threshold, head_boxes, exif_transpose, force) -> None:  # fmt: skip
    """Score a model on a dataset: NME, failure rate and AUC, overall and per subset; for pose models PCK@0.2
    (LSP), PCKh (MPII) or OKS AP/AR (COCO), people cropped from their boxes.

    NME uses the scheme's normaliser (300-W: outer eye corners, and inter-pupil as well; MTFL: eye centres);
    FR and AUC are taken at 0.08 and 0.10. A model of another landmark scheme is scored through a scheme
    conversion of its predictions (or else of the ground truth), which the table title names. Subsets are
    the dataset's tags (300-W: afw/helen/lfpw/ibug, common, challenging, indoor/outdoor; WFLW: its
    attributes; MTFL: its folders). The table shows percentages, the JSON fractions.

    Outputs are written atomically, never over an input or a file of another kind unless --force.
    """
    tune_allocator()
    console = Console()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        inputs = [*model_files(model_name), *filter(None, (_data_path(spec), detections, head_boxes))]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None
    outputs = {"--json": (json_path, "json"), "--plot": (plot_path, "figure")}
    check_outputs({**outputs, "--save-predictions": (predictions_path, "json")}, inputs, force)
    try:
        description = model_description(model_name)
        if is_pose_model(description):
            pose_options = {"detections": detections, "score_threshold": score_threshold, "head_boxes": head_boxes}
            return evaluate_pose_model(model_name, description, spec, json_path=json_path,
                                       predictions_path=predictions_path, flip=flip, skip_bad=skip_bad,
                                       device=device, exif_transpose=exif_transpose, **pose_options)  # fmt: skip
        detector = load_detector(model_name, device=device, threads=threads, exif_transpose=exif_transpose)
        faces = _faces(spec, description, skip_bad)
    except (DatasetError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if len(faces) == 0:
        raise click.ClickException(f"{spec}: no faces to evaluate ({len(faces.skipped)} skipped as bad)")
    for where, why in faces.skipped:
        console.print(f"skipped {where}: {why}", soft_wrap=True, markup=False)
    try:
        scheme = model_scheme(detector, faces.scheme, None if description is None else description["scheme"]["name"])
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    trained_box = "landmarks" if description is None else description["preprocessing"]["box"]  # torchalign: P1
    box = box or default_box(faces, trained_box, scheme)
    flip = detector.flip if flip is None else flip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(faces.name, total=len(faces))
        try:
            result = evaluate_detector(detector, faces, box, flip, lambda: progress.advance(task), scheme)
        except ModelOutputError as error:
            raise click.ClickException(f"--model {model_name}: {error}") from None
        except ValueError as error:
            raise click.ClickException(str(error)) from None
    faces = result.faces
    setting = evaluation_setting(model_name, spec, faces, box, flip, result.conversion)
    console.print(_table(result.report, faces, setting))
    if json_path:
        atomic_write_text(json_path, json.dumps({**setting, **result.report}, indent=2) + "\n")
    if plot_path:
        plot_ced(_errors_by_subset(result, faces), plot_path, threshold=0.1)
    if predictions_path:
        atomic_write_text(predictions_path, json.dumps(_predictions(result, faces, setting)) + "\n")


def _data_path(spec: str) -> Path | None:
    """The file or folder of a dataset spec ``READER:PATH[:SPLIT]`` (None for ``val``), told from the split as
    ``read_dataset`` does: the whole text after ``READER:`` if it exists, else that text up to its last colon."""
    rest = spec.partition(":")[2]
    path = rest if Path(rest).exists() else rest.rpartition(":")[0]
    return Path(path) if path else None


def evaluation_setting(
    model: str, spec: str, faces: FaceDataset, box: str, flip: bool, conversion: str | None = None
) -> dict:
    """How scores were measured, as ``--json`` records it beside them: model, data, box, flip test, the
    landmark scheme conversion (``Evaluation.conversion``), normaliser, and the command that reproduces them."""
    return {
        "model": model, "data": spec, "dataset": faces.name, "box": box, "flip": flip, "conversion": conversion,
        "normalizer": faces.scheme.normalizer, "command": evaluation_command(model, spec, box, flip),
    }  # fmt: skip


def evaluation_command(model: str, spec: str, box: str, flip: bool) -> str:
    """The ``h3r evaluate`` command that gives these scores, its defaults spelt out."""
    flag = "--flip" if flip else "--no-flip"
    return shlex.join(["h3r", "evaluate", "--model", model, "--data", spec, "--box", box, flag])


def _faces(spec: str, description: dict | None, skip_bad: bool) -> FaceDataset:
    """The faces of a dataset spec, or for ``val`` the validation faces of the model's training config.

    Raises:
        ValueError: ``val`` for a model without a training config; ``DatasetError`` or ``RunError`` for data
            that cannot be read.
    """
    if spec != VALIDATION_SPEC:
        return read_dataset(spec, skip_bad=skip_bad)
    if description is None:
        raise ValueError(f"--data {VALIDATION_SPEC} needs a model trained by h3r train (a run, checkpoint or "
                         "bundle), whose config names its validation faces; torchalign folders have none")
    config = validate_config(description["config"], source="the model's training config")
    return load_faces(config)[1]


def _table(report: dict, faces: FaceDataset, setting: dict) -> Table:
    """Rows: all faces, then each subset; percentages."""
    extra = [key for key in report if key.startswith("nme_")]
    legend = [f"NME by {faces.scheme.normalizer_label()}"]
    legend += [f"NME {_short(key)} by {faces.scheme.normalizer_label(_kind(key))}" for key in extra]
    flip = "on" if setting["flip"] else "off"
    converted = f", converted {setting['conversion']}" if setting["conversion"] else ""
    title = f"{faces.name}: {report['n']} faces, {setting['box']} box, flip test {flip}{converted}; {', '.join(legend)}"
    table = Table(title=title)
    for header in ("subset", "n", "NME", *(f"NME {_short(key)}" for key in extra)):
        table.add_column(header, justify="left" if header == "subset" else "right")
    for name in ("FR", "AUC"):
        for threshold in THRESHOLDS:
            table.add_column(f"{name}@{threshold}", justify="right")
    for name, scores in {"all": report, **report["subsets"]}.items():
        values = [scores["nme"], *(scores[key] for key in extra)]
        values += [scores[f"{kind}@{t}"] for kind in ("fr", "auc") for t in THRESHOLDS]
        table.add_row(name, str(scores["n"]), *(f"{value:.2%}" for value in values))
    return table


def _kind(key: str) -> str:
    """``nme_inter_pupil`` → ``inter-pupil``."""
    return key.removeprefix("nme_").replace("_", "-")


def _short(key: str) -> str:
    """``nme_inter_pupil`` → ``ip``: a normaliser's initials, for narrow column headers."""
    return "".join(word[0] for word in _kind(key).split("-"))


def _errors_by_subset(result: Evaluation, faces: FaceDataset) -> dict[str, np.ndarray]:
    curves = {"all": result.errors}
    for tag in result.report["subsets"]:
        curves[tag] = result.errors[[tag in sample.subsets for sample in faces]]
    return curves


def _predictions(result: Evaluation, faces: FaceDataset, setting: dict) -> dict:
    records = [
        {
            "image": str(sample.image_path),
            "box": result.boxes[index].tolist(),
            "landmarks": result.landmarks[index].tolist(),
            "scores": result.scores[index].tolist(),
            "nme": float(result.errors[index]),
        }
        for index, sample in enumerate(faces)
    ]
    return {**setting, "faces": records}
