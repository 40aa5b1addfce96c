"""Scoring a model on a dataset through ``LandmarkDetector``: boxes, landmark counts, scores per subset."""

from dataclasses import replace

import numpy as np
import pytest
from shared_data import shared_path

from h3r.codecs import H3RCodec
from h3r.data.datasets import FaceDataset, convert_landmarks, get_scheme, read_dataset
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


def in_crop(points: np.ndarray, box: np.ndarray, size: int = 32) -> np.ndarray:
    """(K, 2) image points in the pixels of the ``size``² crop that ``LandmarkDetector`` cuts around ``box``."""
    centre, side = (box[:2] + box[2:]) / 2, (box[2:] - box[:2]).max() * 1.25
    return (points - centre) * size / side + (size - 1) / 2


def test_perfect_crop_predictions_score_zero(faces):
    """Predicting where the ground truth falls in each crop gives NME 0: the crop and map back agree."""
    sample = faces.samples[0]
    box = landmark_box(sample.keypoints, sample.visible)
    one = FaceDataset("one", faces.scheme, [sample])
    result = evaluate_detector(fake_detector(in_crop(sample.keypoints, box)), one, "landmarks")
    assert result.report["nme"] == pytest.approx(0, abs=1e-6)
    assert result.report["auc@0.10"] == pytest.approx(1.0)
    np.testing.assert_allclose(result.landmarks[0], sample.keypoints, atol=1e-4)
    assert result.conversion is None and result.faces is one


def test_predictions_of_another_scheme_are_converted_to_the_datasets(faces):
    detector = fake_detector(np.random.default_rng(0).uniform(4, 28, (98, 2)))
    result = evaluate_detector(detector, faces, "landmarks", flip=False)
    sample, box = faces.samples[0], result.boxes[0]
    predicted, _ = detector.predict(sample.load_image(), box[None])
    np.testing.assert_allclose(result.landmarks[0], convert_landmarks(predicted[0], "wflw-98", "300w-68"))
    assert result.conversion == "predictions: wflw-98 -> 300w-68" and result.faces is faces
    assert result.landmarks.shape == (12, 68, 2) and result.scores.shape == (12, 68)


def test_the_ground_truth_is_converted_where_only_the_dataset_converts(faces):
    """A 68-point model on 98-point faces: scored on the 68 points of the faces, cropped from their 98."""
    points = np.random.default_rng(0).uniform(10, 50, (98, 2))
    sample = replace(faces.samples[0], keypoints=points, visible=np.ones(98, bool))
    wflw = FaceDataset("wflw", get_scheme("wflw-98"), [sample])
    truth, box = convert_landmarks(points, "wflw-98", "300w-68"), landmark_box(points, np.ones(98, bool))
    result = evaluate_detector(fake_detector(in_crop(truth, box)), wflw, "landmarks")
    assert result.report["nme"] == pytest.approx(0, abs=1e-6)
    assert result.conversion == "ground truth: wflw-98 -> 300w-68"
    assert result.faces.name == "wflw as 300w-68" and result.faces.scheme.name == "300w-68"
    np.testing.assert_array_equal(result.boxes[0], box)


def test_a_scheme_without_conversion_is_a_clear_error(faces):
    message = r"the model predicts 29 landmarks \(cofw-29\) but 300w has 68 \(300w-68\), and neither scheme converts"
    with pytest.raises(ValueError, match=message + r" to the other \(known conversions: wflw-98 -> 300w-68, "):
        evaluate_detector(fake_detector(np.zeros((29, 2))), faces)
    with pytest.raises(ValueError, match="the model predicts 68 landmarks, not the 98 of wflw-98"):
        evaluate_detector(fake_detector(np.zeros((68, 2))), faces, scheme="wflw-98")


def test_boxes_come_from_the_dataset_or_the_landmarks(faces):
    sample = faces.samples[0]
    np.testing.assert_array_equal(face_box(sample, "landmarks"), landmark_box(sample.keypoints, sample.visible))
    with pytest.raises(ValueError, match="has no dataset box; use the landmark box"):
        face_box(sample, "dataset")
    assert default_box(faces, "dataset") == "landmarks"  # 300-W has no boxes
    assert default_box(faces, "landmarks") == "landmarks"
    five_points = replace(sample, keypoints=sample.keypoints[:5], visible=sample.visible[:5], box=[0, 0, 9, 9])
    boxed = FaceDataset("boxed", get_scheme("mtfl-5"), [five_points])
    assert default_box(boxed, "landmarks", get_scheme("300w-68")) == "dataset"  # not the box of 5 points
    assert default_box(boxed, "landmarks", get_scheme("mtfl-5")) == "landmarks"


def first(faces: FaceDataset, count: int) -> FaceDataset:
    return FaceDataset(faces.name, faces.scheme, faces.samples[:count])


def test_the_authors_wflw_model_on_68_point_wflw_faces_through_conversion():
    root = shared_path("wflw-test-half")
    detector = LandmarkDetector.from_pretrained(shared_path("official-h3r", "models", "wflw_mobilenet_128x128_p2"))
    result = evaluate_detector(detector, first(read_dataset(f"wflw-68:{root}:test"), 8), "dataset")
    assert result.conversion == "predictions: wflw-98 -> 300w-68" and result.landmarks.shape == (8, 68, 2)
    assert 0.02 < result.report["nme"] < 0.08  # the model scores 4.5 % on the 98 points of these faces


def test_a_68_point_model_scores_98_point_faces_as_their_68_point_list():
    root = shared_path("wflw-test-half")
    wflw_98, wflw_68 = first(read_dataset(f"wflw:{root}:test"), 4), read_dataset(f"wflw-68:{root}:test")
    listed = {(face.image_path, tuple(face.box)): face for face in wflw_68}
    same_faces = [listed[face.image_path, tuple(face.box)] for face in wflw_98]
    same_faces = FaceDataset("listed", wflw_68.scheme, same_faces)
    detector = LandmarkDetector.from_pretrained("face68")
    converted, direct = (evaluate_detector(detector, faces, "dataset") for faces in (wflw_98, same_faces))
    assert converted.conversion == "ground truth: wflw-98 -> 300w-68" and direct.conversion is None
    np.testing.assert_allclose(converted.errors, direct.errors, rtol=1e-9)


def test_a_68_point_model_on_mtfl_faces_is_scored_on_the_five_points_it_implies():
    faces = first(read_dataset(f"mtfl:{shared_path('mtfl-5pt')}:test"), 6)
    result = evaluate_detector(LandmarkDetector.from_pretrained("face68"), faces, "dataset")
    assert result.conversion == "predictions: 300w-68 -> mtfl-5" and result.landmarks.shape == (6, 5, 2)
    assert np.isfinite(result.errors).all() and 0 < result.report["nme"] < 0.3
