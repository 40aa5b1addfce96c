"""``h3r evaluate`` for pose models: PCK@0.2 (LSP), PCKh (MPII) or OKS AP/AR (COCO) of the people of a dataset."""

import json
import shlex
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from h3r.data.datasets import DatasetError, read_dataset
from h3r.data.pose import POSE_SCHEMES, PoseDataset, read_coco_pose, read_mpii
from h3r.engine.config import validate_config
from h3r.engine.pose import PoseEvaluation, evaluate_estimator, validation_metric
from h3r.engine.train import RunError, load_faces
from h3r.inference.detector import ModelOutputError
from h3r.load import load_pose_estimator
from h3r.utils.io import atomic_write_text

__all__ = ["evaluate_pose_model", "is_pose_model", "read_people"]


def is_pose_model(description: dict | None) -> bool:
    """Whether a model's description (checkpoint or bundle) is of a pose scheme."""
    return description is not None and description["scheme"]["name"] in POSE_SCHEMES


def read_people(spec: str, description: dict, skip_bad: bool, detections: Path | None, score_threshold: float,
                head_boxes: Path | None) -> PoseDataset:  # fmt: skip
    """The people of ``spec`` (``val``: those the model's training config held out), with detected COCO boxes
    or MPII head boxes when given.

    Raises:
        ValueError: (``DatasetError``, ``RunError``) data that cannot be read, or options that do not fit it.
    """
    reader, _, rest = spec.partition(":")
    if detections is not None and reader != "coco-pose":
        raise ValueError(f"--detections are COCO person boxes, for --data coco-pose:FILE.json, not {spec}")
    if head_boxes is not None and reader != "mpii":
        raise ValueError(f"--head-boxes are MPII head boxes, for --data mpii:FILE.json, not {spec}")
    if spec == "val":
        return load_faces(validate_config(description["config"], source="the model's training config"))[1]
    if detections is not None:
        return read_coco_pose(Path(rest), skip_bad=skip_bad, detections=detections, score_threshold=score_threshold)
    if head_boxes is not None:
        return read_mpii(Path(rest), skip_bad=skip_bad, head_boxes=head_boxes)
    people = read_dataset(spec, skip_bad=skip_bad)
    if not isinstance(people, PoseDataset):
        raise ValueError(f"{spec}: a face dataset; this is a pose model ({description['scheme']['name']})")
    return people


def evaluate_pose_model(model: str, description: dict, spec: str, *, json_path: Path | None,
                        predictions_path: Path | None, flip: bool | None, skip_bad: bool, device: str,
                        exif_transpose: bool, detections: Path | None, score_threshold: float,
                        head_boxes: Path | None) -> None:  # fmt: skip
    """Score a pose model on the people of ``spec`` from their boxes; print a table, write JSON files (atomically)."""
    console = Console()
    try:
        estimator = load_pose_estimator(model, device=device, exif_transpose=exif_transpose)
        people = read_people(spec, description, skip_bad, detections, score_threshold, head_boxes)
    except (DatasetError, RunError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    if len(people) == 0:
        raise click.ClickException(f"{spec}: no people to evaluate ({len(people.skipped)} skipped as bad)")
    for where, why in people.skipped:
        console.print(f"skipped {where}: {why}", soft_wrap=True, markup=False)
    flip = estimator.flip if flip is None else flip
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(people.name, total=len(people))
        try:
            result = evaluate_estimator(estimator, people, flip, on_person=lambda: progress.advance(task))
        except ModelOutputError as error:
            raise click.ClickException(f"--model {model}: {error}") from None
        except ValueError as error:
            raise click.ClickException(str(error)) from None
    command = ["h3r", "evaluate", "--model", model, "--data", spec, "--flip" if flip else "--no-flip"]
    command += ["--detections", str(detections), "--score-threshold", f"{score_threshold:g}"] if detections else []
    command += ["--head-boxes", str(head_boxes)] if head_boxes else []
    setting = {"model": model, "data": spec, "dataset": people.name, "flip": flip, "command": shlex.join(command)}
    console.print(_table(result.report, people, flip))
    if json_path:
        atomic_write_text(json_path, json.dumps({**setting, **result.report}, indent=2) + "\n")
    if predictions_path:
        atomic_write_text(predictions_path, json.dumps(_predictions(result, people, setting)) + "\n")


def _table(report: dict, people: PoseDataset, flip: bool) -> Table:
    """One row per score: the headline first, then groups (percentages) and counts."""
    metric = validation_metric(people)
    table = Table(title=f"{people.name}: {report['n']} people, flip test {'on' if flip else 'off'}; {metric.label}")
    table.add_column("score")
    table.add_column("value", justify="right")
    for key, value in report.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.2%}")
        elif isinstance(value, (int, str)):
            table.add_row(key, str(value))
    return table


def _predictions(result: PoseEvaluation, people: PoseDataset, setting: dict) -> dict:
    records = [
        {"image": str(person.image_path), "box": result.boxes[index].tolist(), "joints": result.joints[index].tolist(),
         "scores": result.scores[index].tolist()}
        for index, person in enumerate(people)
    ]  # fmt: skip
    return {**setting, "joints": list(people.scheme.joints), "people": records}
