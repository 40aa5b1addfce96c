"""Our 68-point model against dlib's on faces in the wild: WFLW test photographs and MTFL's AFLW faces.

Data (``../shared/data``):
    - ``wflw-test-half``: WFLW test photographs (WIDER FACE: crowds, small, blurred, occluded and turned
      faces), 139 faces with WFLW's 68-point lines (``wflw-68:...:test``); boxes: WFLW's face rectangles.
    - ``mtfl-5pt``: the 2,995 AFLW test faces of MTFL (``mtfl:...:test``), 80x80 crops with 5 points (eye
      centres, nose tip, mouth corners); boxes: the whole crop. Both methods' 68 points are scored on the
      5 points they imply (``h3r.data.datasets.conversion``: eye-contour centres, 30, 48, 54).

Rows:
    - dlib: its ERT shape predictor (``shape_predictor_68_face_landmarks.dat`` of ``face_recognition_models``)
      on the boxes of its own HOG detector upsampled once (``detector(img, 1)``, as dlib's example runs
      it), on the faces that detector finds. Its landmarks are whole pixels, as dlib returns them.
    - ours on the dataset's boxes (all faces), with ``h3r predict``'s defaults (the model's flip test
      and box refinement);
    - ours on dlib's boxes, calibrated to our convention (``dlib-hog-up1``'s ``Calibration``).
A detection finds an annotated face by the rule of ``face_detector_recall.match``, against the bounding
box of the face's 68 points (WFLW) or the crop (MTFL, whose 5 points span no face box). The second
table puts every method on the same faces: those dlib's detector finds.

NME: by the outer eye corners (68 points) or the eye centres (MTFL), per face, then averaged;
FR@0.10: NME above 0.10. Latency: median per face of the landmark stage alone (images decoded
beforehand; torch with ``--threads`` threads, dlib single-threaded).

Run: python benchmarks/wild_comparison.py [--model face68] [--sets wflw mtfl] [--limit N] [--json OUT]
"""

import argparse
import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import dlib
import numpy as np
from dlib_comparison import (
    DLIB,
    box_to_rect,
    calibrated,
    face_errors,
    load_model,
    median_ms,
    shape_predictor_path,
    timed,
)
from face_detector_recall import match
from machine import describe_machine
from rich.console import Console
from rich.table import Table

from h3r.cli.predict import default_refinement
from h3r.data.datasets import FaceDataset, read_dataset
from h3r.data.datasets.conversion import convert_landmarks
from h3r.data.training_set import landmark_box
from h3r.inference.detector import LandmarkDetector
from h3r.inference.face_detection import DETECTORS
from h3r.metrics import failure_rate

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "wflw": f"wflw-68:{SHARED / 'wflw-test-half'}:test",
    "mtfl": f"mtfl:{SHARED / 'mtfl-5pt'}:test",
}
MODEL_SCHEME = "300w-68"
FAILURE_THRESHOLD = 0.10
METHODS = ("dlib ERT, dlib's boxes", "ours, dataset boxes", "ours, dlib's boxes cal.")


@dataclass
class Results:
    """Per face of one data set (N faces), NaN where a method did not run (dlib's detector missed the face).

    Attributes:
        landmarks: method → (N, K, 2) predictions in the data set's scheme.
        seconds: method → (N,) landmark-stage time per face.
    """

    landmarks: dict[str, np.ndarray]
    seconds: dict[str, np.ndarray]


def truth_box(faces: FaceDataset, index: int) -> np.ndarray:
    """(4,) the box a detection must match: the 68 points' extent, or the dataset's box for fewer points."""
    sample = faces[index]
    if faces.scheme.num_landmarks >= 68 or sample.box is None:
        return landmark_box(sample.keypoints, sample.visible)
    return np.asarray(sample.box, dtype=np.float64)


def run(faces: FaceDataset, model: LandmarkDetector, predictor, refine: int) -> Results:
    """Every method on every face, one image at a time (dlib's detector once per image)."""
    count, k = len(faces), faces.scheme.num_landmarks
    landmarks = {method: np.full((count, k, 2), np.nan) for method in METHODS}
    seconds = {method: np.full(count, np.nan) for method in METHODS}
    by_image = defaultdict(list)
    for index, sample in enumerate(faces):
        by_image[sample.image_path].append(index)

    def record(method: str, index: int, points: np.ndarray, elapsed: float) -> None:
        landmarks[method][index] = convert_landmarks(points, MODEL_SCHEME, faces.scheme)
        seconds[method][index] = elapsed

    model.predict(faces[0].load_image(), [faces[0].box], refine=refine)  # warm-up, untimed
    for indices in by_image.values():
        image = faces[indices[0]].load_image()
        detections = DETECTORS[DLIB].boxes(image)
        for index in indices:
            (points, _), elapsed = timed(model.predict, image, [faces[index].box], refine=refine)
            record(METHODS[1], index, points[0], elapsed)
            hit = match(detections, truth_box(faces, index)) if len(detections) else None
            if hit is None:
                continue
            shape, elapsed = timed(predictor, image, box_to_rect(detections[hit]))
            record(METHODS[0], index, np.array([(p.x, p.y) for p in shape.parts()], np.float64), elapsed)
            box = calibrated(detections[hit], DLIB)
            (points, _), elapsed = timed(model.predict, image, [box], refine=refine)
            record(METHODS[2], index, points[0], elapsed)
    return Results(landmarks, seconds)


def summary(method: str, errors: np.ndarray, seconds: np.ndarray, chosen: np.ndarray) -> dict:
    """A method's scores on the faces ``chosen`` (N,) bool, which must all have a prediction."""
    picked = errors[chosen]
    if np.isnan(picked).any():
        raise ValueError(f"{method}: {int(np.isnan(picked).sum())} chosen faces have no prediction")
    return {
        "method": method,
        "faces": int(picked.size),
        "nme": float(picked.mean()) if picked.size else float("nan"),
        "fr@0.10": failure_rate(picked, FAILURE_THRESHOLD) if picked.size else float("nan"),
        "landmarks_ms": median_ms(seconds[chosen]),
    }


def score(faces: FaceDataset, results: Results) -> dict:
    """Each method on the faces its boxes give, and all methods on the faces dlib's detector finds."""
    errors = {method: face_errors(results.landmarks[method], faces) for method in METHODS}
    found = np.isfinite(errors[METHODS[0]])
    own = [summary(method, errors[method], results.seconds[method], np.isfinite(errors[method])) for method in METHODS]
    same = [summary(method, errors[method], results.seconds[method], found) for method in METHODS]
    return {"faces": len(faces), "dlib_found": int(found.sum()), "own_boxes": own, "same_faces": same}


def table(title: str, rows: list[dict]) -> Table:
    grid = Table(title=title, title_justify="left")
    for name in ("method", "faces", "NME %", "FR@0.10 %", "landmarks ms"):
        grid.add_column(name, justify="left" if name == "method" else "right")
    for row in rows:
        grid.add_row(row["method"], str(row["faces"]), f"{row['nme'] * 100:.2f}", f"{row['fr@0.10'] * 100:.1f}",
                     f"{row['landmarks_ms']:.1f}")
    return grid


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="face68", help="a bundled model's name or a model folder (default face68)")
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS), help="which data sets")
    parser.add_argument("--refine", type=int, default=None,
                        help="box refinement passes for our model (default: h3r predict's default for it)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces of each set")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; dlib uses one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    model = load_model(args.model, args.threads)
    refine = default_refinement(args.model) if args.refine is None else args.refine
    predictor = dlib.shape_predictor(str(shape_predictor_path()))
    console = Console()
    machine = f"{describe_machine()}; dlib {dlib.__version__} (single-threaded)"
    console.print(f"model {args.model} (flip test {'on' if model.flip else 'off'}, {refine} refinement "
                  f"pass(es)); machine: {machine}")
    load = os.getloadavg()[0]
    if load >= 1:
        console.print(f"note: load average {load:.1f} before the run: other jobs share this machine, "
                      "so the timings are pessimistic")
    report = {"settings": {"model": args.model, "refine": refine, "flip": model.flip, "threads": args.threads,
                           "dlib_detector": DLIB, "machine": machine}}
    for name in args.sets:
        try:
            faces = read_dataset(SETS[name])
        except ValueError as error:
            raise SystemExit(f"{name}: {error}") from None
        faces.samples = faces.samples[: args.limit]
        scores = score(faces, run(faces, model, predictor, refine))
        report[name] = {"data": SETS[name], **scores}
        console.print(table(f"{name} ({faces.name}): each method on the faces its boxes give, of {len(faces)}",
                            scores["own_boxes"]))
        console.print(table(f"{name}: on the same {scores['dlib_found']} faces, those dlib's detector finds",
                            scores["same_faces"]))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
