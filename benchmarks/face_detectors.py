"""The registered face detectors on the 300-W test set and the WFLW test half: recall, false positives, time.

Data: ``300w:../shared/data/300w-private:test`` (591 256x256 crops, one annotated face each) and
``wflw-68:../shared/data/wflw-test-half:test`` (139 annotated faces in 116 photographs of WIDER FACE
crowds and scenes). A face's reference box is its landmark box: the extent of its 68 points.

Per detector and image: the detector's calibrated boxes (``detect_faces``: raw boxes mapped towards
landmark boxes by its ``Calibration``, fitted on the 300-W training subset by
``face_detector_recall.py --fit``, never on these sets) are matched one to one to the annotated faces,
greedily by IoU, pairs with IoU ≥ 0.5 only. Recall: matched faces / faces. False positives: detections
matched to no annotated face, per image; on WFLW some of them are real faces that WFLW left
unannotated (WIDER FACE crowds), so they overstate the false detections there, alike for every
detector. Time: detection alone on the decoded image, the median over the images; the detectors take
turns on each image, so that a changing load on the machine weighs on all alike. torch and OpenCV run
one thread, dlib and ai-edge-litert one thread of their own.

Run: python benchmarks/face_detectors.py [--detectors NAME ...] [--limit N] [--out docs/results/face_detectors]
"""

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from machine import describe_machine

from h3r.data import load_image
from h3r.data.datasets import read_dataset
from h3r.data.training_set import landmark_box
from h3r.inference.detectors.common import box_overlaps
from h3r.inference.face_detection import DETECTORS, detect_faces

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SETS = {
    "300-W test": f"300w:{SHARED / '300w-private'}:test",
    "WFLW test half": f"wflw-68:{SHARED / 'wflw-test-half'}:test",
}
MIN_IOU = 0.5


@dataclass
class Tally:
    """What one detector did on one set."""

    faces: int = 0
    found: int = 0
    false_positives: int = 0
    seconds: list[float] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        images = len(self.seconds)
        return {"faces": self.faces, "found": self.found, "recall": self.found / self.faces,
                "false positives per image": self.false_positives / images,
                "ms per image (median)": float(np.median(self.seconds)) * 1e3, "images": images}


def load_images(spec: str, limit: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(decoded (H, W, 3) uint8 RGB image, (F, 4) landmark boxes of its annotated faces), one per image."""
    boxes: dict[Path, list[np.ndarray]] = {}
    for sample in read_dataset(spec):
        boxes.setdefault(sample.image_path, []).append(landmark_box(sample.keypoints, sample.visible))
    return [(load_image(path), np.array(faces)) for path, faces in list(boxes.items())[:limit]]


def match_count(detections: np.ndarray, faces: np.ndarray) -> int:
    """How many faces (F, 4) the detections (D, ≥4) find one to one at IoU ≥ MIN_IOU, best pairs first."""
    overlaps = box_overlaps(detections, faces)
    found = 0
    while overlaps.size and overlaps.max() >= MIN_IOU:
        row, column = np.unravel_index(np.argmax(overlaps), overlaps.shape)
        overlaps[row, :], overlaps[:, column] = -1, -1
        found += 1
    return found


def measure(names: list[str], images: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, Tally]:
    """Every detector on every image, in turns per image (after one untimed warm-up run each)."""
    tallies = {name: Tally() for name in names}
    for name in names:
        detect_faces(images[0][0], name)
    for image, faces in images:
        for name in names:
            start = time.perf_counter()
            detections = detect_faces(image, name)
            tallies[name].seconds.append(time.perf_counter() - start)
            found = match_count(detections, faces)
            tallies[name].faces += len(faces)
            tallies[name].found += found
            tallies[name].false_positives += len(detections) - found
    return tallies


def table(title: str, rows: dict[str, dict[str, float]]) -> str:
    """A markdown table: detector, recall, false positives per image, median ms, ratio to dlib-hog's ms."""
    anchor = rows["dlib-hog"]["ms per image (median)"] if "dlib-hog" in rows else None
    lines = [f"### {title}", "", "| detector | recall @IoU≥0.5 | false positives / image | ms / image (median) | "
             "time / dlib-hog's |", "| --- | ---: | ---: | ---: | ---: |"]
    for name, row in rows.items():
        ms = row["ms per image (median)"]
        ratio = f"{ms / anchor:.2f}" if anchor else "-"
        lines.append(f"| {name} | {row['found']}/{row['faces']} "
                     f"({row['recall']:.1%}) | {row['false positives per image']:.2f} | {ms:.1f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=list(DETECTORS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N images of each set")
    parser.add_argument("--out", type=Path, default=None, help="write OUT.md and OUT.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    names = [name for name in args.detectors if _available(name)]
    results, tables = {}, []
    for title, spec in SETS.items():
        rows = {name: tally.row() for name, tally in measure(names, load_images(spec, args.limit)).items()}
        results[title] = rows
        tables.append(table(title, rows))
        print(tables[-1] + "\n", flush=True)
    machine = f"machine: {describe_machine()}"
    print(machine)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        command = "python benchmarks/face_detectors.py " + " ".join(
            f"--{key} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for key, v in vars(args).items() if v is not None)
        args.out.with_suffix(".md").write_text(f"`{command}`\n\n{machine}\n\n" + "\n\n".join(tables) + "\n")
        args.out.with_suffix(".json").write_text(json.dumps({"machine": describe_machine(), "min_iou": MIN_IOU,
                                                             "sets": SETS, "results": results}, indent=2) + "\n")


def _available(name: str) -> bool:
    """Whether the detector's library is installed; says why not when it is missing."""
    try:
        detect_faces(np.zeros((64, 64, 3), np.uint8), name)
    except ImportError as error:
        print(f"{name}: skipped: {error}")
        return False
    return True


if __name__ == "__main__":
    main()
