"""benchmarks/stability.py: clips whose truth follows the rendered motion, dlib's box convention undone, the
two decodings of one pass, the jitter metric, and a short run on the 300-W test set."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from shared_data import shared_path

from h3r import load_detector
from h3r.data import exact_crop_matrix, load_image, transform_points
from h3r.data.video import example_image
from h3r.inference.face_detection import DETECTORS

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # benchmarks/ is no package
import stability  # noqa: E402


def test_the_true_landmarks_follow_the_rendered_face():
    """A bright 3x3 blob on a dark image: its centroid in every noise-free frame is where the truth puts it."""
    image = np.zeros((120, 100, 3), np.uint8)
    image[59:62, 39:42] = 255  # centred on (40, 60)
    keypoints = np.array([[40.0, 60.0], [20.0, 30.0], [80.0, 90.0]] + [[50.0, 60.0]] * 65)
    clip = stability.render_clip(image, keypoints, 9, 0.0, np.random.default_rng(0))
    assert np.array_equal(clip.box, np.r_[clip.truth[0].min(axis=0), clip.truth[0].max(axis=0)])
    for frame, truth in zip(clip.frames, clip.truth):
        weights = frame[..., 0].astype(np.float64)
        ys, xs = np.indices(weights.shape)
        centroid = np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum()
        assert np.abs(centroid - truth[0]).max() < 0.03  # OpenCV's 1/32-pixel bilinear grid
    assert np.abs(clip.truth[-1, 0] - clip.truth[0, 0]).max() > 1  # the face moved by pixels, not fractions


def test_dlib_gets_the_raw_box_whose_calibration_is_the_landmark_box():
    box = np.array([40.0, 60.0, 200.0, 230.0])
    raw = stability.uncalibrated(box, stability.DLIB)
    np.testing.assert_allclose(DETECTORS[stability.DLIB].calibration.apply(np.r_[raw, 1.0][None])[0, :4], box)


def test_both_decodings_come_from_one_pass_and_argmax_lands_on_cells():
    face68 = load_detector("face68")
    image, box = load_image(example_image()), [166.0, 161.0, 372.0, 364.0]
    landmarks, _ = stability.with_argmax(face68).predict(image, [box])
    own, _ = face68.predict(image, [box])
    assert landmarks.shape == (1, 136, 2)
    np.testing.assert_allclose(landmarks[:, :68], own, atol=1e-4)
    # In crop pixels a cell centre is a multiple of the stride, 4, and its mirror 127 - 4j: their mean is
    # 63.5 + 2 (i - j) across and 2 (i + j) down.
    x, y = transform_points(exact_crop_matrix(box, 128, face68.crop_scale), landmarks[0, 68:]).T
    np.testing.assert_allclose((x - 63.5) / 2, np.round((x - 63.5) / 2), atol=1e-3)
    np.testing.assert_allclose(y / 2, np.round(y / 2), atol=1e-3)
    assert 0 < np.abs(landmarks[0, 68:] - own[0]).mean() < 4  # image pixels: 2 per crop pixel here


def test_jitter_counts_changes_of_the_error_not_the_error():
    truth = np.zeros((4, 68, 2))
    truth[:, 45, 0] = 20.0  # inter-ocular distance 20 pixels
    steps = truth.copy()
    steps[2:, :, 0] += 1.0  # one jump of a pixel in 3 changes
    result = stability.sequence_scores([steps], [truth])
    assert result["jitter_px"] == pytest.approx(np.sqrt(1 / 3)) and result["jitter_iod"] == pytest.approx(np.sqrt(1 / 3) / 20)
    assert result["nme"] == pytest.approx(0.5 / 20)


def test_a_short_run_writes_the_table_json_and_plot(tmp_path):
    shared_path("300w-private")
    json_path, plot, table = tmp_path / "stability.json", tmp_path / "trajectory.png", tmp_path / "stability.md"
    stability.main(["--sets", "300w", "--limit", "1", "--frames", "3", "--official",
                    "--json", str(json_path), "--plot", str(plot), "--markdown", str(table)])  # fmt: skip
    report = json.loads(json_path.read_text())
    rows = [result["method"] for result in report["300w"]["results"]]
    assert rows == ["face68", "face68, argmax", "face68, tracked", "face68, tracked, new box every frame", "dlib ERT"]
    assert all(result["jitter_px"] >= 0 and 0 < result["nme"] < 1 for result in report["300w"]["results"])
    assert plot.stat().st_size > 0 and "| face68, argmax |" in table.read_text()


def test_the_codec_verdict_compares_h3r_with_vanilla_round_at_each_stride():
    results = [{"method": name, "jitter_iod": jitter, "nme": 0.05} for name, jitter in
               (("h3r s4", 0.004), ("vanilla-round s4", 0.01), ("h3r s8", 0.012), ("vanilla-round s8", 0.01))]
    lines = stability.codec_verdicts("300w", results)
    assert len(lines) == 2 and lines[0].endswith("0.40 x, target (below) met") and lines[1].endswith("missed")
    assert stability.codec_verdicts("300w", results[:1]) == []


def test_the_study_rows_need_the_studys_runs(tmp_path):
    for codec in ("vanilla-round", "h3r"):
        for stride in (4, 8):
            (tmp_path / f"{codec}_s{stride}_seed0").mkdir()
            (tmp_path / f"{codec}_s{stride}_seed0" / "last.ckpt").touch()
    items = stability.study_models(tmp_path)
    assert items[0] == f"vanilla-round s4={tmp_path / 'vanilla-round_s4_seed0' / 'last.ckpt'}" and len(items) == 4
    (tmp_path / "h3r_s8_seed0" / "last.ckpt").unlink()
    with pytest.raises(SystemExit, match="h3r_s8_seed0.*resolution_study.py --edition imagenet"):
        stability.study_models(tmp_path)
