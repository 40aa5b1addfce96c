"""Videos as sequences of (H, W, 3) uint8 RGB frames: reading, writing, and the example clip.

Reading (``open_video``, ``read_frames``): any file the FFmpeg bundled with ``opencv-python-headless`` reads
(mp4, avi, mov, mkv, webm, ...), or a folder of frame images, in file-name order. OpenCV decodes to BGR;
the frames here are RGB, as everywhere in h3r. A video has no EXIF orientation: OpenCV turns frames
upright by the container's rotation tag itself; frame images are read as ``load_image`` reads them.

Writing (``video_writer``): MPEG-4 Part 2 (``mp4v``) in an ``.mp4`` file, the codec that wheel can write
without system libraries (it has no H.264 encoder), written atomically (``h3r.utils.io.atomic_path``).

The example clip (``write_example_video``): matplotlib's ``grace_hopper.jpg`` (a public-domain portrait
that needs no download) moved by ``slow_motion``, a slow sub-pixel drift, zoom and turn.
"""

import math
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from h3r._checks import check_size
from h3r.data.crop import warp_affine
from h3r.data.geometry import compose, crop_matrix, rotation_matrix, scale_matrix, translation_matrix
from h3r.data.image import load_image
from h3r.utils.io import atomic_path

__all__ = [
    "VIDEO_SUFFIXES",
    "Video",
    "VideoError",
    "example_image",
    "example_video",
    "open_video",
    "read_frames",
    "slow_motion",
    "video_writer",
    "write_example_video",
]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".gif")
"""File suffixes taken for videos (case-insensitive)."""
DEFAULT_FPS = 30.0
"""Frame rate of a folder of frames, and of a video file that does not state its own."""


class VideoError(ValueError):
    """A video that cannot be read or written; names the file and the problem."""


@dataclass(frozen=True)
class Video:
    """What is known of a video before reading it.

    Attributes:
        path: the file, or the folder of frames.
        fps: frames per second (the file's own, or ``DEFAULT_FPS``).
        frame_count: the frames it holds as the container states it (an estimate for some formats), or
            the number of frame files; 0 if unknown.
        size: (H, W) of its frames, pixels.
        frames: the frame files of a folder, in order; None for a video file.
    """

    path: Path
    fps: float
    frame_count: int
    size: tuple[int, int]
    frames: tuple[Path, ...] | None = None


def open_video(
    path: str | os.PathLike,
    *,
    frame_suffixes: Sequence[str] = (),
    fps: float | None = None,
    exif_transpose: bool = True,
) -> Video:
    """Look at a video file, or at a folder of frames (files with ``frame_suffixes``, sorted by name).

    Args:
        path: the video file or frame folder.
        frame_suffixes: suffixes of frame images in a folder (e.g. ``(".png", ".jpg")``), case-insensitive.
        fps: frames per second, overriding the file's (or ``DEFAULT_FPS`` of a folder).
        exif_transpose: read frame images as displayed (see ``load_image``), as ``read_frames`` will.

    Raises:
        VideoError: naming ``path``: missing, not readable as a video, without frames; a folder without
            frame images.
    """
    path = Path(path)
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise VideoError(f"{path}: the frame rate must be a positive number, got {fps!r}")
    if path.is_dir():
        frames = tuple(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in frame_suffixes))
        if not frames:
            raise VideoError(f"{path}: no frame images in the folder (looked for {'/'.join(frame_suffixes)})")
        height, width = load_image(frames[0], exif_transpose=exif_transpose).shape[:2]
        return Video(path, fps or DEFAULT_FPS, len(frames), (height, width), frames)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    capture = _capture(path)
    try:
        stated = capture.get(cv2.CAP_PROP_FPS)
        count = int(max(capture.get(cv2.CAP_PROP_FRAME_COUNT), 0))
        ok, first = capture.read()
    finally:
        capture.release()
    if not ok:
        raise VideoError(f"{path}: the video holds no frame that OpenCV's FFmpeg can decode")
    own = stated if math.isfinite(stated) and stated > 0 else DEFAULT_FPS
    return Video(path, fps or own, count, first.shape[:2])


def read_frames(video: Video, *, exif_transpose: bool = True) -> Iterator[np.ndarray]:
    """The frames of a video in order, (H, W, 3) uint8 RGB, read as they are needed.

    ``exif_transpose`` applies to the images of a frame folder (see ``load_image``).

    Raises:
        VideoError: the file can no longer be opened; ``ImageError`` for a frame image that cannot be read.
    """
    if video.frames is not None:
        for frame in video.frames:
            yield load_image(frame, exif_transpose=exif_transpose)
        return
    capture = _capture(video.path)
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


@contextmanager
def video_writer(path: str | os.PathLike, fps: float, size: tuple[int, int]) -> Iterator[Callable[[np.ndarray], None]]:
    """A function writing (H, W, 3) uint8 RGB frames of ``size`` = (H, W) to an mp4v video at ``path``,
    which appears (atomically) when the block ends without an error.

    Raises:
        VideoError: OpenCV cannot write the file (naming it), or a frame of another size or type.
    """
    height, width = check_size("size", size, 2)
    with atomic_path(path) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
        if not writer.isOpened():
            raise VideoError(f"{path}: OpenCV cannot write an mp4v video there")

        def write(frame: np.ndarray) -> None:
            if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                raise VideoError(f"{path}: frames must be ({height}, {width}, 3) uint8, got {frame.dtype} {frame.shape}")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

        try:
            yield write
        finally:
            writer.release()


def slow_motion(
    frames: int,
    centre: Sequence[float],
    shift: Sequence[float] = (3.0, 2.0),
    zoom: float = 0.04,
    angle: float = 3.0,
) -> np.ndarray:
    """(T, 3, 3) matrices of a slow, smooth camera motion: frame t shows the image moved by ``matrices[t]``.

    The motion eases in and out, s(t) = (1 − cos(π t / (T − 1))) / 2 from 0 to 1: frame t is the image scaled
    by 1 + ``zoom`` · s and turned by ``angle`` · s degrees (counter-clockwise as displayed) about ``centre``
    (x, y), then shifted by ``shift`` · s (dx, dy) pixels. Frame 0 is the identity. The steepest step, at
    mid-sequence, moves a point by π/2 / (T − 1) of the whole motion: 0.1 pixel per frame for a 3-pixel
    shift over 48 frames.

    Examples:
        >>> m = slow_motion(3, centre=(10.0, 10.0), shift=(2.0, 0.0), zoom=0.0, angle=0.0)
        >>> m[:, 0, 2].round(12).tolist()
        [0.0, 1.0, 2.0]
    """
    if not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a positive int, got {frames!r}")
    eased = (1 - np.cos(np.pi * np.arange(frames) / max(frames - 1, 1))) / 2
    return np.stack([
        compose(scale_matrix(1 + zoom * s, centre), rotation_matrix(angle * s, centre),
                translation_matrix(np.asarray(shift, dtype=np.float64) * s))
        for s in eased
    ])  # fmt: skip


def example_image() -> Path:
    """A public-domain portrait that needs no download: ``grace_hopper.jpg`` of matplotlib's sample data (512x600,
    U.S. Navy photograph)."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


EXAMPLE_FACE_CENTRE = (269.0, 262.0)
"""(x, y) of the centre of Grace Hopper's face in ``grace_hopper.jpg``, pixels (the face68 landmarks' box)."""
EXAMPLE_VIDEO_NAME = "grace_hopper_clip.mp4"


def write_example_video(
    path: str | os.PathLike, frames: int = 60, fps: float = 30.0, size: tuple[int, int] = (300, 256)
) -> Path:
    """Write the example clip: ``grace_hopper.jpg`` resized to ``size`` = (H, W) and moved by ``slow_motion``
    about the face (a 3 × 2-pixel drift, 4 % zoom and 3° turn of the original image, over ``frames`` frames).

    Returns:
        ``path``.
    """
    image = load_image(example_image())
    height, width = image.shape[:2]
    to_frame = crop_matrix(((width - 1) / 2, (height - 1) / 2), (height, width), size)
    with video_writer(path, fps, size) as write:
        for motion in slow_motion(frames, EXAMPLE_FACE_CENTRE):
            write(warp_affine(image, compose(motion, to_frame), size))
    return Path(path)


def example_video() -> Path:
    """The example clip (``write_example_video``'s defaults), written on first use into the user's cache folder:
    ``$XDG_CACHE_HOME/h3r/`` (default ``~/.cache/h3r/``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "h3r"
    path = cache / EXAMPLE_VIDEO_NAME
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        write_example_video(path)
    return path


def _capture(path: Path) -> "cv2.VideoCapture":
    """An opened ``cv2.VideoCapture`` of ``path``, or a ``VideoError`` naming it."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise VideoError(f"{path}: cannot read as a video (OpenCV's FFmpeg does not recognise the file)")
    return capture
