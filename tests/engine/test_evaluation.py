"""Scoring a model on a dataset through ``LandmarkDetector``: boxes, landmark counts, scores per subset."""

import numpy as np
import pytest

from h3r.codecs import H3RCodec
from h3r.data.datasets import FaceDataset, read_dataset
from h3r.data.training_set import landmark_box
from h3r.engine.evaluate import default_box, evaluate_detector, face_box
from h3r.inference.detector import LandmarkDetector
from h3r.models import build_model


def fake_detector(landmarks_in_crop: np.ndarray, input_size: int = 32, **settings) -> LandmarkDetector:
    """A detector whose 'network' returns fixed crop-pixel landmarks (K, 2) for every crop."""
    count = len(landmarks_in_crop)

    def runner(crops):
        points = np.broadcast_to(landmarks_in_crop, (len(crops), count, 2))
        return points, np.ones((len(crops), count))

    return LandmarkDetector(runner, input_size, count, **settings)


@pytest.fixture(scope="module")
def faces(tiny_300w) -> FaceDataset:
    return read_dataset(f"300w:{tiny_300w}")


def test_the_report_has_every_score_overall_and_per_subset(faces):
    model = build_model(num_landmarks=68, width_mult=0.25)
    detector = LandmarkDetector.from_model(model, H3RCodec(32, topk=4), flip_permutation=faces.scheme.flip_permutation)
    result = evaluate_detector(detector, faces, "landmarks", flip=True)
    report = result.report
    keys = {"n", "nme", "nme_inter_pupil", "fr@0.08", "fr@0.10", "auc@0.08", "auc@0.10", "subsets"}
    assert keys <= set(report) and report["n"] == len(faces) == 12
    assert set(report["subsets"]) == {"afw", "helen"} and report["subsets"]["afw"]["n"] == 6
    assert result.landmarks.shape == (12, 68, 2) and result.scores.shape == (12, 68)
    assert result.errors.shape == (12,) and result.errors.mean() == pytest.approx(report["nme"])


def test_perfect_crop_predictions_score_zero(faces):
    """Predicting where the ground truth falls in each crop gives NME 0: the crop and map back agree."""
    sample = faces.samples[0]
    box = landmark_box(sample.keypoints, sample.visible)
    centre, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max() * 1.25
    in_crop = (sample.keypoints - centre) * 32 / side + 15.5  # the crop's pixel centres span [0, 31]
    one = FaceDataset("one", faces.scheme, [sample])
    result = evaluate_detector(fake_detector(in_crop), one, "landmarks")
    assert result.report["nme"] == pytest.approx(0, abs=1e-6)
    assert result.report["auc@0.10"] == pytest.approx(1.0)
    np.testing.assert_allclose(result.landmarks[0], sample.keypoints, atol=1e-4)


def test_a_landmark_count_mismatch_is_a_clear_error(faces):
    with pytest.raises(ValueError, match=r"the model predicts 98 landmarks but 300w has 68 \(300w-68\)"):
        evaluate_detector(fake_detector(np.zeros((98, 2))), faces)


def test_boxes_come_from_the_dataset_or_the_landmarks(faces):
    sample = faces.samples[0]
    np.testing.assert_array_equal(face_box(sample, "landmarks"), landmark_box(sample.keypoints, sample.visible))
    with pytest.raises(ValueError, match="has no dataset box; use the landmark box"):
        face_box(sample, "dataset")
    assert default_box(faces, "dataset") == "landmarks"  # 300-W has no boxes
    assert default_box(faces, "landmarks") == "landmarks"
