import sys
from pathlib import Path

import numpy as np
import pytest

from h3r.data import load_image
from h3r.inference import face_detection
from h3r.inference.face_detection import DEFAULT_DETECTOR, DETECTORS, detect_faces

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# One face per 300-W source, each found by every registered dlib setting.
FACES = ["afw/1051618982_1", "helen/trainset/100032540_1", "lfpw/trainset/image_0001"]


def landmark_box(pts: Path) -> np.ndarray:
    """Extent (x1, y1, x2, y2) of a 300-W .pts file's points, 0-based pixels (the file is 1-based)."""
    lines = pts.read_text().splitlines()
    points = np.loadtxt(lines[lines.index("{") + 1: lines.index("}")]) - 1
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w, h = np.clip(np.minimum(a[2:4], b[2:4]) - np.maximum(a[:2], b[:2]), 0, None)
    area = lambda c: (c[2] - c[0]) * (c[3] - c[1])  # noqa: E731
    return float(w * h / (area(a) + area(b) - w * h))


@pytest.fixture(scope="module")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"needs the 300-W crops and demo images in {SHARED} (the ../shared folder), which is absent")
    return SHARED


@pytest.mark.parametrize("detector", ["dlib-hog", "dlib-hog-up1"])
@pytest.mark.parametrize("face", FACES)
def test_finds_300w_face_and_calibrated_box_fits_landmarks(shared, face, detector):
    image = load_image(shared / "300w-subset" / f"{face}.jpg")
    boxes = detect_faces(image, detector)
    assert boxes.shape == (1, 5) and boxes.dtype == np.float64
    assert iou(boxes[0, :4], landmark_box(shared / "300w-subset" / f"{face}.pts")) > 0.5


@pytest.mark.parametrize("detector", [DEFAULT_DETECTOR, "dlib-hog"])
def test_raw_boxes_are_calibrated_boxes_before_correction(shared, detector):
    image = load_image(shared / "300w-subset" / f"{FACES[0]}.jpg")
    raw = detect_faces(image, detector, calibrated=False)
    np.testing.assert_allclose(detect_faces(image, detector), DETECTORS[detector].calibration.apply(raw))


def test_dlib_boxes_cover_whole_pixels(shared):
    raw = detect_faces(load_image(shared / "300w-subset" / f"{FACES[0]}.jpg"), "dlib-hog", calibrated=False)
    # dlib's rectangles name whole pixels: their edges lie on half-integers, sides are whole numbers.
    np.testing.assert_array_equal(raw[:, :4] % 1, 0.5)


def test_finds_official_demo_face(shared):
    """Found, by the benchmark's rule: the box holds the reference box's centre, at 0.5x-2x its longer side."""
    image = load_image(shared / "official-h3r" / "images" / "demo.jpg")
    reference = np.loadtxt(shared / "official-h3r" / "images" / "demo.jpg.bbox")[:4]
    boxes = detect_faces(image)
    assert len(boxes) == 1
    centre = (reference[:2] + reference[2:]) / 2
    assert np.all(boxes[0, :2] <= centre) and np.all(centre <= boxes[0, 2:4])
    assert 0.5 <= (boxes[0, 2:4] - boxes[0, :2]).max() / (reference[2:] - reference[:2]).max() <= 2


@pytest.mark.parametrize("image", [np.full((200, 300, 3), 128, np.uint8),
                                   np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)],
                         ids=["gray", "noise"])
def test_no_face_gives_empty_array(image):
    boxes = detect_faces(image)
    assert boxes.shape == (0, 5) and boxes.dtype == np.float64


@pytest.mark.parametrize(
    "image, message",
    [
        ([[[0, 0, 0]]], "must be a numpy array"),
        (np.zeros((64, 64), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((64, 64, 4), np.uint8), r"shape \(H, W, 3\)"),
        (np.zeros((64, 64, 3), np.float32), "dtype uint8"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
    ],
    ids=["list", "gray", "rgba", "float", "empty"],
)
def test_bad_image_raises_value_error(image, message):
    with pytest.raises(ValueError, match=message):
        detect_faces(image)


def test_unknown_detector_lists_known_ones():
    with pytest.raises(ValueError, match=r"unknown face detector 'retinaface'; known: .*dlib-hog"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), "retinaface")


@pytest.mark.parametrize("module, detector, package", [("dlib", "dlib-hog", "dlib-bin"),
                                                       ("cv2", "haar", "opencv-python-headless<5")])
def test_missing_library_names_pip_package(monkeypatch, module, detector, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    face_detection._dlib_detector.cache_clear()
    face_detection._haar_cascade.cache_clear()
    with pytest.raises(ImportError, match=f"pip install '{package}'"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), detector)


def test_haar_without_cascades_names_opencv_4(monkeypatch):
    cv2 = pytest.importorskip("cv2")
    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)
    face_detection._haar_cascade.cache_clear()
    with pytest.raises(ImportError, match=r"OpenCV 4's Haar cascades.*pip install 'opencv-python-headless<5'"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), "haar")


def test_haar_finds_300w_face(shared):
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip(f"OpenCV {cv2.__version__} ships no Haar cascades (they need opencv-python-headless<5)")
    image = load_image(shared / "300w-subset" / f"{FACES[0]}.jpg")
    boxes = detect_faces(image, "haar")
    assert iou(boxes[0, :4], landmark_box(shared / "300w-subset" / f"{FACES[0]}.pts")) > 0.5
