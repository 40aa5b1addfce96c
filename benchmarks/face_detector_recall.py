"""How many faces of the 300-W training subset each offline face detector finds, how fast, and (--fit)
the calibration that maps each registered detector's boxes onto landmark boxes.

Data: the 2,012 256x256 face crops of ../shared/data/300w-subset (afw, helen/trainset, lfpw/trainset),
one annotated face each; its landmark box is the extent of the 68 points (.pts, 1-based, minus 1).

Rule: a face counts as found when a detection contains the centre of the landmark box and the
detection's longer side is between 0.5x and 2x the landmark box's longer side. Detector boxes are not
landmark boxes (both are larger and sit higher on the face, Haar's more so than dlib's), so an IoU
rule on raw boxes would judge box conventions rather than finding faces; the centre-and-scale rule
accepts any box that is about the face. Of several detections that fit, the one whose centre is nearest the landmark box centre is
the match; every other detection counts as extra (a few extras are real unannotated faces at the
crop's edge, most are false). The calibrated IoU columns then say how well the matched box, corrected
by the detector's ``Calibration``, overlaps the landmark box.

Timing: detection only (image decoded beforehand), mean over the crops, OpenCV with its
default threads, dlib single-threaded. The official demo images (256x256, 1024x1024, 2048x1150)
add the time on larger images and, for selfie.jpg, how many of its 40 reference faces are found
(same rule, reference box in place of the landmark box).

--fit fits each registered detector's Calibration instead (medians of the centre shift and size ratio
over the faces found, on the crops rescaled by 0.6x-1.5x: see ``rescaled``) and prints its residuals
in-sample, with one 300-W source held out in turn, and on the native crops.

Run: python benchmarks/face_detector_recall.py [--data DIR] [--limit N] [--fit [--detectors NAME ...]]
Needs dlib-bin and, for the Haar cascades, opencv-python-headless<5; configurations whose library is
missing are reported and skipped.
"""

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from machine import describe_machine
from PIL import Image

from h3r.inference.face_detection import DETECTORS, Calibration, haar_boxes

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SOURCES = ("afw", "helen", "lfpw")
MIN_RATIO, MAX_RATIO = 0.5, 2.0
FIT_SCALES = (0.6, 1.5)


@dataclass
class Config:
    """A detector setting to measure; ``calibration`` names the registered detector whose fit applies."""

    name: str
    settings: str
    boxes: Callable[[np.ndarray], np.ndarray]
    calibration: str | None


@dataclass
class Tally:
    """What one configuration did over the crops; ``pairs`` holds, per face found, the matched detection
    (4,), the landmark box (4,) and the face's source."""

    found: int = 0
    extra: int = 0
    images_with_extra: int = 0
    seconds: float = 0.0
    raw_iou: list[float] = field(default_factory=list)
    pairs: list[tuple[np.ndarray, np.ndarray, str]] = field(default_factory=list)


def configs() -> list[Config]:
    """dlib at upsampling 0 and 1; OpenCV's frontal cascades at their defaults and a stricter one; profiles."""
    profile = partial(haar_boxes, cascade="haarcascade_profileface.xml")
    return [
        Config("dlib-hog", "upsample_num_times=0", DETECTORS["dlib-hog"].boxes, "dlib-hog"),
        Config("dlib-hog-up1", "upsample_num_times=1", DETECTORS["dlib-hog-up1"].boxes, "dlib-hog-up1"),
        Config("haar frontalface_default", "scaleFactor=1.1 minNeighbors=3", DETECTORS["haar"].boxes, "haar"),
        Config("haar frontalface_default", "scaleFactor=1.1 minNeighbors=5", partial(haar_boxes, min_neighbors=5),
               "haar"),
        Config("haar frontalface_alt2", "scaleFactor=1.1 minNeighbors=3",
               partial(haar_boxes, cascade="haarcascade_frontalface_alt2.xml"), None),
        Config("haar profileface", "image and mirror, 1.1/3", partial(both_ways, profile), None),
        Config("haar frontal+profile", "union, 1.1/3", lambda image: np.concatenate(
            [haar_boxes(image), both_ways(profile, image)]), None),
    ]


def both_ways(boxes: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    """Boxes found in the image and in its mirror image (mapped back: x → W − 1 − x), (F, 5)."""
    mirrored = boxes(np.ascontiguousarray(image[:, ::-1])).copy()
    mirrored[:, [0, 2]] = image.shape[1] - 1 - mirrored[:, [2, 0]]
    return np.concatenate([boxes(image), mirrored])


def load_faces(data: Path, limit: int | None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(source, (H, W, 3) uint8 RGB crop, landmark box (x1, y1, x2, y2) 0-based pixels) for every .pts."""
    faces = []
    for pts in sorted(data.rglob("*.pts"))[:limit]:
        points = read_pts(pts)
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
        image = np.asarray(Image.open(pts.with_suffix(".jpg")).convert("RGB"))
        faces.append((pts.relative_to(data).parts[0], image, box))
    return faces


def read_pts(path: Path) -> np.ndarray:
    """A 300-W .pts file → (68, 2) (x, y), 0-based pixel centres (the file's 1-based values minus 1)."""
    lines = path.read_text().splitlines()
    body = lines[lines.index("{") + 1: lines.index("}")]
    return np.array([[float(v) for v in line.split()] for line in body]) - 1


def match(detections: np.ndarray, box: np.ndarray) -> int | None:
    """Index of the detection that finds the face of landmark box ``box`` (the rule above), or None."""
    centre, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max()
    ratio = (detections[:, 2:4] - detections[:, 0:2]).max(axis=1) / side
    inside = np.all((detections[:, 0:2] <= centre) & (centre <= detections[:, 2:4]), axis=1)
    ok = np.flatnonzero(inside & (ratio >= MIN_RATIO) & (ratio <= MAX_RATIO))
    if ok.size == 0:
        return None
    offsets = np.linalg.norm((detections[ok, 0:2] + detections[ok, 2:4]) / 2 - centre, axis=1)
    return int(ok[np.argmin(offsets)])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes (..., 4) and (..., 4), continuous-frame corners."""
    size = np.clip(np.minimum(a[..., 2:4], b[..., 2:4]) - np.maximum(a[..., 0:2], b[..., 0:2]), 0, None)
    inter = size[..., 0] * size[..., 1]
    area = lambda c: (c[..., 2] - c[..., 0]) * (c[..., 3] - c[..., 1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def run(config: Config, faces: list) -> Tally:
    tally = Tally()
    for source, image, box in faces:
        start = time.perf_counter()
        detections = config.boxes(image)
        tally.seconds += time.perf_counter() - start
        hit = match(detections, box)
        extra = len(detections) - (hit is not None)
        tally.extra += extra
        tally.images_with_extra += extra > 0
        if hit is not None:
            tally.found += 1
            tally.raw_iou.append(float(iou(detections[hit, :4], box)))
            tally.pairs.append((detections[hit, :4], box, source))
    return tally


def fit(pairs: list) -> Calibration:
    """Median shift (fractions of the detection's size) and median size ratio over matched pairs."""
    det = np.array([p[0] for p in pairs])
    ref = np.array([p[1] for p in pairs])
    size = det[:, 2:] - det[:, :2]
    shift = np.median(((ref[:, :2] + ref[:, 2:]) - (det[:, :2] + det[:, 2:])) / 2 / size, axis=0)
    scale = np.median((ref[:, 2:] - ref[:, :2]) / size, axis=0)
    return Calibration(*(round(float(v), 4) for v in (*shift, *scale)))


def residual(calibration: Calibration, pairs: list) -> dict[str, float]:
    """How far calibrated boxes are from the landmark boxes: IoU and centre error / landmark box side."""
    det = np.array([[*p[0], 1.0] for p in pairs])
    ref = np.array([p[1] for p in pairs])
    fixed = calibration.apply(det)[:, :4]
    overlap = iou(fixed, ref)
    side = (ref[:, 2:] - ref[:, :2]).max(axis=1)
    centre_error = np.linalg.norm((fixed[:, :2] + fixed[:, 2:] - ref[:, :2] - ref[:, 2:]) / 2, axis=1) / side
    log_size_ratio = np.log((fixed[:, 2:] - fixed[:, :2]) / (ref[:, 2:] - ref[:, :2]))
    return {"mean IoU": overlap.mean(), "median IoU": np.median(overlap), "IoU>0.5": (overlap > 0.5).mean(),
            "mean centre err/side": centre_error.mean(), "mean |log size ratio|": np.abs(log_size_ratio).mean()}


def demo_row(config: Config, images: Path) -> str:
    """ms on each official demo image, and how many of selfie.jpg's 40 reference faces are found."""
    cells = []
    for name in ("demo.jpg", "demo2.jpg", "selfie.jpg"):
        image = np.asarray(Image.open(images / name).convert("RGB"))
        start = time.perf_counter()
        detections = config.boxes(image)
        cells.append(f"{(time.perf_counter() - start) * 1e3:7.0f}")
    references = np.loadtxt(images / "selfie.jpg.bbox", ndmin=2)[:, :4]
    found = sum(match(detections, box) is not None for box in references)
    return " ".join(cells) + f"   {found:2d}/{len(references)} ({len(detections)} boxes)"


def describe_machine_and_libraries() -> str:
    versions = []
    for module in ("cv2", "dlib"):
        try:
            lib = __import__(module)
            threads = f", {lib.getNumThreads()} threads" if module == "cv2" else ""
            versions.append(f"{module} {lib.__version__}{threads}")
        except ImportError:
            versions.append(f"{module} absent")
    return f"{describe_machine()}; numpy {np.__version__}, " + ", ".join(versions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED / "300w-subset", help="the 300-W crops folder")
    parser.add_argument("--demo", type=Path, default=SHARED / "official-h3r" / "images",
                        help="folder of demo.jpg, demo2.jpg, selfie.jpg (+ .bbox); skipped when absent")
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces (sorted by path)")
    parser.add_argument("--fit", action="store_true",
                        help="only fit and print each registered detector's Calibration (on rescaled crops)")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS), choices=list(DETECTORS),
                        help="with --fit: the registered detectors to fit (default: all)")
    args = parser.parse_args()
    faces = load_faces(args.data, args.limit)
    print(f"{len(faces)} faces from {args.data}\nmachine: {describe_machine_and_libraries()}")
    if args.fit:
        print_fits(faces, args.detectors)
        return
    measured = print_recall(faces)
    if args.demo.is_dir():
        print(f"\n{'detector':26s} {'settings':32s} {'ms on demo 256² / demo2 1024² / selfie 2048x1150':>48s}"
              "   selfie faces found")
        for config in measured:
            print(f"{config.name:26s} {config.settings:32s} {'':25s}{demo_row(config, args.demo)}")


def print_recall(faces: list) -> list[Config]:
    """Print the recall table; return the configurations whose library is installed."""
    print(f"\n{'detector':26s} {'settings':32s} {'found':>10s} {'extra (imgs)':>13s} {'raw IoU':>8s} "
          f"{'cal IoU':>8s} {'cal>0.5':>8s} {'ms/img':>7s}")
    measured = []
    for config in configs():
        try:
            tally = run(config, faces)
        except ImportError as error:
            print(f"{config.name:26s} {config.settings:32s} skipped: {error}")
            continue
        measured.append(config)
        print(result_line(config, tally, len(faces)))
    return measured


def result_line(config: Config, tally: Tally, total: int) -> str:
    found = f"{tally.found}/{total}"
    cal_iou = cal_ok = "-"
    if config.calibration and tally.pairs:
        stats = residual(DETECTORS[config.calibration].calibration, tally.pairs)
        cal_iou, cal_ok = f"{stats['mean IoU']:.3f}", f"{stats['IoU>0.5'] * tally.found:.0f}"
    raw = f"{np.mean(tally.raw_iou):.3f}" if tally.raw_iou else "-"
    extra = f"{tally.extra} ({tally.images_with_extra})"
    return (f"{config.name:26s} {config.settings:32s} {found:>10s} {extra:>13s} "
            f"{raw:>8s} {cal_iou:>8s} {cal_ok:>8s} {tally.seconds / total * 1e3:7.1f}")


def print_fits(faces: list, names: list[str]) -> None:
    """Fit each registered detector on rescaled crops; residuals in-sample, leave-one-source-out, native."""
    print(f"\nCalibration fits on the crops rescaled by {FIT_SCALES[0]}x-{FIT_SCALES[1]}x "
          "(paste into DETECTORS in src/h3r/inference/face_detection.py):")
    resized = rescaled(faces)
    for name in names:
        detector = DETECTORS[name]
        try:
            pairs = run(Config(name, "", detector.boxes, name), resized).pairs
        except ImportError as error:
            print(f"  {name!r}: skipped: {error}")
            continue
        calibration = fit(pairs)
        print(f"  {name!r}: {calibration}")
        print(f"    in-sample ({len(pairs)} of {len(faces)} found): {format_stats(residual(calibration, pairs))}")
        for held_out in SOURCES:
            train = [p for p in pairs if p[2] != held_out]
            test = [p for p in pairs if p[2] == held_out]
            if train and test:
                print(f"    fit without {held_out:5s}, on {held_out:5s} ({len(test)}): "
                      f"{format_stats(residual(fit(train), test))}")
        native = run(Config(name, "", detector.boxes, name), faces).pairs
        print(f"    on the native 256x256 crops ({len(native)}): {format_stats(residual(calibration, native))}")


def rescaled(faces: list, seed: int = 0) -> list:
    """Each crop resized by its own log-uniform factor in FIT_SCALES (bilinear), landmark box to match.

    Every 300-W crop shows its face at one size (landmark box side 160 pixels), and detectors search a
    pyramid of discrete scales (dlib's steps by 6/5), so on the native crops a detector's box size
    relative to the face depends on where 160 falls between two pyramid levels. Spreading the face
    sizes over more than a pyramid step averages that out, as real images of any face size do.
    """
    rng = np.random.default_rng(seed)
    factors = np.exp(rng.uniform(*np.log(FIT_SCALES), len(faces)))
    resized = []
    for (source, image, box), factor in zip(faces, factors):
        side = round(image.shape[0] * factor)
        factor = side / image.shape[0]
        pixels = Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR, reducing_gap=None)
        resized.append((source, np.asarray(pixels), (box + 0.5) * factor - 0.5))  # pixel centres at integers
    return resized


def format_stats(stats: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:.3f}" for key, value in stats.items())


if __name__ == "__main__":
    main()
