"""Face tracking: stable ids, the detector's schedule, lost faces found again or ended, IoU matching, the
Python API on a real clip."""

import numpy as np
import pytest

from h3r import load_detector
from h3r.data.video import open_video, read_frames, write_example_video
from h3r.inference.smoothing import OneEuroSettings
from h3r.inference.tracking import FaceTracker, TrackingSettings, box_iou, match_boxes, track

SIZE = (120, 160)  # (H, W) of the synthetic frames
SIDE = 20  # pixels of a synthetic face


class SquareFaces:
    """A stand-in landmark detector for frames of flat squares, each face a square of its own grey level.

    A box's face is the grey level covering most of it; its 4 landmarks are that square's corners (found in the
    whole frame) and their score the share of the square inside the box: a box left behind by a jump scores low.
    """

    num_landmarks = 4
    exif_transpose = True

    def __init__(self):
        self.refine_passes = []

    def predict(self, image, boxes, refine=None):
        self.refine_passes.append(refine)
        landmarks, scores = [], []
        for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
            x1, y1 = np.clip(np.ceil(box[:2]).astype(int), 0, None)
            x2, y2 = np.floor(box[2:]).astype(int)
            region = image[y1 : y2 + 1, x1 : x2 + 1, 0]
            levels = region[region > 0]
            if not levels.size:
                landmarks.append(np.tile(box[:2], (4, 1)))
                scores.append(np.zeros(4))
                continue
            level = np.bincount(levels).argmax()
            ys, xs = np.nonzero(image[..., 0] == level)
            left, top, right, bottom = xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5
            landmarks.append(np.array([[left, top], [right, top], [left, bottom], [right, bottom]]))
            scores.append(np.full(4, (region == level).sum() / ys.size))
        return np.array(landmarks).reshape(-1, 4, 2), np.array(scores).reshape(-1, 4)


class SquareFinder:
    """A stand-in face detector: the extent of every grey level in the frame; counts its calls."""

    def __init__(self):
        self.frames_seen = 0

    def __call__(self, image):
        self.frames_seen += 1
        boxes = []
        for level in np.unique(image[..., 0])[1:]:
            ys, xs = np.nonzero(image[..., 0] == level)
            boxes.append([xs.min() - 0.5, ys.min() - 0.5, xs.max() + 0.5, ys.max() + 0.5, 1.0])
        return np.array(boxes).reshape(-1, 5)


def frame(*squares):
    """An (H, W, 3) frame holding squares given as (x, y, grey level) of their top-left pixel."""
    image = np.zeros((*SIZE, 3), np.uint8)
    for x, y, level in squares:
        image[y : y + SIDE, x : x + SIDE] = level
    return image


def run(frames, **settings):
    detector, finder = SquareFaces(), SquareFinder()
    tracker = FaceTracker(detector, finder, TrackingSettings(**settings), fps=10.0)
    return [tracker.update(image) for image in frames], finder, detector


def test_ids_stay_with_their_faces_and_the_detector_runs_every_n_frames():
    frames = [frame((10 + t, 20, 100), (100 - t, 60, 200)) for t in range(8)]
    results, finder, detector = run(frames, detect_every=4, min_score=0.5)
    for t, result in enumerate(results):
        assert result.ids.tolist() == [0, 1] and result.index == t and result.time == pytest.approx(t / 10)
        assert result.landmarks[0, 0].tolist() == [9.5 + t, 19.5] and result.landmarks[1, 0].tolist() == [99.5 - t, 59.5]
    assert finder.frames_seen == 2  # frames 0 and 4
    assert [r.detected.tolist() for r in results[:2]] == [[True, True], [False, False]]
    assert not results[4].detected.any()  # held faces keep their own boxes on a detection frame
    assert detector.refine_passes[0] is None and set(detector.refine_passes[1:]) == {0}
    assert results[1].boxes[0].tolist() == [9.5, 19.5, 29.5, 39.5]  # frame 0's landmarks' extent


def test_a_lost_face_found_again_keeps_its_id_and_a_vanished_one_ends():
    frames = [
        frame((10, 20, 100), (100, 60, 200)),
        frame((11, 20, 100), (100, 60, 200)),
        frame((23, 20, 100), (100, 60, 200)),  # face 0 jumps 12 of its 20 pixels: its old box sees 40 %
        frame((24, 20, 100)),  # face 1 vanishes
        frame((25, 20, 100), (100, 60, 200)),  # and comes back: a new face
    ]
    results, finder, _ = run(frames, detect_every=4, min_score=0.5, min_iou=0.2)
    assert [r.ids.tolist() for r in results] == [[0, 1], [0, 1], [0, 1], [0], [0, 2]]
    assert results[2].detected.tolist() == [True, False] and results[2].landmarks[0, 0].tolist() == [22.5, 19.5]
    assert finder.frames_seen == 4  # frames 0 and 4 as scheduled, 2 and 3 where a face was lost


def test_a_box_stays_through_small_moves_and_follows_large_ones():
    frames = [frame((x, 20, 100)) for x in (10, 11, 10, 11, 14)]  # 1-pixel wobble (IoU 0.9), then 3 pixels
    steady, _, _ = run(frames, detect_every=100, min_score=0.5)
    assert [b[0] for b in (r.boxes[0] for r in steady)] == [9.5, 9.5, 9.5, 9.5, 9.5]
    eager, _, _ = run(frames, detect_every=100, min_score=0.5, keep_iou=1.0)
    assert [b[0] for b in (r.boxes[0] for r in eager)] == [9.5, 9.5, 10.5, 9.5, 10.5]
    assert steady[4].landmarks[0, 0, 0] == 13.5


def test_a_face_not_matched_by_iou_starts_a_new_track():
    frames = [frame((10, 20, 100)), frame((60, 20, 100))]  # a jump beyond any overlap
    results, _, _ = run(frames, detect_every=100, min_score=0.5)
    assert [r.ids.tolist() for r in results] == [[0], [1]]


def test_smoothing_lags_a_moving_face_and_leaves_the_boxes_to_the_raw_landmarks():
    frames = [frame((10 + 3 * t, 20, 100)) for t in range(4)]
    raw, _, _ = run(frames, detect_every=100, min_score=0.5)
    smooth, _, _ = run(frames, detect_every=100, min_score=0.5, smoothing=OneEuroSettings(beta=0.0))
    assert np.array_equal(smooth[0].landmarks, raw[0].landmarks)
    assert (smooth[3].landmarks[0, :, 0] < raw[3].landmarks[0, :, 0]).all()
    assert all(np.array_equal(s.boxes, r.boxes) for s, r in zip(smooth, raw))


def test_iou_and_greedy_matching():
    a = np.array([[0.0, 0.0, 10.0, 10.0], [5.0, 0.0, 15.0, 10.0]])
    b = np.array([[6.0, 0.0, 16.0, 10.0], [0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 110.0, 110.0]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3) and iou[0, 1] == 1.0 and iou[1, 0] == pytest.approx(90 / 110)
    assert match_boxes(a, b, 0.3) == [(0, 1), (1, 0)]  # the best pair first, each box used once
    assert match_boxes(a, b[:1], 0.3) == [(1, 0)]
    assert match_boxes(a, b[2:], 0.3) == [] and match_boxes(np.zeros((0, 4)), b, 0.3) == []


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="detect_every must be a positive int"):
        TrackingSettings(detect_every=0)
    with pytest.raises(ValueError, match="min_iou must lie in"):
        TrackingSettings(min_iou=0.0)
    with pytest.raises(ValueError, match="keep_iou must lie in"):
        TrackingSettings(keep_iou=1.5)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        FaceTracker(SquareFaces(), SquareFinder(), TrackingSettings(), fps=0.0)


def test_the_python_api_tracks_the_example_clip(tmp_path):
    video = open_video(write_example_video(tmp_path / "clip.mp4", frames=4, size=(150, 128)))
    detector = load_detector("face68")
    frames = list(detector.track(read_frames(video), fps=video.fps, face_detector="dlib-hog-up1", detect_every=2))
    assert [f.ids.tolist() for f in frames] == [[0]] * 4 and frames[0].detected.tolist() == [True]
    assert frames[0].landmarks.shape == (1, 68, 2) and frames[0].scores.shape == (1, 68)
    assert [f.time for f in frames] == pytest.approx([0, 1 / 30, 2 / 30, 3 / 30])
    nose = np.array([f.landmarks[0, 30] for f in frames])
    assert np.abs(np.diff(nose, axis=0)).max() < 2.0  # a slow clip: no jumps
    again = list(track(detector, read_frames(video), fps=video.fps, face_detector="dlib-hog-up1"))
    assert np.array_equal(again[3].landmarks, frames[3].landmarks)  # held faces ignore the extra detections
