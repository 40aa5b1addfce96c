"""BlazeFace and MTCNN (h3r.inference.detectors): their helpers, and each finding a real face."""

import sys

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image

from h3r.inference.detectors import blazeface
from h3r.inference.detectors.blazeface import decode_boxes, ssd_anchors, window_grid
from h3r.inference.detectors.common import box_overlaps, nms, weighted_nms
from h3r.inference.detectors.mtcnn import pyramid_scales
from h3r.inference.face_detection import detect_faces

# Grace Hopper's face in matplotlib's sample photograph (512x600): dlib-hog's calibrated box (its estimate
# of the landmark box), rounded to whole pixels.
GRACE_HOPPER_FACE = np.array([166.0, 161.0, 372.0, 364.0])


@pytest.fixture(scope="module")
def grace_hopper() -> np.ndarray:
    return np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))


@pytest.mark.parametrize("detector", ["blazeface", "mtcnn"])
def test_finds_grace_hoppers_face(grace_hopper, detector):
    if detector == "blazeface":
        pytest.importorskip("ai_edge_litert", reason="blazeface needs ai-edge-litert")
    boxes = detect_faces(grace_hopper, detector)
    assert boxes.shape == (1, 5) and boxes.dtype == np.float64
    assert box_overlaps(boxes, GRACE_HOPPER_FACE[None])[0, 0] > 0.6


@pytest.mark.parametrize("detector", ["blazeface", "mtcnn"])
def test_no_face_in_gray_image(detector):
    if detector == "blazeface":
        pytest.importorskip("ai_edge_litert", reason="blazeface needs ai-edge-litert")
    assert detect_faces(np.full((300, 400, 3), 128, np.uint8), detector).shape == (0, 5)


def test_small_faces_are_found_in_a_large_image_through_windows(grace_hopper):
    """The face shrunk to about 80 pixels in a 1000-pixel canvas spans 8 % of the whole-image input, too
    little for the network (it needs about 20 %): only the windows of 250 pixels find it."""
    pytest.importorskip("ai_edge_litert", reason="blazeface needs ai-edge-litert")
    small = np.asarray(Image.fromarray(grace_hopper).resize((205, 240), Image.Resampling.LANCZOS))
    canvas = np.full((800, 1000, 3), 90, np.uint8)
    canvas[400:640, 600:805] = small
    boxes = detect_faces(canvas, "blazeface")
    expected = GRACE_HOPPER_FACE * 0.4 + (600, 400, 600, 400)
    assert len(boxes) == 1 and box_overlaps(boxes, expected[None])[0, 0] > 0.5


def test_blazeface_without_litert_names_pip_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    blazeface._interpreter.cache_clear()
    with pytest.raises(ImportError, match="pip install 'ai-edge-litert'"):
        detect_faces(np.zeros((64, 64, 3), np.uint8), "blazeface")
    blazeface._interpreter.cache_clear()


def test_anchors_follow_mediapipes_layout():
    anchors = ssd_anchors(128, (8, 16), (2, 6))
    np.testing.assert_allclose(anchors[:2], [[1 / 32, 1 / 32]] * 2)  # first cell of the 16x16 grid, twice
    np.testing.assert_allclose(anchors[512:518], [[1 / 16, 1 / 16]] * 6)  # first cell of the 8x8 grid
    np.testing.assert_allclose(anchors[-1], [15 / 16, 15 / 16])


def test_decoded_box_is_centred_on_its_anchor_plus_offset():
    regressors = np.zeros((2, 16), np.float32)
    regressors[1, :4] = [-4, 6, 20, 10]
    boxes = decode_boxes(regressors, np.array([-3.0, 3.0]), np.array([[0.5, 0.5], [0.25, 0.5]]), 128)
    assert boxes.shape == (1, 5)  # the first anchor scores sigmoid(−3) < 0.5
    np.testing.assert_allclose(boxes[0, :4], [28 - 10, 70 - 5, 28 + 10, 70 + 5])


def test_window_grid_covers_the_image_with_half_overlaps():
    windows = window_grid(768, 1024, 192)
    sides = sorted({side for _, _, side in windows}, reverse=True)
    assert sides == [1024, 512, 256]
    for side in sides[1:]:
        level = [(x, y) for x, y, s in windows if s == side]
        xs, ys = sorted({x for x, _ in level}), sorted({y for _, y in level})
        assert xs[0] == 0 and xs[-1] == 1024 - side and ys[0] == 0 and ys[-1] == 768 - side
        assert max(np.diff(xs)) <= side / 2 and max(np.diff(ys)) <= side / 2


def test_window_grid_rejects_empty_sizes():
    with pytest.raises(ValueError, match="positive"):
        window_grid(0, 100)


def test_nms_keeps_best_of_overlapping_and_separate_boxes():
    boxes = np.array([[0, 0, 10, 10, 0.8], [1, 1, 11, 11, 0.9], [20, 20, 30, 30, 0.5], [0, 0, 10, 10, 0.1]], float)
    assert nms(boxes, 0.5).tolist() == [1, 2]
    assert nms(np.zeros((0, 5)), 0.5).tolist() == []


def test_nms_over_the_smaller_box_suppresses_a_box_inside_another():
    boxes = np.array([[0, 0, 20, 20, 0.9], [5, 5, 10, 10, 0.8]], float)
    assert nms(boxes, 0.7).tolist() == [0, 1]  # IoU 1/16
    assert nms(boxes, 0.7, over="min").tolist() == [0]


def test_weighted_nms_averages_by_score_and_keeps_the_best_score():
    boxes = np.array([[0, 0, 10, 10, 0.6], [2, 0, 12, 10, 0.2], [50, 50, 60, 60, 0.9]], float)
    merged = weighted_nms(boxes, 0.3)
    np.testing.assert_allclose(merged, [[50, 50, 60, 60, 0.9], [0.5, 0, 10.5, 10, 0.6]])
    assert weighted_nms(np.zeros((0, 5)), 0.3).shape == (0, 5)


def test_box_overlaps_rejects_unknown_mode():
    with pytest.raises(ValueError, match="'union' or 'min'"):
        box_overlaps(np.zeros((1, 4)), np.zeros((1, 4)), over="max")


def test_pyramid_starts_at_the_smallest_face_and_stops_at_12_pixels():
    scales = pyramid_scales(240, 320, 20)
    assert scales[0] == pytest.approx(0.6) and 240 * scales[-1] >= 12 > 240 * scales[-1] * 0.709
    with pytest.raises(ValueError, match="positive"):
        pyramid_scales(240, 320, 0)
