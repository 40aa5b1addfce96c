"""Face boxes for whole images, offline: every detector here ships with h3r or inside its pip package,
nothing is downloaded at run time.

Detectors (``DETECTORS``, by name; measured in ``docs/results/face_detectors.md``):
    - ``"blazeface"`` (the default): MediaPipe's BlazeFace short-range network
      (``h3r.inference.detectors.blazeface``: the shipped ``.tflite`` file run by ``ai-edge-litert``),
      searched over the whole image and over windows down to 192-383 pixels, so that it finds faces down
      to a fifth of the smallest window.
    - ``"mtcnn"``: MTCNN's three-network cascade (``h3r.inference.detectors.mtcnn``: plain torch, the
      shipped weights of facenet-pytorch), faces down to 20 pixels.
    - ``"dlib-hog"``: dlib's HOG + linear SVM frontal face detector,
      ``dlib.get_frontal_face_detector()``, built into the ``dlib-bin`` wheel; the image is searched as
      it is (no upsampling), which finds faces of about 80 pixels and more; ``"dlib-hog-up1"`` searches
      it upsampled once, for faces down to about 40 pixels, at 3 to 6 times the time.
    - ``"haar"``: OpenCV's Viola-Jones cascade ``haarcascade_frontalface_default.xml`` with OpenCV's
      defaults (scale factor 1.1, 3 neighbours). OpenCV 4 wheels ship it; OpenCV 5 wheels have neither
      the cascade files nor ``cv2.CascadeClassifier``, so it needs ``opencv-python-headless<5``.

Convention:
    A box is a row (x1, y1, x2, y2, score) in image pixels with the top-left pixel centred on (0, 0):
    its corners are points of the continuous frame (the image spans [-0.5, W − 0.5] × [-0.5, H − 0.5]),
    as ``h3r.data.box_to_square`` and landmark extents use them. Both libraries give boxes in whole
    pixels: dlib's ``rectangle(left, top, right, bottom)`` names the first and the last pixel inside,
    OpenCV's ``(x, y, w, h)`` the first pixel and the pixel counts. The boxes covering those pixels are
    (left − 0.5, top − 0.5, right + 0.5, bottom + 0.5) and (x − 0.5, y − 0.5, x + w − 0.5, y + h − 0.5):
    dlib's ``rectangle(10, 20, 89, 99)``, 80 × 80 pixels, becomes (9.5, 19.5, 89.5, 99.5).
    BlazeFace and MTCNN give continuous boxes (their networks regress them). Rows are sorted by score,
    best first, ties by area, largest first. Scores are the detector's own: BlazeFace's and MTCNN's face
    probability, dlib's SVM margin (> 0), OpenCV's count of merged raw detections; they are not
    comparable across detectors.

Calibration:
    Detector boxes are not landmark boxes (the extent of the 68 points): on 300-W, dlib's boxes are
    about 5 % wider and 7 % taller and sit 8 % of their height too high, Haar's are 11 % wider and 13 %
    taller and sit 15 % too high. Each
    detector has a fixed ``Calibration``, a shift of the centre and a scale of the size in fractions of
    the box, fitted on the 300-W training subset by ``benchmarks/face_detector_recall.py --fit``, which
    maps its boxes onto the landmark boxes on average; ``detect_faces`` applies it unless asked for the
    raw boxes (``calibrated=False``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from types import ModuleType

import numpy as np

from h3r.inference.detectors.blazeface import blazeface_boxes
from h3r.inference.detectors.common import by_score, check_image, require
from h3r.inference.detectors.mtcnn import mtcnn_boxes

__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "Calibration",
    "Detector",
    "blazeface_boxes",
    "detect_faces",
    "dlib_hog_boxes",
    "haar_boxes",
    "mtcnn_boxes",
]

DEFAULT_DETECTOR = "blazeface"
HAAR_FRONTAL = "haarcascade_frontalface_default.xml"
DLIB_PACKAGE = "dlib-bin"
OPENCV_PACKAGE = "opencv-python-headless<5"


@dataclass(frozen=True)
class Calibration:
    """A fixed affine correction of a detector's boxes towards the landmark boxes.

    A box with centre (cx, cy) and size (w, h) becomes the box with centre
    (cx + shift_x · w, cy + shift_y · h) and size (scale_x · w, scale_y · h); scores are kept.

    Examples:
        >>> Calibration(0.0, 0.1, 1.0, 1.5).apply(np.array([[0.0, 0.0, 10.0, 10.0, 0.9]])).tolist()
        [[0.0, -1.5, 10.0, 13.5, 0.9]]
    """

    shift_x: float
    shift_y: float
    scale_x: float
    scale_y: float

    def apply(self, boxes: np.ndarray) -> np.ndarray:
        """(F, 5) rows (x1, y1, x2, y2, score), pixels → (F, 5) corrected rows, float64."""
        boxes = np.asarray(boxes, dtype=np.float64)
        size = boxes[:, 2:4] - boxes[:, 0:2]
        centre = (boxes[:, 0:2] + boxes[:, 2:4]) / 2 + size * (self.shift_x, self.shift_y)
        half = size * (self.scale_x, self.scale_y) / 2
        return np.concatenate([centre - half, centre + half, boxes[:, 4:5]], axis=1)


@dataclass(frozen=True)
class Detector:
    """A registered face detector.

    Attributes:
        boxes: (H, W, 3) uint8 RGB image → (F, 5) raw boxes (see the module docstring).
        calibration: the correction of its raw boxes towards landmark boxes.
    """

    boxes: Callable[[np.ndarray], np.ndarray]
    calibration: Calibration


def detect_faces(image: np.ndarray, detector: str = DEFAULT_DETECTOR, *, calibrated: bool = True) -> np.ndarray:
    """Find the faces in an image.

    Args:
        image: (H, W, 3) uint8 RGB.
        detector: a name in ``DETECTORS``.
        calibrated: return the detector's boxes mapped onto landmark boxes (its ``Calibration``);
            ``False`` returns its raw boxes.

    Returns:
        (F, 5) float64 rows (x1, y1, x2, y2, score), image pixels (see the module docstring), best
        score first; (0, 5) when no face is found.

    Raises:
        ValueError: unknown detector name, or an image that is not an (H, W, 3) uint8 array.
        ImportError: the detector's library is not installed (the message names the pip package).
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown face detector {detector!r}; known: {', '.join(sorted(DETECTORS))}")
    spec = DETECTORS[detector]
    boxes = spec.boxes(image)
    return spec.calibration.apply(boxes) if calibrated else boxes


def dlib_hog_boxes(image: np.ndarray, upsample_num_times: int = 0) -> np.ndarray:
    """Raw boxes of dlib's HOG frontal face detector.

    Args:
        image: (H, W, 3) uint8 RGB.
        upsample_num_times: how many times dlib doubles the image before searching; each doubling
            halves the smallest face found (about 80 pixels without upsampling) and multiplies the
            time by about 4.

    Returns:
        (F, 5) float64 rows (x1, y1, x2, y2, score), pixels; score is the SVM margin, > 0.
    """
    check_image(image)
    rects, scores, _ = _dlib_detector().run(np.ascontiguousarray(image), upsample_num_times, 0.0)
    rows = [(r.left() - 0.5, r.top() - 0.5, r.right() + 0.5, r.bottom() + 0.5, s) for r, s in zip(rects, scores)]
    return by_score(np.array(rows, dtype=np.float64).reshape(-1, 5))


def haar_boxes(
    image: np.ndarray, cascade: str = HAAR_FRONTAL, scale_factor: float = 1.1, min_neighbors: int = 3
) -> np.ndarray:
    """Raw boxes of an OpenCV Haar cascade run on the grayscale image (``detectMultiScale2``).

    Args:
        image: (H, W, 3) uint8 RGB.
        cascade: a file name in ``cv2.data.haarcascades``.
        scale_factor: ratio of successive window sizes of the search.
        min_neighbors: how many raw detections a box must merge to be kept.

    Returns:
        (F, 5) float64 rows (x1, y1, x2, y2, score), pixels; score is the number of merged raw
        detections.
    """
    check_image(image)
    cv2 = _opencv_with_cascades()
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    rects, counts = _haar_cascade(cascade).detectMultiScale2(gray, scaleFactor=scale_factor, minNeighbors=min_neighbors)
    rows = [(x - 0.5, y - 0.5, x + w - 0.5, y + h - 0.5, n) for (x, y, w, h), n in zip(rects, counts)]
    return by_score(np.array(rows, dtype=np.float64).reshape(-1, 5))


@cache
def _dlib_detector():
    """dlib's HOG frontal face detector, built once (its model is compiled into dlib)."""
    return require("dlib", DLIB_PACKAGE, "face detector 'dlib-hog'").get_frontal_face_detector()


def _opencv_with_cascades() -> ModuleType:
    cv2 = require("cv2", OPENCV_PACKAGE, "face detector 'haar'")
    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise ImportError(
            f"face detector 'haar' needs OpenCV 4's Haar cascades, which OpenCV {cv2.__version__} lacks: "
            f"pip install '{OPENCV_PACKAGE}'"
        )
    return cv2


@cache
def _haar_cascade(cascade: str):
    """The cascade ``cv2.data.haarcascades + cascade``, loaded once."""
    cv2 = _opencv_with_cascades()
    classifier = cv2.CascadeClassifier(cv2.data.haarcascades + cascade)
    if classifier.empty():
        raise ValueError(f"no Haar cascade {cascade!r} in {cv2.data.haarcascades}")
    return classifier


# Calibrations fitted by `python benchmarks/face_detector_recall.py --fit` (medians over the faces of the
# 300-W training subset found, the crops rescaled by 0.6x-1.5x). Residual: calibrated boxes have a mean
# IoU of 0.77 (dlib), 0.78 (Haar), 0.85 (BlazeFace) and 0.87 (MTCNN) with the landmark boxes, > 0.5 for
# 99-100 % of the faces, and a mean centre error of 9 % (dlib, Haar) and 4 % (BlazeFace, MTCNN) of the
# landmark box's longer side.
DETECTORS: dict[str, Detector] = {
    "blazeface": Detector(blazeface_boxes, Calibration(0.004, 0.0604, 0.94, 0.9235)),
    "mtcnn": Detector(mtcnn_boxes, Calibration(0.018, 0.135, 1.0371, 0.7692)),
    "dlib-hog": Detector(dlib_hog_boxes, Calibration(0.0033, 0.0833, 0.9542, 0.9375)),
    "dlib-hog-up1": Detector(
        partial(dlib_hog_boxes, upsample_num_times=1), Calibration(0.0093, 0.0871, 0.9652, 0.9418)
    ),
    "haar": Detector(haar_boxes, Calibration(0.0082, 0.1524, 0.9016, 0.8865)),
}
