"""Box refinement on the validation faces: how much does cropping again from the landmarks' box recover?

A model trained on landmark boxes (``data.box: landmarks``, as ``face68``) meets other boxes in use: a face
detector's, even calibrated towards landmark boxes (``h3r.inference.face_detection``), or a user's. With
``refine=N``, ``LandmarkDetector.predict`` crops each face N more times from the bounding box of the
landmarks the previous pass found (the passes before the last without the flip test). This benchmark
scores, on the validation faces that the model's training config held out (never the test set: this is
where ``h3r predict``'s default of one pass was chosen), the model with 0, 1 and 2 passes on the
calibrated boxes of a face detector, and on the landmark boxes themselves, with the flip test: NME by the
outer eye corners and FR@0.10, on the faces the detector finds (matched to the annotated face by the
rule of ``face_detector_recall.py``), and the median time per face.

Run from the project root (the model's config names its data relative to it):
    python benchmarks/box_refinement.py [--model face68] [--detector dlib-hog-up1] [--passes 0,1,2]
                                        [--limit N] [--json OUT]
"""

import argparse
import json
import time

import numpy as np
import torch
from dlib_comparison import LANDMARKS, calibrated, face_errors, scores
from face_detector_recall import match
from machine import describe_machine
from rich.console import Console
from rich.table import Table

from h3r.engine.config import validate_config
from h3r.engine.evaluate import face_box
from h3r.engine.train import load_faces
from h3r.inference.face_detection import DETECTORS
from h3r.load import load_detector, model_description
from h3r.utils.malloc import tune_allocator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="face68", help="a bundled model's name, a bundle or an h3r run (default face68)")
    parser.add_argument("--detector", default="dlib-hog-up1", choices=sorted(DETECTORS),
                        help="the face detector whose calibrated boxes are refined (default dlib-hog-up1)")
    parser.add_argument("--passes", default="0,1,2", help="refinement passes to compare, comma-separated")
    parser.add_argument("--limit", type=int, default=None, help="only the first N validation faces")
    parser.add_argument("--json", type=str, default=None, help="write the results to this JSON file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args(argv)
    try:
        args.passes = [int(value) for value in args.passes.split(",")]
    except ValueError:
        parser.error(f"--passes: expected comma-separated counts such as 0,1,2, got {args.passes!r}")
    if any(value < 0 for value in args.passes):
        parser.error(f"--passes: counts must be non-negative, got {args.passes}")
    return args


def validation_faces(model: str):
    """The validation faces the model's training config held out, or SystemExit saying why there are none."""
    try:
        description = model_description(model)
    except ValueError as error:
        raise SystemExit(f"--model: {error}") from None
    if description is None:
        raise SystemExit(f"--model {model}: a torchalign folder names no validation faces; give an h3r model")
    return load_faces(validate_config(description["config"], source="the model's training config"))[1]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tune_allocator()
    torch.set_num_threads(args.threads)
    faces = validation_faces(args.model)
    faces.samples = faces.samples[: args.limit]
    model = load_detector(args.model, flip=True)
    settings = [(args.detector, passes) for passes in args.passes] + [(LANDMARKS, 0), (LANDMARKS, 1)]
    landmarks = {setting: np.full((len(faces), model.num_landmarks, 2), np.nan) for setting in settings}
    seconds = {setting: np.full(len(faces), np.nan) for setting in settings}
    model.predict(faces[0].load_image(), [face_box(faces[0], LANDMARKS)])  # warm-up, untimed
    for index, sample in enumerate(faces):
        image, truth = sample.load_image(), face_box(sample, LANDMARKS)
        hit = match(raw := DETECTORS[args.detector].boxes(image), truth)
        boxes = {LANDMARKS: truth} | ({} if hit is None else {args.detector: calibrated(raw[hit], args.detector)})
        for source, passes in settings:
            if source in boxes:
                start = time.perf_counter()
                points, _ = model.predict(image, [boxes[source]], refine=passes)
                seconds[source, passes][index] = time.perf_counter() - start
                landmarks[source, passes][index] = points[0]
    found = np.isfinite(seconds[args.detector, args.passes[0]])
    results = []
    for source, passes in settings:
        result = scores(face_errors(landmarks[source, passes], faces), found)
        ms = float(np.median(seconds[source, passes][found]) * 1e3)
        results.append({"boxes": source, "refine": passes, **result, "ms": ms})
    machine = describe_machine()
    grid = Table(title=f"{args.model} on its {len(faces)} validation faces ({faces.name}): the {int(found.sum())} "
                       f"that {args.detector} finds; flip test on", title_justify="left")
    for column in ("boxes", "refine", "faces", "NME %", "FR@0.10 %", "ms per face"):
        grid.add_column(column, justify="left" if column == "boxes" else "right")
    for result in results:
        boxes = f"{args.detector} cal." if result["boxes"] != LANDMARKS else "landmark boxes"
        grid.add_row(boxes, str(result["refine"]), str(result["faces"]), f"{result['nme'] * 100:.2f}",
                     f"{result['fr@0.10'] * 100:.1f}", f"{result['ms']:.1f}")
    console = Console()
    console.print(grid)
    console.print(f"machine: {machine}")
    if args.json:
        settings_record = {"model": args.model, "detector": args.detector, "faces": len(faces),
                           "threads": args.threads, "machine": machine}
        with open(args.json, "w") as file:
            json.dump({"settings": settings_record, "results": results}, file, indent=2)
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
