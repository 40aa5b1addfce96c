"""``h3r predict`` on a video: faces tracked from frame to frame, their landmarks written as the frames are done.

Input: one video file (a suffix of ``h3r.data.video.VIDEO_SUFFIXES``: any format the FFmpeg inside
``opencv-python-headless`` reads), or with ``--video`` one folder of frame images, read in file-name order.
Faces are followed by ``h3r.inference.tracking`` (the face detector on every ``--detect-every``-th frame and
wherever a face is lost), optionally smoothed by a One Euro filter (``--smooth``).

Outputs:
    - ``--json FILE``: JSON Lines, one line per frame, appended and flushed as each frame is done::

        {"frame": 0, "time": 0.0, "faces": [{"id": 0, "box": [x1, y1, x2, y2], "detected": true,
                                             "landmarks": [[x, y], ...], "scores": [...]}]}

      and beside it the same in CSV (``FILE`` with the suffix ``.csv``), long form, one row per landmark,
      header ``frame,time,face,point,x,y,score``. Points are image pixels, the top-left pixel's centre at
      (0, 0); ``time`` is in seconds; ``box`` is the box the face was looked for in, ``detected`` whether
      that was the face detector's box. A run that is killed leaves both files holding the frames done.
    - ``--out DIR``: the overlay video ``DIR/<video name>_landmarks.mp4`` (mp4v), boxes, landmarks and ids
      drawn, at the input's frame rate; written atomically when the run ends (an interrupted run leaves none).
"""

import csv
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click
import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from h3r.cli.running import exit_on_sigterm, naming_a_broken_model, warm_up
from h3r.data.image import ImageError
from h3r.data.video import Video, VideoError, read_frames, video_writer
from h3r.inference.detector import LandmarkDetector
from h3r.inference.tracking import FaceFinder, FaceTracker, TrackedFrame, TrackingSettings

__all__ = ["CSV_COLUMNS", "csv_path", "csv_rows", "frame_entry", "overlay_video_path", "predict_video"]

CSV_COLUMNS = ("frame", "time", "face", "point", "x", "y", "score")

Draw = Callable[[np.ndarray, np.ndarray, np.ndarray], Image.Image]
"""(H, W, 3) image, (F, 4) boxes, (F, K, 2) landmarks → the overlay, as ``h3r.cli.predict.draw_overlay``."""


def csv_path(json_path: Path) -> Path:
    """The CSV written beside the JSON Lines file: its name with the suffix ``.csv``."""
    return json_path.with_suffix(".csv")


def overlay_video_path(video: Path, out_dir: Path) -> Path:
    """The overlay video of ``video`` in ``out_dir``: ``<name>_landmarks.mp4``."""
    return out_dir / f"{video.stem}_landmarks.mp4"


def frame_entry(frame: TrackedFrame) -> dict:
    """A frame's JSON Lines object (see the module docstring), coordinates rounded to 1e-4 pixels."""
    faces = [
        {"id": int(face_id), "box": np.round(box, 4).tolist(), "detected": bool(detected),
         "landmarks": np.round(points, 4).tolist(), "scores": np.round(scores, 5).tolist()}
        for face_id, box, detected, points, scores in
        zip(frame.ids, frame.boxes, frame.detected, frame.landmarks, frame.scores)
    ]  # fmt: skip
    return {"frame": frame.index, "time": round(frame.time, 6), "faces": faces}


def csv_rows(frame: TrackedFrame) -> list[tuple]:
    """A frame's CSV rows, one per landmark of each face (``CSV_COLUMNS``)."""
    return [
        (frame.index, round(frame.time, 6), int(face_id), point, round(float(x), 4), round(float(y), 4),
         round(float(score), 5))
        for face_id, points, scores in zip(frame.ids, frame.landmarks, frame.scores)
        for point, ((x, y), score) in enumerate(zip(points, scores))
    ]  # fmt: skip


@contextmanager
def frame_records(json_path: Path) -> Iterator[Callable[[TrackedFrame], None]]:
    """Start the JSON Lines file and its CSV (over earlier files), and yield the function that appends a
    frame to both, flushed."""
    with open(json_path, "w", encoding="utf-8") as lines, open(csv_path(json_path), "w", newline="") as table:
        rows = csv.writer(table)
        rows.writerow(CSV_COLUMNS)
        table.flush()

        def add(frame: TrackedFrame) -> None:
            lines.write(json.dumps(frame_entry(frame), allow_nan=False) + "\n")
            lines.flush()
            rows.writerows(csv_rows(frame))
            table.flush()

        yield add


def label_faces(overlay: Image.Image, boxes: np.ndarray, ids: np.ndarray) -> Image.Image:
    """``overlay`` with each face's id written above the top-left corner of its (F, 4) box."""
    draw = ImageDraw.Draw(overlay)
    for (x1, y1, _, _), face_id in zip(boxes, ids):
        draw.text((float(x1), max(float(y1) - 12, 0.0)), str(int(face_id)), fill=(0, 255, 0))
    return overlay


def predict_video(
    detector: LandmarkDetector,
    video: Video,
    find_faces: FaceFinder,
    settings: TrackingSettings,
    *,
    model: str,
    json_path: Path | None,
    overlay: Path | None,
    exif_transpose: bool,
    draw: Draw,
) -> None:
    """Track the faces of every frame, writing the records and the overlay (see the module docstring), with a
    progress bar, and print a summary.

    Raises:
        click.ClickException: a frame that cannot be read or written (naming the file), or a broken model.
    """
    errors = Console(stderr=True)
    with naming_a_broken_model(model):
        warm_up(detector)
    tracker = FaceTracker(detector, find_faces, settings, video.fps)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
               TimeElapsedColumn())  # fmt: skip
    done, ids, faces, start = 0, set(), 0, time.perf_counter()
    try:
        with (
            exit_on_sigterm(),
            naming_a_broken_model(model),
            ExitStack() as outputs,
            Progress(*columns, console=errors, transient=True) as progress,
        ):
            add = outputs.enter_context(frame_records(json_path)) if json_path is not None else None
            write = outputs.enter_context(video_writer(overlay, video.fps, video.size)) if overlay is not None else None
            task = progress.add_task(video.path.name, total=video.frame_count or None, rate="")
            for image in read_frames(video, exif_transpose=exif_transpose):
                frame = tracker.update(image)
                if add is not None:
                    add(frame)
                if write is not None:
                    write(np.asarray(label_faces(draw(image, frame.boxes, frame.landmarks), frame.boxes, frame.ids)))
                done, faces = done + 1, faces + len(frame.ids)
                ids.update(frame.ids.tolist())
                progress.update(task, advance=1, rate=f"{done / (time.perf_counter() - start):.1f} frames/s")
    except (VideoError, ImageError) as error:
        raise click.ClickException(str(error)) from None
    except (KeyboardInterrupt, SystemExit):
        if json_path is not None:
            errors.print(f"interrupted: {json_path} and {csv_path(json_path)} hold the {done} frames done",
                         markup=False, highlight=False, soft_wrap=True)  # fmt: skip
        raise
    seconds = time.perf_counter() - start
    lines = [f"{done} frames, {faces} faces in them, {len(ids)} face ids; {done / seconds:.1f} frames per second"]
    lines += [f"wrote {path}" for path in (json_path, json_path and csv_path(json_path), overlay) if path is not None]
    Console().print("\n".join(lines), markup=False, highlight=False, soft_wrap=True)
