"""``h3r predict``: the landmarks of the faces in images, as overlay PNGs and JSON.

``--task pose``: the joints of the people in the ``--boxes`` of an image with an h3r pose run or checkpoint
(``--model``), drawn as skeletons; the JSON lists ``"people"`` instead of ``"faces"``, with ``"landmarks"``
the joints in the scheme's order.

Images: files as given; folders are read for their images (by suffix), with ``--recursive`` their
subfolders too; subfolders passed over and broken links are reported. Images are read as displayed
(EXIF orientation applied) unless ``--no-exif-transpose``.

Boxes (``--boxes``):
    - a file: lines ``x1 y1 x2 y2 [more columns, ignored]`` in image pixels, one face per line, blank
      lines skipped (the format of the authors' ``.bbox`` files); only with exactly one image; an empty
      file fails;
    - a folder: ``<image name>.bbox`` for each image, beside the image if the image lies in that folder
      (at any depth), else in it (``demo.jpg`` → ``demo.jpg.bbox``); pass the image folder itself to use
      box files lying beside the images; an image without its box file fails;
    - omitted: the faces are found by ``h3r.inference.face_detection.detect_faces``. Box files beside
      the images are deliberately not picked up unasked, so that what runs does not depend on stray files.

Failures: an image that cannot be read, a malformed box file or a bad box (wholly outside the image,
smaller than a pixel, or over 10 times the image) is reported on one line naming the file (and the line
or box), the image is skipped and the others go on; the JSON holds the images that worked (and, under
``"failed"``, those that did not), and the exit code is 1. A model that gives landmarks that are not
finite stops the run, naming the model.

Videos (a video file, or a folder of frames with ``--video``): the faces are tracked from frame to frame and
written frame by frame; see ``h3r.cli.predict_video``.

Outputs (``--json``, the overlays of ``--out``) are written atomically and never over an input or an existing
file of another kind unless ``--force``. ``--json`` also keeps a record as the run goes, which a killed run
is resumed from with ``--resume`` (``h3r.cli.predict_record``); SIGTERM ends a run as Ctrl-C does, with the
results written.
"""

import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import click
import numpy as np
import torch
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from h3r.cli.options import check_outputs, exif_option, force_option
from h3r.cli.predict_pose import pose_estimator, skeleton_drawer
from h3r.cli.predict_record import RecordError, earlier_results, open_record, record_path, write_results
from h3r.cli.predict_video import csv_path, overlay_video_path, predict_video
from h3r.cli.running import exit_on_sigterm, naming_a_broken_model, warm_up
from h3r.data import ImageError, load_image
from h3r.data.video import VIDEO_SUFFIXES, Video, VideoError, example_image, example_video, open_video
from h3r.inference.detector import CROP_MODES, LandmarkDetector, ModelOutputError, located
from h3r.inference.face_detection import DEFAULT_DETECTOR, DETECTORS, detect_faces
from h3r.inference.network import DecodingNetwork
from h3r.inference.smoothing import OneEuroSettings
from h3r.inference.tracking import TrackingSettings
from h3r.load import load_detector, model_description, model_files
from h3r.utils.io import atomic_path

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
              help="A bundled model's name, a bundle folder, an h3r run folder or checkpoint (.ckpt), an ONNX "
                   "export (.onnx), or a torchalign folder (config.yaml + model.pth).")
@click.option("--recursive", is_flag=True, help="Read the images of the folders' subfolders too.")
@click.option("--boxes", "boxes_path", type=click.Path(exists=True, path_type=Path),
              help="Box file (one image only) or folder of <image name>.bbox files; default: detect the faces.")
@click.option("--detector", "face_detector", type=click.Choice(list(DETECTORS)), default=DEFAULT_DETECTOR,
              show_default=True, help="Face detector used without --boxes (docs/results/face_detectors.md).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the overlay PNGs (<image stem>_landmarks.png) or the overlay video "
                   "(<video name>_landmarks.mp4), created if needed.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write boxes, landmarks (image pixels) and scores as JSON, with the images that failed; "
                   "FILE.partial.jsonl records the images as they are done. A video: JSON Lines, one line per "
                   "frame as it is done, and the same as CSV in FILE.csv (with another suffix than .csv).")
@click.option("--resume", is_flag=True,
              help="Continue the run that wrote --json (or its FILE.partial.jsonl): skip the images it did.")
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
@click.option("--video", "frame_folder", is_flag=True,
              help="Read the input folder as the frames of one video, in file-name order (video files are known "
                   "by their suffix: mp4, avi, mov, mkv, webm, ...).")
@click.option("--example-video", is_flag=True,
              help="Predict the example clip: grace_hopper.jpg slowly moved, 60 frames, made once into ~/.cache/h3r.")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True),
              help="Frame rate of a folder of frames (default 30), or in place of a video file's own.")
@click.option("--detect-every", default=TrackingSettings.detect_every, show_default=True,
              type=click.IntRange(min=1),
              help="Videos: run the face detector every N frames (and where a face is lost); between, each face "
                   "is looked for in the box of its last landmarks.")
@click.option("--smooth", is_flag=True, help="Videos: smooth each face's landmarks in time with a One Euro filter.")
@click.option("--smooth-min-cutoff", default=OneEuroSettings.min_cutoff, show_default=True,
              type=click.FloatRange(min=0, min_open=True),
              help="One Euro filter: cutoff frequency (Hz) of a still face; lower smooths more and lags more.")
@click.option("--smooth-beta", default=OneEuroSettings.beta, show_default=True, type=click.FloatRange(min=0),
              help="One Euro filter: rise of the cutoff (Hz) per pixel/s of speed; higher lags less when moving.")
@exif_option
@force_option
def predict(inputs, task, example, model_name, recursive, boxes_path, face_detector, out_dir, json_path, resume,
            crop, flip, refine, runtime, onnx_path, batch_size, threads, frame_folder, example_video, fps,
            detect_every, smooth, smooth_min_cutoff, smooth_beta, exif_transpose, force):  # fmt: skip
    """Find the landmarks of the faces in images (files, or folders of jpg/jpeg/png/bmp/ppm/webp images),
    or in a video (a file, or a folder of frames with --video), its faces tracked from frame to frame.

    Images: writes an overlay PNG per image into --out and/or all results into --json, and prints a summary.
    A killed run continues with the same command and --resume. A video: writes JSON Lines (one line per
    frame, as they are done) to --json, the same as CSV beside it (FILE.csv), and the overlay video
    <name>_landmarks.mp4 into --out. Outputs never overwrite an input or a file of another kind unless --force.
    """
    if example:
        inputs = (*inputs, example_image())
    if example_video:
        inputs = (*inputs, _example_video())
    if not inputs:
        raise click.UsageError("give images or folders of images (or --example), or a video (or --example-video)")
    if threads is not None:
        torch.set_num_threads(threads)
    if frame_folder or any(path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES for path in inputs):
        _check_video_options(inputs, frame_folder, task, boxes_path, resume)
        smoothing = OneEuroSettings(smooth_min_cutoff, smooth_beta) if smooth else None
        tracking = TrackingSettings(detect_every, smoothing=smoothing)
        video = _open_video(inputs[0], fps, exif_transpose)
        overlay = None if out_dir is None else overlay_video_path(video.path, out_dir)
        inputs = [*(video.frames or [video.path]), *filter(None, (onnx_path,))]
        outputs = {"--json": (json_path, "jsonl"), "--out": (overlay, "mp4")}
        if json_path is not None:
            if csv_path(json_path) == json_path:
                raise click.BadParameter("the CSV is written beside it, FILE.csv: give another suffix",
                                         param_hint="--json")  # fmt: skip
            outputs["--json's CSV"] = (csv_path(json_path), "csv")
        _check_outputs(outputs, inputs, model_name, force)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        detector = _face_model(model_name, threads, crop, flip, refine, batch_size, exif_transpose)
        find = _box_source(None, face_detector)
        with _runtime(detector, runtime, onnx_path, threads) as detector:
            predict_video(detector, video, lambda image: find(video.path, image), tracking, model=model_name,
                          json_path=json_path, overlay=overlay, exif_transpose=exif_transpose, draw=draw_overlay)
        return
    images, notes = expand_images(inputs, recursive)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if boxes_path is not None and boxes_path.is_file() and len(images) > 1:
        raise click.BadParameter(f"a box file serves one image, got {len(images)} images; "
                                 "give a folder of <image name>.bbox files", param_hint="--boxes")
    if onnx_path is not None and runtime != "onnxruntime":
        raise click.BadParameter("needs --runtime onnxruntime", param_hint="--onnx")
    if resume and json_path is None:
        raise click.BadParameter("needs --json, the results (or record) of the run to continue", param_hint="--resume")
    overlays = overlay_paths(images, out_dir)
    _check_outputs(_image_outputs(json_path, overlays), [*images, *filter(None, (boxes_path, onnx_path))],
                   model_name, force)  # fmt: skip
    earlier = _earlier_results(json_path) if resume else {}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    run = {"images": images, "overlays": overlays, "json_path": json_path, "earlier": earlier}
    if task == "pose":
        estimator = pose_estimator(model_name, boxes_path, flip, refine or 0, batch_size, exif_transpose)
        run |= {"draw": skeleton_drawer(estimator.scheme), "kind": "people"}
        with _runtime(estimator.detector, runtime, onnx_path, threads) as detector:
            return _predict_all(detector, _box_source(boxes_path, face_detector), exif_transpose, model_name, **run)
    detector = _face_model(model_name, threads, crop, flip, refine, batch_size, exif_transpose)
    with _runtime(detector, runtime, onnx_path, threads) as detector:
        _predict_all(detector, _box_source(boxes_path, face_detector), exif_transpose, model_name, **run)


def _face_model(model: str, threads: int | None, crop: str, flip: bool | None, refine: int | None, batch_size: int,
                exif_transpose: bool) -> LandmarkDetector:  # fmt: skip
    """The face landmark detector of ``--model`` with the options; the model's flip test and
    ``default_refinement`` where not given."""
    settings = {"crop": crop, "batch_size": batch_size, "exif_transpose": exif_transpose}
    settings |= {} if flip is None else {"flip": flip}
    try:
        detector = load_detector(model, threads=threads, **settings)
        return dataclasses.replace(detector, refine=default_refinement(model) if refine is None else refine)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None


def _check_video_options(inputs: tuple[Path, ...], frame_folder: bool, task: str, boxes: Path | None,
                         resume: bool) -> None:  # fmt: skip
    """Refuse what a video run cannot do: several inputs, ``--video`` on a file that is no video, pose, box
    files, ``--resume``."""
    if len(inputs) != 1:
        raise click.UsageError(f"a video is predicted on its own: give one video file (or one folder of frames "
                               f"with --video), got {len(inputs)} inputs")  # fmt: skip
    (path,) = inputs
    if frame_folder and path.is_file() and path.suffix.lower() not in VIDEO_SUFFIXES:
        raise click.BadParameter(f"{path} is neither a folder of frames nor a video file "
                                 f"({'/'.join(s[1:] for s in VIDEO_SUFFIXES)})", param_hint="--video")  # fmt: skip
    if task != "face":
        raise click.BadParameter("videos are predicted for faces only", param_hint="--task")
    if boxes is not None:
        raise click.BadParameter("videos find their faces with --detector and track them; --boxes serves images",
                                 param_hint="--boxes")  # fmt: skip
    if resume:
        raise click.BadParameter("a video run starts over; --resume continues runs on images", param_hint="--resume")


def _open_video(path: Path, fps: float | None, exif_transpose: bool) -> Video:
    try:
        return open_video(path, frame_suffixes=IMAGE_SUFFIXES, fps=fps, exif_transpose=exif_transpose)
    except (VideoError, ImageError) as error:
        raise click.ClickException(str(error)) from None


def _example_video() -> Path:
    try:
        return example_video()
    except (OSError, VideoError) as error:
        raise click.ClickException(f"--example-video: cannot write the example clip ({error})") from None


def default_refinement(model: str) -> int:
    """Refinement passes for a face model: 1 for models trained on landmark boxes, whose convention the
    refined crop follows; 0 for others (the authors' torchalign models, trained on dataset boxes).

    Raises:
        ValueError: a model that cannot be found or read, naming it.
    """
    description = model_description(model)
    return int(description is not None and description["preprocessing"]["box"] == "landmarks")


def expand_images(inputs: tuple[Path, ...], recursive: bool = False) -> tuple[list[Path], list[str]]:
    """Files as given, folders replaced by their images (by suffix, case-insensitive, sorted by path; with
    ``recursive`` those of all their subfolders too), each once; and notes on what was passed over:
    subfolders (without ``recursive``), broken links and hidden files (``.name``, such as the ``._photo.jpg``
    that macOS leaves, or what an interrupted write left)."""
    images, notes = [], []
    for path in inputs:
        if not path.is_dir():
            images.append(path)
            continue
        entries = sorted(path.rglob("*") if recursive else path.iterdir())
        files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        images.extend(p for p in files if not p.name.startswith("."))
        notes.extend(f"{p}: a broken link, skipped" for p in entries if p.is_symlink() and not p.exists())
        notes.extend(f"{p}: a hidden file, skipped" for p in files if p.name.startswith("."))
        folders = [p.name for p in entries if p.is_dir() and not recursive]
        if folders:
            notes.append(f"{path}: {len(folders)} subfolder(s) not read ({', '.join(folders[:3])}"
                         f"{', ...' if len(folders) > 3 else ''}); --recursive reads them")  # fmt: skip
    if not images:
        raise click.UsageError(f"no images found in {', '.join(map(str, inputs))} "
                               f"(looked for {'/'.join(s[1:] for s in IMAGE_SUFFIXES)})")
    return list(dict.fromkeys(images)), notes


def overlay_paths(images: list[Path], out_dir: Path | None) -> dict[Path, Path]:
    """Each image's overlay, ``<stem>_landmarks.png`` in ``out_dir``, numbered (``_2``, ...) when an earlier
    image took the name: the same names on every run of the same images, resumed or not; none without
    ``out_dir``."""
    overlays = {}
    for image in images if out_dir is not None else []:
        candidate, number = out_dir / f"{image.stem}_landmarks.png", 1
        while candidate in overlays.values():
            number += 1
            candidate = out_dir / f"{image.stem}_landmarks_{number}.png"
        overlays[image] = candidate
    return overlays


def read_boxes(path: Path) -> np.ndarray:
    """(F, 4) float64 boxes x1, y1, x2, y2 (image pixels) from a box file; blank lines are skipped.

    Raises:
        BoxFileError: naming the file, and the line number for a malformed line (fewer than 4 numbers,
            not finite, or x2 ≤ x1 or y2 ≤ y1); a file without boxes.
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BoxFileError(f"{path}: no such box file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BoxFileError(f"{path}: cannot read boxes ({error})") from None
    rows = [_box(path, number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not rows:
        raise BoxFileError(f"{path}: no boxes in the box file")
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
    """``detector`` on the chosen runtime; for ONNX Runtime, exported to a temporary file unless given (an ONNX
    model runs on ONNX Runtime whatever the runtime)."""
    if runtime == "torch" or not isinstance(detector.runner, DecodingNetwork):
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


def _image_outputs(json_path: Path | None, overlays: dict[Path, Path]) -> dict[str, tuple[Path | None, str]]:
    """The outputs of a run on images, by option: the JSON, its record and the overlays, with their kinds."""
    outputs = {"--json": (json_path, "json")}
    if json_path is not None:
        outputs["--json's record"] = (record_path(json_path), "jsonl")
    return outputs | {f"--out ({image.name})": (path, "png") for image, path in overlays.items()}


def _check_outputs(outputs: dict[str, tuple[Path | None, str]], inputs: list[Path], model: str, force: bool) -> None:
    """Refuse, before any work, outputs that would overwrite an input (the model's files included) or a file of
    another kind."""
    try:
        inputs = [*inputs, *model_files(model)]
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--model") from None
    check_outputs(outputs, inputs, force)


def _earlier_results(json_path: Path) -> dict[str, dict]:
    try:
        return earlier_results(json_path)
    except RecordError as error:
        raise click.BadParameter(str(error), param_hint="--resume") from None


def _predict_all(detector: LandmarkDetector, find_boxes: BoxSource, exif_transpose: bool, model: str, *,
                 images: list[Path], overlays: dict[Path, Path], json_path: Path | None, earlier: dict[str, dict],
                 draw=None, kind: str = "faces") -> None:  # fmt: skip
    """Process every image not in ``earlier`` (entries of a resumed run, by path), reporting and skipping
    failures, recording each image as it is done; write the JSON however the run ends.

    ``draw`` (default ``draw_overlay``) makes the overlays; ``kind`` names the objects, ``"faces"`` or ``"people"``.
    """
    console, errors = Console(), Console(stderr=True)
    entries, seconds = dict(earlier), 0.0
    todo = [path for path in images if str(path) not in earlier]
    with naming_a_broken_model(model):
        warm_up(detector)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    record = nullcontext(lambda entry: None) if json_path is None else open_record(json_path, earlier)
    try:
        with (
            exit_on_sigterm(),
            naming_a_broken_model(model),
            record as add,
            Progress(*columns, console=errors, transient=True) as progress,
        ):
            for path in progress.track(todo, description="predicting"):
                try:
                    entry, spent = _predict_one(
                        path, detector, find_boxes, overlays.get(path), draw or draw_overlay, kind, exif_transpose
                    )
                except ModelOutputError:
                    raise  # the model, not the image: stop
                except (ValueError, OSError) as error:
                    message = str(error).strip().splitlines()[0]
                    progress.console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
                    entry, spent = {"path": str(path), "error": message}, 0.0
                entries[str(path)] = entry
                add(entry)
                seconds += spent
    except (KeyboardInterrupt, SystemExit):
        if json_path is not None:
            done = sum("error" not in entry for entry in entries.values())
            message = f"interrupted: {json_path} holds the {done} images done; --resume continues the run"
            errors.print(message, markup=False, highlight=False, soft_wrap=True)
        raise
    finally:
        if json_path is not None:
            write_results(json_path, images, entries)
    new = [entries[str(path)] for path in todo]
    console.print(_summary(new, len(earlier), seconds, json_path, kind), markup=False, highlight=False, soft_wrap=True)
    if any("error" in entry for entry in entries.values()):
        raise click.exceptions.Exit(1)


def _predict_one(path: Path, detector: LandmarkDetector, find_boxes: BoxSource, overlay: Path | None, draw,
                 kind: str, exif_transpose: bool) -> tuple[dict, float]:  # fmt: skip
    """The JSON entry of one image and the seconds spent finding its landmarks; writes its ``overlay``."""
    image = load_image(path, exif_transpose=exif_transpose)
    boxes = find_boxes(path, image)
    start = time.perf_counter()
    try:
        landmarks, scores = detector.predict(image, boxes)
    except ValueError as error:
        raise located(error, path) from None
    spent = time.perf_counter() - start
    entry = {"path": str(path), kind: [
        {"box": [round(float(v), 4) for v in box],
         "landmarks": np.round(points.astype(np.float64), 4).tolist(),
         "scores": np.round(score.astype(np.float64), 5).tolist()}
        for box, points, score in zip(boxes, landmarks, scores)
    ]}
    if overlay is not None:
        with atomic_path(overlay) as temporary:
            draw(image, boxes, landmarks).save(temporary)
        entry["overlay"] = str(overlay)
    return entry, spent


def _box_source(boxes_path: Path | None, face_detector: str) -> BoxSource:
    """A function giving the (F, 4) boxes of an image: from its box file, or from the face detector."""
    if boxes_path is not None:
        return lambda path, image: read_boxes(boxes_path if boxes_path.is_file() else box_file(boxes_path, path))

    def detect(path: Path, image: np.ndarray) -> np.ndarray:
        try:
            return detect_faces(image, face_detector)[:, :4]
        except ImportError as error:
            raise click.ClickException(str(error)) from None

    return detect


def box_file(boxes_dir: Path, image: Path) -> Path:
    """The box file of ``image`` in a box folder: beside the image if it lies in that folder (at any depth),
    else ``<image name>.bbox`` in the folder."""
    inside = image.resolve().is_relative_to(boxes_dir.resolve())
    return (image.parent if inside else boxes_dir) / f"{image.name}.bbox"


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


def _summary(new: list[dict], earlier: int, seconds: float, json_path: Path | None, kind: str = "faces") -> str:
    """What this run did: images and faces (``kind``), time per face, failures, images done before, the JSON."""
    done = [entry for entry in new if "error" not in entry]
    count = sum(len(entry[kind]) for entry in done)
    timing = f", {1000 * seconds / count:.1f} ms per {'face' if kind == 'faces' else 'person'}" if count else ""
    lines = [f"{len(done)} images, {count} {kind}{timing}"]
    if len(done) < len(new):
        lines.append(f"{len(new) - len(done)} of {len(new)} images failed and were skipped")
    if earlier:
        lines.append(f"{earlier} images done by the run resumed")
    if json_path is not None:
        lines.append(f"wrote {json_path}")
    return "\n".join(lines)
