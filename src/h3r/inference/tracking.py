"""Faces followed through a video: each frame's crop box comes from the landmarks found in the frame before.

``FaceTracker.update`` takes one frame at a time:
    1. every track held is cropped from the box its landmarks spanned in an earlier frame
       (``landmark_extent``, the box convention of models trained on landmark boxes, as ``face68``) and its
       landmarks are found there without refinement passes: that box is already a landmark box. The box
       is kept while the box of the new landmarks overlaps it by ``keep_iou`` or more, and replaced by it
       once the face has moved further: a crop that followed every frame's landmarks would carry their
       noise into the next frame's crop, and with it into the landmarks;
    2. a track is lost when its mean landmark score falls below ``min_score`` or its landmarks span no box
       in the image;
    3. the face detector runs on frames 0, ``detect_every``, 2 · ``detect_every``, ..., on any frame where a
       track was lost, and on any frame while no face is held. Its boxes are matched to the tracks' boxes
       by IoU (``match_boxes``). A lost track that a detection matches is looked for again in the
       detection's box (with the detector's refinement passes) and keeps its id; a detection that matches
       no track starts a new track with the next id if its landmarks score at least ``min_score`` (which
       also turns away the detector's false alarms); lost tracks that no detection matches end. Tracks
       held keep their own boxes: a detector's box is coarser than the landmarks' and would make them jump;
    4. where two tracks have come to one face (their boxes overlap by ``DUPLICATE_IOU`` or more), the
       younger ends.
With smoothing, each track's landmarks go through its own One Euro filter (``h3r.inference.smoothing``);
the boxes follow the unsmoothed landmarks, so that the crop never lags behind the face.

Ids are 0, 1, 2, ... in the order the faces were first found, and a face keeps its id for as long as it
is held or found again on the frame it was lost. The scores of ``face68`` are about 0.3-0.4 on a face, 0.16
on a box half on the face and under 0.1 on background (``min_score`` 0.1); other models may need another value.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from h3r.data import load_image
from h3r.inference.detector import ImageSource, LandmarkDetector, landmark_extent
from h3r.inference.face_detection import DEFAULT_DETECTOR, detect_faces
from h3r.inference.smoothing import OneEuroFilter, OneEuroSettings

__all__ = [
    "DUPLICATE_IOU",
    "FaceFinder",
    "FaceTracker",
    "TrackedFrame",
    "TrackingSettings",
    "box_iou",
    "match_boxes",
    "track",
]

DUPLICATE_IOU = 0.5
"""IoU of two tracks' boxes at which they are taken to follow one face."""

FaceFinder = Callable[[np.ndarray], np.ndarray]
"""(H, W, 3) uint8 RGB frame → (F, 4+) face boxes x1, y1, x2, y2 (image pixels, landmark-box convention,
as ``detect_faces`` calibrates them); further columns are ignored."""


@dataclass(frozen=True)
class TrackingSettings:
    """How faces are followed (see the module docstring).

    Attributes:
        detect_every: the face detector runs every this many frames (1: on every frame), besides the frames
            where a track is lost or none is held.
        min_score: mean landmark score below which a track is lost and a detection does not start one.
        min_iou: IoU at which a detection is the face of a track.
        keep_iou: IoU of a track's box and its new landmarks' box at or above which the box is kept (1: a
            new box every frame).
        smoothing: One Euro filter settings for the landmarks; None: no smoothing.
    """

    detect_every: int = 10
    min_score: float = 0.1
    min_iou: float = 0.3
    keep_iou: float = 0.9
    smoothing: OneEuroSettings | None = None

    def __post_init__(self):
        if not isinstance(self.detect_every, int) or isinstance(self.detect_every, bool) or self.detect_every < 1:
            raise ValueError(f"detect_every must be a positive int (frames), got {self.detect_every!r}")
        for name in ("min_iou", "keep_iou"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")
        if not np.isfinite(self.min_score):
            raise ValueError(f"min_score must be a finite number, got {self.min_score!r}")


@dataclass(frozen=True)
class TrackedFrame:
    """The faces of one frame, ordered by id.

    Attributes:
        index: the frame's number, from 0.
        time: its time in seconds (index / fps).
        ids: (F,) int64 track ids.
        boxes: (F, 4) x1, y1, x2, y2 image pixels: the box each face was looked for in (the previous
            landmarks' extent, or the face detector's box).
        landmarks: (F, K, 2) (x, y) image pixels, smoothed where smoothing is on.
        scores: (F, K) landmark scores.
        detected: (F,) bool: the face was found from the face detector's box on this frame.
    """

    index: int
    time: float
    ids: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    scores: np.ndarray
    detected: np.ndarray


@dataclass
class _Track:
    id: int
    box: np.ndarray  # (4,): where the face's landmarks are looked for in the next frame
    smoother: OneEuroFilter | None = field(default=None, repr=False)


@dataclass
class _Found:
    track: _Track
    box: np.ndarray  # (4,) the box it was found from
    landmarks: np.ndarray  # (K, 2)
    scores: np.ndarray  # (K,)
    detected: bool


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair: (A, 4) and (B, 4) boxes x1, y1, x2, y2 → (A, B).

    Examples:
        >>> box_iou(np.array([[0.0, 0.0, 2.0, 2.0]]), np.array([[1.0, 0.0, 3.0, 2.0], [5.0, 5.0, 6.0, 6.0]]))
        array([[0.33333333, 0.        ]])
    """
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    corner_lo = np.maximum(a[:, None, :2], b[None, :, :2])
    corner_hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    overlap = np.clip(corner_hi - corner_lo, 0, None).prod(-1)
    area = lambda boxes: (boxes[:, 2:] - boxes[:, :2]).prod(-1)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - overlap
    return np.divide(overlap, union, out=np.zeros_like(overlap), where=union > 0)


def match_boxes(a: np.ndarray, b: np.ndarray, min_iou: float) -> list[tuple[int, int]]:
    """Pairs (i, j) of (A, 4) boxes ``a`` and (B, 4) boxes ``b``, each box in one pair at most: greedily, the
    pair of highest IoU first, down to ``min_iou``.

    Examples:
        >>> tracks = np.array([[0.0, 0, 10, 10], [20, 0, 30, 10]])
        >>> match_boxes(tracks, np.array([[21.0, 0, 31, 10], [1, 0, 11, 10], [50, 50, 60, 60]]), 0.3)
        [(0, 1), (1, 0)]
    """
    iou = box_iou(a, b)
    pairs, used_a, used_b = [], set(), set()
    for flat in np.argsort(-iou, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, iou.shape)
        if iou[i, j] < min_iou:
            break
        if i not in used_a and j not in used_b:
            pairs.append((int(i), int(j)))
            used_a.add(i)
            used_b.add(j)
    return sorted(pairs)


class FaceTracker:
    """Follows the faces of a video frame by frame (see the module docstring); ``update`` takes the next frame.

    Args:
        detector: the landmark detector; its ``refine`` passes are used on the face detector's boxes only.
        find_faces: the face detector (see ``FaceFinder``).
        settings: how faces are followed.
        fps: frames per second, for the frames' times and the smoothing.
    """

    def __init__(
        self, detector: LandmarkDetector, find_faces: FaceFinder, settings: TrackingSettings, fps: float = 30.0
    ):
        if not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.detector, self.find_faces, self.settings, self.fps = detector, find_faces, settings, fps
        self.tracks: list[_Track] = []
        self.frames = 0
        self.next_id = 0

    def update(self, frame: ImageSource) -> TrackedFrame:
        """The faces of the next frame (an (H, W, 3) RGB array or any image ``load_image`` reads).

        Raises:
            ValueError: the frame cannot be read as an image; ``ModelOutputError`` from the detector.
        """
        image = load_image(frame, exif_transpose=self.detector.exif_transpose)
        index, self.frames = self.frames, self.frames + 1
        found, lost = self._follow(image)
        if index % self.settings.detect_every == 0 or lost or not self.tracks:
            found += self._detect(image, [item.track for item in found], lost)
        found = self._without_duplicates(sorted(found, key=lambda item: item.track.id))
        self.tracks = [item.track for item in found]
        return self._frame(index, found)

    def _follow(self, image: np.ndarray) -> tuple[list[_Found], list[_Track]]:
        """The tracks found again in their boxes (moved where the landmarks have left them), and those lost."""
        if not self.tracks:
            return [], []
        boxes = np.stack([track.box for track in self.tracks])
        landmarks, scores = self.detector.predict(image, boxes, refine=0)
        found, lost = [], []
        for track, box, points, score in zip(self.tracks, boxes, landmarks, scores):
            following = self._next_box(points, score, image.shape[:2])
            if following is None:
                lost.append(track)
                continue
            if box_iou(box, following)[0, 0] < self.settings.keep_iou:
                track.box = following
            found.append(_Found(track, box, points, score, detected=False))
        return found, lost

    def _detect(self, image: np.ndarray, held: list[_Track], lost: list[_Track]) -> list[_Found]:
        """Lost tracks found again and new faces, from the face detector's boxes not taken by held tracks."""
        detections = _boxes(self.find_faces(image))
        tracks = held + lost
        track_boxes = np.stack([track.box for track in tracks]) if tracks else np.zeros((0, 4))
        pairs = match_boxes(track_boxes, detections, self.settings.min_iou)
        taken = {j for _, j in pairs}
        candidates = [(tracks[i], detections[j]) for i, j in pairs if i >= len(held)]
        candidates += [(None, box) for j, box in enumerate(detections) if j not in taken]
        if not candidates:
            return []
        landmarks, scores = self.detector.predict(image, np.stack([box for _, box in candidates]))
        found = []
        for (track, box), points, score in zip(candidates, landmarks, scores):
            following = self._next_box(points, score, image.shape[:2])
            if following is None:
                continue
            if track is None:
                track, self.next_id = _Track(self.next_id, following), self.next_id + 1
            track.box = following
            found.append(_Found(track, box, points, score, detected=True))
        return found

    def _next_box(self, landmarks: np.ndarray, scores: np.ndarray, image_size: tuple[int, int]) -> np.ndarray | None:
        """The (4,) box to look for a face in next, or None if the face is lost (low score, no box)."""
        if scores.mean() < self.settings.min_score:
            return None
        try:
            return landmark_extent(landmarks, image_size)
        except ValueError:
            return None

    @staticmethod
    def _without_duplicates(found: list[_Found]) -> list[_Found]:
        """``found`` (by id) without the tracks whose box overlaps an older track's by ``DUPLICATE_IOU`` or more."""
        kept: list[_Found] = []
        for item in found:
            if not kept or box_iou(item.track.box[None], np.stack([k.track.box for k in kept])).max() < DUPLICATE_IOU:
                kept.append(item)
        return kept

    def _frame(self, index: int, found: list[_Found]) -> TrackedFrame:
        """The ``TrackedFrame`` of the faces found, their landmarks smoothed where smoothing is on."""
        landmarks = [self._smoothed(item.track, item.landmarks) for item in found]
        k = self.detector.num_landmarks
        return TrackedFrame(
            index=index,
            time=index / self.fps,
            ids=np.array([item.track.id for item in found], dtype=np.int64),
            boxes=np.array([item.box for item in found], dtype=np.float64).reshape(-1, 4),
            landmarks=np.array(landmarks, dtype=np.float64).reshape(-1, k, 2),
            scores=np.array([item.scores for item in found], dtype=np.float64).reshape(-1, k),
            detected=np.array([item.detected for item in found], dtype=bool),
        )

    def _smoothed(self, track: _Track, landmarks: np.ndarray) -> np.ndarray:
        if self.settings.smoothing is None:
            return landmarks
        if track.smoother is None:
            track.smoother = OneEuroFilter(self.settings.smoothing)
        return track.smoother(landmarks, 1.0 / self.fps)


def track(
    detector: LandmarkDetector,
    frames: Iterable[ImageSource],
    *,
    fps: float = 30.0,
    face_detector: str | FaceFinder = DEFAULT_DETECTOR,
    settings: TrackingSettings | None = None,
) -> Iterator[TrackedFrame]:
    """The faces of each frame of a video, followed from frame to frame (see the module docstring).

    Args:
        detector: the landmark detector.
        frames: the video's frames in order: (H, W, 3) uint8 RGB arrays (OpenCV's frames are BGR: convert
            them), or anything ``load_image`` reads (files, PIL images).
        fps: frames per second, for the frames' times and the smoothing.
        face_detector: a name of ``h3r.inference.face_detection.DETECTORS`` (calibrated boxes), or a
            function giving a frame's face boxes (``FaceFinder``).
        settings: how faces are followed; default ``TrackingSettings()``.

    Yields:
        One ``TrackedFrame`` per frame, as the frames come.
    """
    find_faces = face_detector if callable(face_detector) else lambda image: detect_faces(image, face_detector)
    tracker = FaceTracker(detector, find_faces, settings or TrackingSettings(), fps)
    for frame in frames:
        yield tracker.update(frame)


def _boxes(rows) -> np.ndarray:
    """(F, 4) float64 boxes from a face finder's (F, 4+) rows; (0, 4) for none."""
    rows = np.asarray(rows, dtype=np.float64)
    return rows.reshape(0, 4) if rows.size == 0 else rows[:, :4]
