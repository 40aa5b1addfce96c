"""Stability in video: how much landmarks jitter when real faces move slowly by a known sub-pixel motion.

Sequences: each of ``--limit`` faces (spread evenly over the set) of the 300-W test set and of the WFLW test
half (its 68-point lines) becomes a clip of ``--frames`` frames: the image moved by
``h3r.data.video.slow_motion`` (a 3 x 2-pixel drift, a 4 % zoom and a 3 degree turn about the face's centre,
eased in and out: at most about 0.1 pixel of drift per frame), rendered by the library's exact affine warp
(``warp_affine``: bilinear, positions exact to OpenCV's 1/32 pixel), plus Gaussian sensor noise (sigma
``--noise`` grey levels, drawn afresh for every frame, seeded). The true landmarks follow the same matrices,
so every landmark's true trajectory is known. A frame is the square of 1.6 x the longer side of the face's
landmark box around it (the layout of the 300-W crops) at the image's own resolution, cut at whole pixels:
frame 0 holds the image's own pixels.

Boxes: every method sees every frame of a clip through one fixed box: frame 0's true landmark box, the crop
convention ``face68`` was trained on; dlib the box its shape predictor was trained on, its own HOG detector's
(``dlib-hog-up1``) on frame 0, or where that misses the face the landmark box with that detector's calibration
undone (the output counts both; on turned faces the landmark box is far from dlib's). A box moving with the face
would carry the motion into the crop: the network would see a still face and the quantization under test
would not show. With a fixed box the face moves across the crop's pixels and heatmap cells as it moves across
a video's. "face68, tracked" crops every frame from the box of earlier landmarks instead, as ``h3r predict``
does on videos (``h3r.inference.tracking``: the box moves once the landmarks' box overlaps it by less than
``keep_iou``, 0.9; frame 0's true box takes the face detector's place, and the face is never given up);
"new box every frame" crops every frame from the box of the landmarks of the frame before.

Rows:
    - ``face68``, the bundled model (flip test as shipped, top-9 softmax decoding), and the same network
      decoded by argmax (``vanilla-round``'s decoder: the highest cell of the foreground probabilities, 4 crop
      pixels wide, averaged with the flip test's mirror), from the same network outputs;
    - the authors' released WFLW MobileNetV2 models (``--official``: input sizes; flip test, top-9), their 98
      points brought to 68 (``h3r.data.datasets.conversion``), the largest also decoded by argmax;
    - dlib's ERT shape predictor (``shape_predictor_68_face_landmarks.dat``), whose points are whole pixels;
    - ``--study RUNS`` (e.g. ``runs/resolution_study_imagenet``): the resolution study's ``vanilla-round`` and
      ``h3r`` runs at strides 4 and 8 (seed 0, final weights; ``python benchmarks/resolution_study.py
      --edition imagenet`` trains them first), each with its own decoding: the same network, data and
      budget, only the codec differs. A verdict line per stride compares their jitter;
    - ``--model NAME=PATH`` (repeatable): any model ``h3r.load`` reads, with its own decoding.
Each row also through a One Euro filter (``h3r.inference.smoothing``, min_cutoff 1 Hz, beta 0.1 per pixel,
the clip taken at 30 frames per second), run over its trajectory after the fact.

Metrics per row, over the clips' frames and 68 points (e = prediction - truth, a 2-vector per point and frame):
    - jitter: the RMS of |e_t - e_(t-1)|, the frame-to-frame change of the error against the known
      trajectory, in pixels and in % of the face's inter-ocular distance (outer eye corners, its mean over
      the clip); a method that follows the motion exactly, biased or not, has none;
    - "median clip": the median over the clips of each clip's jitter (% IOD), which the few faces a method
      fails on (tens of % NME, their points wandering) weigh less in;
    - NME: the mean over frames and clips of each frame's NME (outer eye corners).

Run: python benchmarks/stability.py [--limit 20] [--frames 40] [--sets 300w wflw] [--official 128 256]
                                    [--study RUNS] [--model NAME=PATH ...] [--json docs/results/stability.json]
                                    [--markdown docs/results/stability.md] [--plot docs/results/stability_trajectory.png]
"""

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import dlib
import matplotlib
import numpy as np
import torch
from dlib_comparison import DLIB, box_to_rect, shape_predictor_path
from face_detector_recall import match
from machine import describe_machine
from rich.console import Console
from rich.table import Table
from torch import nn

from h3r.codecs import build_codec
from h3r.data import compose, transform_points, translation_matrix, warp_affine
from h3r.data.datasets import FaceDataset, read_dataset
from h3r.data.datasets.conversion import find_conversion
from h3r.data.datasets.schemes import get_scheme, scheme_for_count
from h3r.data.training_set import landmark_box
from h3r.data.video import slow_motion
from h3r.inference.detector import LandmarkDetector
from h3r.inference.face_detection import DETECTORS
from h3r.inference.network import DecodingNetwork, decode_output
from h3r.inference.smoothing import OneEuroSettings, smooth_trajectory
from h3r.inference.tracking import FaceTracker, TrackingSettings
from h3r.load import load_detector
from h3r.metrics import nme, normalizing_distance

matplotlib.use("Agg")
from matplotlib import pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SETS = {
    "300w": f"300w:{SHARED / '300w-private'}:test",
    "wflw": f"wflw-68:{SHARED / 'wflw-test-half'}:test",
}
OFFICIAL = SHARED / "official-h3r" / "models"
FPS = 30.0
WINDOW = 1.6  # frame side over the landmark box's longer side
SMOOTHING = OneEuroSettings()
PLOT_POINT = 45  # the outer corner of the eye on the image's right: the drift and the zoom add up there
PLOT_ROWS = ("face68", "h3r s4", "vanilla-round s4", "dlib ERT")
"""The plot's rows: truth, h3r, vanilla-round, dlib; without ``--study``, face68 decoded by argmax stands in
for the two study rows."""
STUDY_CODECS, STUDY_STRIDES = ("vanilla-round", "h3r"), (4, 8)
IBUG_68 = get_scheme("300w-68")

Method = Callable[[list[np.ndarray], np.ndarray], dict[str, np.ndarray]]
"""(T frames (H, W, 3) uint8 RGB, (4,) fixed box, landmark-box convention) → row name → (T, 68, 2) trajectory."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """A face moved by a known motion.

    Attributes:
        frames: T (S, S, 3) uint8 RGB frames.
        truth: (T, 68, 2) the true landmarks in every frame, pixels.
        box: (4,) frame 0's true landmark box.
    """

    frames: list[np.ndarray]
    truth: np.ndarray
    box: np.ndarray


def render_clip(image: np.ndarray, keypoints: np.ndarray, frames: int, noise: float, rng: np.random.Generator) -> Clip:
    """A face's clip (see the module docstring) from its (H, W, 3) image and (68, 2) landmarks."""
    box = landmark_box(keypoints, np.ones(len(keypoints), bool))
    side = int(round(WINDOW * float((box[2:] - box[:2]).max())))
    corner = np.round((box[:2] + box[2:]) / 2 - side / 2)
    to_window = translation_matrix(-corner)
    centre = (box[:2] + box[2:]) / 2 - corner
    clip_frames, truth = [], []
    for motion in slow_motion(frames, centre):
        matrix = compose(to_window, motion)
        frame = warp_affine(image, matrix, side).astype(np.float64)
        frame += rng.normal(0.0, noise, frame.shape)
        clip_frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        truth.append(transform_points(matrix, keypoints))
    truth = np.stack(truth)
    return Clip(clip_frames, truth, landmark_box(truth[0], np.ones(len(keypoints), bool)))


def uncalibrated(box: np.ndarray, detector: str) -> np.ndarray:
    """The raw box of ``detector`` whose calibration gives the (4,) landmark-convention ``box``: the inverse of
    ``Calibration.apply`` (size / scale, then the centre shift undone)."""
    calibration = DETECTORS[detector].calibration
    size = (box[2:] - box[:2]) / (calibration.scale_x, calibration.scale_y)
    centre = (box[:2] + box[2:]) / 2 - size * (calibration.shift_x, calibration.shift_y)
    return np.concatenate([centre - size / 2, centre + size / 2])


class TwoDecodings(nn.Module):
    """One network pass decoded twice: (N, 2K, 2) landmarks and (N, 2K) scores, the model's own decoding's K
    points first, argmax decoding's after, so that both rows come from the same outputs of the same crops."""

    def __init__(self, runner: DecodingNetwork):
        super().__init__()
        self.model, self.codec = runner.model, runner.codec
        self.argmax = build_codec("vanilla-round", input_size=runner.codec.input_size, stride=runner.codec.stride)

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model(crops)
        (own, own_scores), (argmax, argmax_scores) = decode_output(output, self.codec), decode_output(output, self.argmax)
        return torch.cat([own, argmax], 1), torch.cat([own_scores, argmax_scores], 1)


def with_argmax(detector: LandmarkDetector) -> LandmarkDetector:
    """``detector`` giving 2K landmarks: its own decoding's, then argmax's (``TwoDecodings``)."""
    k = detector.num_landmarks
    permutation = detector.flip_permutation and (*detector.flip_permutation, *(k + i for i in detector.flip_permutation))
    return dataclasses.replace(detector, runner=TwoDecodings(detector.runner), num_landmarks=2 * k,
                               flip_permutation=permutation)  # fmt: skip


def network_method(detector: LandmarkDetector, names: tuple[str, ...]) -> Method:
    """Rows of a network on the fixed box: ``names`` = (own decoding,) or (own, argmax) for ``with_argmax``."""
    count = detector.num_landmarks // len(names)
    to_68 = find_conversion(scheme_for_count(count), IBUG_68).points if count != 68 else lambda points: points

    def run(frames: list[np.ndarray], box: np.ndarray) -> dict[str, np.ndarray]:
        points = np.stack([detector.predict(frame, [box])[0][0] for frame in frames])  # (T, len(names) K, 2)
        return {name: to_68(points[:, i * count : (i + 1) * count]) for i, name in enumerate(names)}

    return run


def tracked_method(detector: LandmarkDetector, name: str, keep_iou: float) -> Method:
    """A row of a 68-point model tracking the face as ``h3r predict`` does on videos, from frame 0's box, its
    box kept while the landmarks' box overlaps it by ``keep_iou`` (``TrackingSettings``).

    The face is never given up for a low score (``min_score`` 0): the benchmark knows it is there, and a face
    lost and found again from frame 0's box would measure that box, not tracking.
    """
    settings = TrackingSettings(detect_every=10**9, min_score=0.0, keep_iou=keep_iou)

    def run(frames: list[np.ndarray], box: np.ndarray) -> dict[str, np.ndarray]:
        tracker = FaceTracker(detector, lambda image: box[None], settings, FPS)
        points = []
        for index, frame in enumerate(frames):
            found = tracker.update(frame)
            if len(found.ids) != 1:
                raise ValueError(f"{name}: the tracker holds {len(found.ids)} faces on frame {index}, not 1")
            points.append(found.landmarks[0])
        return {name: np.stack(points)}

    return run


class DlibMethod:
    """dlib's shape predictor (integer points) on one fixed box per clip, the box its shape predictor is trained
    on: its own HOG detector's (``DLIB``) on frame 0 where that finds the face (``face_detector_recall.match``),
    else the fixed landmark box with the detector's calibration undone. Counts the clips of each kind."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.boxes = {"own detection": 0, "landmark box, calibration undone": 0}

    def __call__(self, frames: list[np.ndarray], box: np.ndarray) -> dict[str, np.ndarray]:
        detections = DETECTORS[DLIB].boxes(frames[0])
        hit = match(detections, box)
        self.boxes["own detection" if hit is not None else "landmark box, calibration undone"] += 1
        rect = box_to_rect(detections[hit] if hit is not None else uncalibrated(box, DLIB))
        shapes = [self.predictor(frame, rect) for frame in frames]
        return {"dlib ERT": np.array([[(p.x, p.y) for p in shape.parts()] for shape in shapes], np.float64)}


def study_models(runs: Path) -> list[str]:
    """``--model``-style ``NAME=PATH`` items of the resolution study's runs in ``runs`` (see the docstring).

    Raises:
        SystemExit: a run that is missing or unfinished, with the command that trains it.
    """
    items = []
    for stride in STUDY_STRIDES:
        for codec in STUDY_CODECS:
            checkpoint = runs / f"{codec}_s{stride}_seed0" / "last.ckpt"
            if not checkpoint.is_file():
                raise SystemExit(f"--study: {checkpoint} not found; train it with "
                                 "python benchmarks/resolution_study.py --edition imagenet")  # fmt: skip
            items.append(f"{codec} s{stride}={checkpoint}")
    return items


def methods(official: list[int], extra: list[str], threads: int) -> tuple[list[Method], DlibMethod]:
    """The rows' methods (see the module docstring), the last dlib's, also returned on its own."""
    torch.set_num_threads(threads)
    face68 = load_detector("face68")
    rows = [network_method(with_argmax(face68), ("face68", "face68, argmax")),
            tracked_method(face68, "face68, tracked", TrackingSettings.keep_iou),
            tracked_method(face68, "face68, tracked, new box every frame", 1.0)]  # fmt: skip
    for position, size in enumerate(sorted(official, reverse=True)):
        detector = _loaded(OFFICIAL / f"wflw_mobilenet_{size}x{size}_p2", f"--official {size}")
        name = f"authors' WFLW MobileNetV2-{size}"
        rows.append(network_method(with_argmax(detector), (name, f"{name}, argmax")) if position == 0
                    else network_method(detector, (name,)))  # fmt: skip
    for item in extra:
        name, _, path = item.partition("=")
        if not (name and path):
            raise SystemExit(f"--model {item!r}: expected NAME=PATH")
        rows.append(network_method(_loaded(path, f"--model {item}"), (name,)))
    dlib_rows = DlibMethod(dlib.shape_predictor(str(shape_predictor_path())))
    return [*rows, dlib_rows], dlib_rows


def _loaded(path: str | Path, option: str) -> LandmarkDetector:
    try:
        return load_detector(path)
    except ValueError as error:
        raise SystemExit(f"{option}: {error}") from None


def chosen_faces(faces: FaceDataset, limit: int | None) -> list[int]:
    """Indices of ``limit`` faces spread evenly over the set (all without a limit)."""
    if limit is None or limit >= len(faces):
        return list(range(len(faces)))
    return sorted(set(np.linspace(0, len(faces) - 1, limit).round().astype(int).tolist()))


def run_set(faces: FaceDataset, indices: list[int], rows: list[Method], frames: int, noise: float, seed: int,
            progress: Callable[[str], None]) -> tuple[list[np.ndarray], dict[str, list[np.ndarray]]]:  # fmt: skip
    """Every row on every chosen face's clip: the (T, 68, 2) truths, and per row the (T, 68, 2) trajectories."""
    truths, trajectories = [], {}
    for number, index in enumerate(indices, start=1):
        sample = faces[index]
        clip = render_clip(sample.load_image(), sample.keypoints, frames, noise, np.random.default_rng([seed, index]))
        truths.append(clip.truth)
        for method in rows:
            for name, points in method(clip.frames, clip.box).items():
                trajectories.setdefault(name, []).append(points)
        progress(f"{faces.name}: face {number}/{len(indices)}")
    return truths, trajectories


def sequence_scores(predictions: list[np.ndarray], truths: list[np.ndarray]) -> dict[str, float]:
    """Jitter (pixels, fraction of the inter-ocular distance) and NME (fraction) over clips of (T, 68, 2).

    Examples:
        >>> truth = np.zeros((3, 68, 2)); truth[:, 45, 0] = 10.0  # inter-ocular distance 10
        >>> biased = truth + 1.0  # a constant error: no jitter
        >>> shaking = truth.copy(); shaking[1, :, 0] += 0.5  # out and back by half a pixel
        >>> {k: round(v, 4) for k, v in sequence_scores([biased], [truth]).items()}
        {'jitter_px': 0.0, 'jitter_iod': 0.0, 'nme': 0.1414}
        >>> sequence_scores([shaking], [truth])["jitter_px"]
        0.5
    """
    square_px, square_iod, errors = [], [], []
    for predicted, truth in zip(predictions, truths):
        iod = normalizing_distance(truth, IBUG_68, "inter-ocular")  # (T,)
        change = np.linalg.norm(np.diff(predicted - truth, axis=0), axis=-1)  # (T - 1, 68)
        square_px.append(change**2)
        square_iod.append((change / iod.mean()) ** 2)
        errors.append(nme(predicted, truth, iod))
    return {
        "jitter_px": float(np.sqrt(np.mean(square_px))),
        "jitter_iod": float(np.sqrt(np.mean(square_iod))),
        "nme": float(np.mean(errors)),
    }


def scores(truths: list[np.ndarray], trajectories: dict[str, list[np.ndarray]]) -> list[dict]:
    """Each row's scores, raw and through the One Euro filter, over all clips and per clip."""
    results = []
    for name, predicted in trajectories.items():
        smoothed = [smooth_trajectory(points, FPS, SMOOTHING) for points in predicted]
        per_clip = [sequence_scores([points], [truth]) for points, truth in zip(predicted, truths)]
        results.append({"method": name, **sequence_scores(predicted, truths),
                        "smoothed": sequence_scores(smoothed, truths),
                        "per_clip": {key: [clip[key] for clip in per_clip] for key in per_clip[0]}})  # fmt: skip
    return results


COLUMNS = ("method", "jitter % IOD", "median clip", "jitter px", "NME %", "One Euro: jitter % IOD", "jitter px",
           "NME %")  # fmt: skip


def cells(result: dict) -> list[str]:
    smoothed, median = result["smoothed"], np.median(result["per_clip"]["jitter_iod"])
    return [result["method"], f"{100 * result['jitter_iod']:.3f}", f"{100 * median:.3f}", f"{result['jitter_px']:.3f}",
            f"{100 * result['nme']:.2f}", f"{100 * smoothed['jitter_iod']:.3f}", f"{smoothed['jitter_px']:.3f}",
            f"{100 * smoothed['nme']:.2f}"]  # fmt: skip


def table(title: str, results: list[dict]) -> Table:
    grid = Table(title=title, title_justify="left")
    for name in COLUMNS:
        grid.add_column(name, justify="left" if name == "method" else "right")
    for result in results:
        grid.add_row(*cells(result))
    return grid


def markdown(title: str, results: list[dict]) -> str:
    lines = [f"{title}:", "", "| " + " | ".join(COLUMNS) + " |", "| --- |" + " ---: |" * (len(COLUMNS) - 1)]
    return "\n".join([*lines, *("| " + " | ".join(cells(result)) + " |" for result in results)]) + "\n"


def verdict(title: str, results: list[dict]) -> str:
    """The issue's target for the bundled model against dlib on one section, in words."""
    by_name = {result["method"]: result for result in results}
    ours, theirs = by_name["face68"], by_name["dlib ERT"]
    ratio = ours["jitter_iod"] / theirs["jitter_iod"]
    met = ratio <= 0.5 and ours["nme"] <= theirs["nme"]
    per_clip = np.median(np.divide(ours["per_clip"]["jitter_iod"], theirs["per_clip"]["jitter_iod"]))
    return (f"{title}: face68's jitter is {ratio:.2f} x dlib's ({100 * ours['jitter_iod']:.3f} against "
            f"{100 * theirs['jitter_iod']:.3f} % IOD) at NME {100 * ours['nme']:.2f} % against "
            f"{100 * theirs['nme']:.2f} %: target (at most 0.5 x at equal or better NME) {'met' if met else 'missed'}; "
            f"clip by clip, the median ratio is {per_clip:.2f}")


def codec_verdicts(title: str, results: list[dict]) -> list[str]:
    """The issue's target for the study's runs on one section: ``h3r``'s jitter below ``vanilla-round``'s at
    each stride, in words; none without ``--study``."""
    by_name = {result["method"]: result for result in results}
    lines = []
    for stride in STUDY_STRIDES:
        h3r, vanilla = by_name.get(f"h3r s{stride}"), by_name.get(f"vanilla-round s{stride}")
        if h3r is None or vanilla is None:
            continue
        lines.append(
            f"{title}, stride {stride}: h3r's jitter {100 * h3r['jitter_iod']:.3f} % IOD (NME "
            f"{100 * h3r['nme']:.2f} %) against vanilla-round's {100 * vanilla['jitter_iod']:.3f} % (NME "
            f"{100 * vanilla['nme']:.2f} %): {h3r['jitter_iod'] / vanilla['jitter_iod']:.2f} x, target (below) "
            + ("met" if h3r["jitter_iod"] < vanilla["jitter_iod"] else "missed")
        )
    return lines


def plot_trajectory(truth: np.ndarray, trajectories: dict[str, np.ndarray], title: str, path: Path) -> None:
    """x of landmark ``PLOT_POINT`` over the frames of one clip: the truth and ``PLOT_ROWS``, and their errors."""
    frames = np.arange(len(truth))
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True, height_ratios=(3, 2))
    top.plot(frames, truth[:, PLOT_POINT, 0], color="black", linewidth=2.5, label="truth")
    rows = PLOT_ROWS if all(row in trajectories for row in PLOT_ROWS) else ("face68", "face68, argmax", "dlib ERT")
    for name, style in zip(rows, ("-o", "-s", "-^", "-v")):
        x = trajectories[name][:, PLOT_POINT, 0]
        top.plot(frames, x, style, markersize=3, linewidth=1, label=name)
        bottom.plot(frames, x - truth[:, PLOT_POINT, 0], style, markersize=3, linewidth=1, label=name)
    bottom.axhline(0, color="black", linewidth=1)
    top.set_ylabel("x, pixels")
    bottom.set_ylabel("x − truth, pixels")
    bottom.set_xlabel("frame (30 per second)")
    top.set_title(title, fontsize=10)
    top.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS), help="which face sets")
    parser.add_argument("--limit", type=int, default=20, help="faces per set, spread evenly (default 20)")
    parser.add_argument("--frames", type=int, default=40, help="frames per clip (default 40)")
    parser.add_argument("--noise", type=float, default=2.0, help="sensor noise sigma, grey levels (default 2)")
    parser.add_argument("--official", nargs="*", type=int, default=[256, 128], choices=(128, 160, 256),
                        help="input sizes of the authors' WFLW models to run (default 256 128; none: --official)")
    parser.add_argument("--study", type=Path, metavar="RUNS",
                        help="the resolution study's run folder: its vanilla-round and h3r rows at strides 4, 8")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                        help="an extra row: any model h3r.load reads (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; dlib uses one)")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--markdown", type=Path, help="write the tables to this Markdown file")
    parser.add_argument("--plot", type=Path, help="plot one landmark's trajectory (the first clip) to this PNG")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    console = Console()
    console.width = max(console.width, 130)
    rows, dlib_rows = methods(args.official, (study_models(args.study) if args.study else []) + args.model,
                              args.threads)
    machine = f"{describe_machine()}; dlib {dlib.__version__}"
    console.print(f"{args.limit} faces per set, {args.frames} frames per clip, noise sigma {args.noise}, "
                  f"One Euro {SMOOTHING} at {FPS:g} fps\nmachine: {machine}")  # fmt: skip
    report = {"settings": {**{k: v for k, v in vars(args).items() if k in ("sets", "limit", "frames", "noise",
                                                                          "official", "model", "seed", "threads")},
                           "study": str(args.study) if args.study else None,
                           "smoothing": dataclasses.asdict(SMOOTHING), "fps": FPS, "machine": machine}}  # fmt: skip
    sections, notes, all_truths, all_trajectories = [], [], [], {}
    for name in args.sets:
        try:
            faces = read_dataset(SETS[name])
        except ValueError as error:
            raise SystemExit(f"{name}: {error}") from None
        indices = chosen_faces(faces, args.limit)
        dlib_rows.boxes = dict.fromkeys(dlib_rows.boxes, 0)
        truths, trajectories = run_set(faces, indices, rows, args.frames, args.noise, args.seed, console.log)
        if args.plot and not all_truths:
            title = f"{faces[indices[0]].image_path.name}, point {PLOT_POINT} (an outer eye corner), fixed box"
            plot_trajectory(truths[0], {row: points[0] for row, points in trajectories.items()}, title, args.plot)
        all_truths += truths
        for row, points in trajectories.items():
            all_trajectories.setdefault(row, []).extend(points)
        results = scores(truths, trajectories)
        report[name] = {"data": SETS[name], "faces": indices, "results": results, "dlib_boxes": dict(dlib_rows.boxes)}
        notes.append(f"{name}: dlib's boxes: " + ", ".join(f"{kind} {count}" for kind, count in dlib_rows.boxes.items()))
        sections.append((f"{name} ({len(indices)} faces)", results))
    if len(args.sets) > 1:
        sections.append((f"all ({len(all_truths)} faces)", scores(all_truths, all_trajectories)))
        report["all"] = {"results": sections[-1][1]}
    for title, results in sections:
        console.print(table(title, results))
    lines = [*notes, *(verdict(*section) for section in sections),
             *(line for section in sections for line in codec_verdicts(*section))]
    console.print("\n".join(lines))
    load = os.getloadavg()[0]
    report["verdict"] = lines
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.markdown:
        command = " ".join(["python benchmarks/stability.py", *(sys.argv[1:] if argv is None else argv)])
        text = [f"`{command}`; {machine}; load average {load:.1f} at the end.\n", *(markdown(*s) for s in sections)]
        args.markdown.write_text("\n".join([*text, *(f"- {line}" for line in lines)]) + "\n")
    for path in filter(None, (args.json, args.markdown, args.plot)):
        console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
