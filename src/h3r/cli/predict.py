"""``h3r predict``: the landmarks of the faces in images, as overlay PNGs and JSON.

``--task pose``: the joints of the people in the ``--boxes`` of an image with an h3r pose run or checkpoint
(``--model``), drawn as skeletons; the JSON lists ``"people"`` instead of ``"faces"``, with ``"landmarks"``
the joints in the scheme's order.

Boxes (``--boxes``):
    - a file: lines ``x1 y1 x2 y2 [more columns, ignored]`` in image pixels, one face per line, blank
      lines skipped (the format of the authors' ``.bbox`` files); only with exactly one image;
    - a folder: ``<image name>.bbox`` in it for each image (``demo.jpg`` → ``demo.jpg.bbox``); pass the
      image folder itself to use box files lying beside the images; an image without its box file fails;
    - omitted: the faces are found by ``h3r.inference.face_detection.detect_faces``. Box files beside
      the images are deliberately not picked up unasked, so that what runs does not depend on stray files.

Failures: an image that cannot be read, a malformed box file or a bad box is reported on one line
naming the file (and the line or box), the image is skipped and the others go on; the JSON holds the
images that worked (and, under ``"failed"``, those that did not), and the exit code is 1.
"""

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from h3r.cli.evaluate import model_description
from h3r.cli.predict_pose import pose_estimator, skeleton_drawer
from h3r.data import load_image
from h3r.inference.detector import CROP_MODES, LandmarkDetector, resolve_model
from h3r.inference.face_detection import DETECTORS, detect_faces

BoxSource = Callable[[Path, np.ndarray], np.ndarray]
"""(image path, (H, W, 3) image) → (F, 4) boxes x1, y1, x2, y2 in image pixels."""

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")
RUNTIMES = ("torch", "onnxruntime")


class BoxFileError(ValueError):
    """A box file that is missing, unreadable or has a malformed line."""


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--task", type=click.Choice(["face", "pose"]), default="face", show_default=True,
              help="pose: joints of the people in --boxes with a pose model (an h3r pose run or .ckpt).")
@click.option("--example", is_flag=True,
              help="Add the example photograph that matplotlib ships (Grace Hopper, public domain): no download.")
@click.option("--model", "model_name", default="face68", show_default=True,
              help="A bundled model's name, a bundle folder, an h3r run folder or checkpoint (.ckpt), or a "
                   "torchalign folder (config.yaml + model.pth).")
@click.option("--boxes", "boxes_path", type=click.Path(exists=True, path_type=Path),
              help="Box file (one image only) or folder of <image name>.bbox files; default: detect the faces.")
@click.option("--detector", "face_detector", type=click.Choice(list(DETECTORS)), default="dlib-hog-up1",
              show_default=True, help="Face detector used without --boxes (dlib-hog-up1 also finds faces of 40-80 px).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the overlay PNGs (<image stem>_landmarks.png), created if needed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write boxes, landmarks (image pixels) and scores as JSON, with the images that failed.")
@click.option("--crop", type=click.Choice(CROP_MODES), default="exact", show_default=True,
              help="exact: our sub-pixel crop; official: the authors' crop and mapping, to reproduce their numbers.")
@click.option("--flip/--no-flip", default=None, help="Flip test (mirrored crops averaged in); default: the model's.")
@click.option("--refine", type=click.IntRange(min=0),
              help="Passes that crop each face again from the box of its landmarks found; default: 1 for models "
                   "trained on landmark boxes, as face68 (its validation NME on detector boxes: 3.98 % -> 3.79 %, "
                   "benchmarks/box_refinement.py), else 0.")
@click.option("--runtime", type=click.Choice(RUNTIMES), default="torch", show_default=True)
@click.option("--onnx", "onnx_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="With --runtime onnxruntime: the exported model (h3r export); default: export --model now.")
@click.option("--batch-size", default=2, show_default=True, type=click.IntRange(min=1),
              help="Faces per network call; small batches run fastest on a CPU, raise it on a GPU.")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads of the runtime; default: its own (one per core). 1 avoids stalls on busy machines.")
def predict(inputs, task, example, model_name, boxes_path, face_detector, out_dir, json_path, crop, flip, refine,
            runtime, onnx_path, batch_size, threads):
    """Find the landmarks of the faces in images (files, or folders of jpg/jpeg/png/bmp/ppm/webp images).

    Writes an overlay PNG per image into --out and/or all results into --json, and prints a summary.
    """
    if example:
        inputs = (*inputs, example_image())
    if not inputs:
        raise click.UsageError("give images or folders of images (or --example)")
    images = expand_images(inputs)
    if boxes_path is not None and boxes_path.is_file() and len(images) > 1:
        raise click.BadParameter(f"a box file serves one image, got {len(images)} images; "
                                 "give a folder of <image name>.bbox files", param_hint="--boxes")
    if onnx_path is not None and runtime != "onnxruntime":
        raise click.BadParameter("needs --runtime onnxruntime", param_hint="--onnx")
    if threads is not None:
        torch.set_num_threads(threads)
    if task == "pose":
        estimator = pose_estimator(model_name, boxes_path, flip, refine or 0, batch_size)
        draw = skeleton_drawer(estimator.scheme)
        people = _box_source(boxes_path, face_detector)
        with _runtime(estimator.detector, runtime, onnx_path, threads) as detector:
            return _predict_all(images, detector, people, out_dir, json_path, draw, "people")
    settings = {"crop": crop, "batch_size": batch_size} | ({} if flip is None else {"flip": flip})
    try:
        detector = LandmarkDetector.from_pretrained(model_name, **settings)
        detector = dataclasses.replace(detector, refine=default_refinement(model_name) if refine is None else refine)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None
    with _runtime(detector, runtime, onnx_path, threads) as detector:
        _predict_all(images, detector, _box_source(boxes_path, face_detector), out_dir, json_path)


def default_refinement(model: str) -> int:
    """Refinement passes for a face model: 1 for models trained on landmark boxes, whose convention the
    refined crop follows; 0 for others (the authors' torchalign models, trained on dataset boxes).

    Raises:
        ValueError: a model that cannot be found or read, naming it.
    """
    description = model_description(resolve_model(model))
    return int(description is not None and description["preprocessing"]["box"] == "landmarks")


def example_image() -> Path:
    """A public-domain portrait that needs no download: ``grace_hopper.jpg`` of matplotlib's sample data (512x600,
    U.S. Navy photograph)."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def expand_images(inputs: tuple[Path, ...]) -> list[Path]:
    """Files as given, folders replaced by their images (by suffix, case-insensitive, sorted by name)."""
    images = []
    for path in inputs:
        if path.is_dir():
            images.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            images.append(path)
    if not images:
        raise click.UsageError(f"no images found in {', '.join(map(str, inputs))} "
                               f"(looked for {'/'.join(s[1:] for s in IMAGE_SUFFIXES)})")
    return images


def read_boxes(path: Path) -> np.ndarray:
    """(F, 4) float64 boxes x1, y1, x2, y2 (image pixels) from a box file; blank lines are skipped.

    Raises:
        BoxFileError: naming the file, and the line number for a malformed line (fewer than 4 numbers,
            not finite, or x2 ≤ x1 or y2 ≤ y1).
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BoxFileError(f"{path}: no such box file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BoxFileError(f"{path}: cannot read boxes ({error})") from None
    rows = [_box(path, number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def _box(path: Path, number: int, line: str) -> list[float]:
    """The box [x1, y1, x2, y2] of line ``number`` of a box file, or a ``BoxFileError`` naming both."""
    fields = line.split()[:4]
    try:
        box = [float(field) for field in fields]
    except ValueError:
        box = []
    if len(box) < 4 or not np.isfinite(box).all():
        raise BoxFileError(f"{path} line {number}: expected x1 y1 x2 y2 [more columns], got {line.strip()!r}")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise BoxFileError(f"{path} line {number}: box {box} needs x1 < x2 and y1 < y2")
    return box


@contextmanager
def _runtime(
    detector: LandmarkDetector, runtime: str, onnx_path: Path | None, threads: int | None
) -> Iterator[LandmarkDetector]:
    """``detector`` on the chosen runtime; for ONNX Runtime, exported to a temporary file unless given."""
    if runtime == "torch":
        yield detector
        return
    try:
        from h3r.inference.onnx import OnnxRunner, export_onnx
    except ImportError as error:
        raise click.ClickException(f"--runtime onnxruntime is not available: {error}") from None
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = onnx_path or export_onnx(detector.runner, Path(folder) / "model.onnx", metadata=detector.preprocessing())
            runner = OnnxRunner(path, threads=threads)
        except (ImportError, ValueError) as error:
            raise click.ClickException(str(error)) from None
        expected = (detector.size, detector.num_landmarks)
        if (runner.input_size, runner.num_landmarks) != expected:
            raise click.BadParameter(
                f"{path} takes (H, W) = {runner.input_size} crops and gives {runner.num_landmarks} landmarks, "
                f"the model {expected[0]} and {expected[1]}", param_hint="--onnx")
        yield dataclasses.replace(detector, runner=runner, device="cpu")


def _predict_all(images: list[Path], detector: LandmarkDetector, find_boxes: BoxSource, out_dir: Path | None,
                 json_path: Path | None, draw=None, kind: str = "faces") -> None:
    """Process every image, reporting and skipping failures; write the JSON even if interrupted.

    ``draw`` (default ``draw_overlay``) makes the overlays; ``kind`` names the objects, ``"faces"`` or ``"people"``.
    """
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    console, errors = Console(), Console(stderr=True)
    done, failed, seconds, overlays = [], [], 0.0, set()
    _warm_up(detector)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=errors, transient=True) as progress:
            for path in progress.track(images, description="predicting"):
                try:
                    entry, spent = _predict_one(
                        path, detector, find_boxes, out_dir, overlays, draw or draw_overlay, kind
                    )
                except (ValueError, OSError) as error:
                    message = str(error).strip().splitlines()[0]
                    progress.console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
                    failed.append({"path": str(path), "error": message})
                    continue
                done.append(entry)
                seconds += spent
    finally:
        if json_path is not None:
            json_path.write_text(json.dumps({"images": done, "failed": failed}) + "\n")
    console.print(_summary(done, failed, seconds, json_path, kind), markup=False, highlight=False, soft_wrap=True)
    if failed:
        raise click.exceptions.Exit(1)


def _warm_up(detector: LandmarkDetector) -> None:
    """One call on a blank crop-sized image: the first call of a network pays one-off costs (memory, kernel
    choice; about 2 s on a CPU) that do not belong in the time per face."""
    height, width = detector.size
    detector.predict(np.zeros((height, width, 3), np.uint8), [[0, 0, width - 1, height - 1]])


def _predict_one(path: Path, detector: LandmarkDetector, find_boxes: BoxSource, out_dir: Path | None,
                 overlays: set[Path], draw, kind: str) -> tuple[dict, float]:
    """The JSON entry of one image and the seconds spent finding its landmarks.

    Writes its overlay into ``out_dir`` under a name not in ``overlays`` (the names of this run), and
    adds the name.
    """
    image = load_image(path)
    boxes = find_boxes(path, image)
    start = time.perf_counter()
    try:
        landmarks, scores = detector.predict(image, boxes)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    spent = time.perf_counter() - start
    entry = {"path": str(path), kind: [
        {"box": [round(float(v), 4) for v in box],
         "landmarks": np.round(points.astype(np.float64), 4).tolist(),
         "scores": np.round(score.astype(np.float64), 5).tolist()}
        for box, points, score in zip(boxes, landmarks, scores)
    ]}
    if out_dir is not None:
        overlay = _overlay_path(out_dir, path, overlays)
        draw(image, boxes, landmarks).save(overlay)
        overlays.add(overlay)
        entry["overlay"] = str(overlay)
    return entry, spent


def _box_source(boxes_path: Path | None, face_detector: str) -> BoxSource:
    """A function giving the (F, 4) boxes of an image: from its box file, or from the face detector."""
    if boxes_path is not None:
        return lambda path, image: read_boxes(boxes_path if boxes_path.is_file() else boxes_path / f"{path.name}.bbox")

    def detect(path: Path, image: np.ndarray) -> np.ndarray:
        try:
            return detect_faces(image, face_detector)[:, :4]
        except ImportError as error:
            raise click.ClickException(str(error)) from None

    return detect


def _overlay_path(out_dir: Path, image_path: Path, taken: set[Path]) -> Path:
    """``<stem>_landmarks.png`` in ``out_dir``, numbered when an earlier image of this run took the name."""
    candidate, number = out_dir / f"{image_path.stem}_landmarks.png", 1
    while candidate in taken:
        number += 1
        candidate = out_dir / f"{image_path.stem}_landmarks_{number}.png"
    return candidate


def draw_overlay(image: np.ndarray, boxes: np.ndarray, landmarks: np.ndarray) -> Image.Image:
    """The image with each face's box (green) and landmarks (red dots) drawn on it.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes: (F, 4) x1, y1, x2, y2, image pixels.
        landmarks: (F, K, 2) (x, y), image pixels.

    The dot radius grows with the image (1/400 of its longer side) but stays below 1/60 of the face,
    so that dense landmarks on small faces stay apart; both at least one pixel.
    """
    overlay = Image.fromarray(image)
    draw = ImageDraw.Draw(overlay)
    longer = max(image.shape[:2])
    width = max(1, round(longer / 500))
    for box, points in zip(boxes, landmarks):
        draw.rectangle([float(v) for v in box], outline=(0, 255, 0), width=width)
        radius = max(1.0, min(longer / 400, float(max(box[2] - box[0], box[3] - box[1])) / 60))
        for x, y in points:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 40, 40))
    return overlay


def _summary(done: list[dict], failed: list[dict], seconds: float, json_path: Path | None, kind: str = "faces") -> str:
    count = sum(len(entry[kind]) for entry in done)
    timing = f", {1000 * seconds / count:.1f} ms per {'face' if kind == 'faces' else 'person'}" if count else ""
    lines = [f"{len(done)} images, {count} {kind}{timing}"]
    if failed:
        lines.append(f"{len(failed)} of {len(done) + len(failed)} images failed and were skipped")
    if json_path is not None:
        lines.append(f"wrote {json_path}")
    return "\n".join(lines)
