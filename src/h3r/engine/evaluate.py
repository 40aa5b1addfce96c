"""Test-set scores of a landmark model: crop each face, predict, map back, NME/FR/AUC per subset.

The crop → network → image path is ``LandmarkDetector.predict``, the same as ``h3r predict``. Faces are
cropped around the dataset's face box or the bounding box of their ground-truth landmarks (the paper's
P1 protocol; the only choice for 300-W, which has no boxes).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from h3r.data.datasets import FaceDataset, FaceSample
from h3r.data.training_set import BOX_SOURCES, landmark_box
from h3r.inference.detector import LandmarkDetector, located
from h3r.metrics.face import evaluate_faces, nme, normalizing_distance

__all__ = ["Evaluation", "default_box", "evaluate_detector", "face_box", "face_truth", "predict_each"]


@dataclass
class Evaluation:
    """The scores of a model on a dataset and what they came from.

    Attributes:
        report: ``evaluate_faces``'s dict: ``n``, ``nme`` (and ``nme_<kind>`` for the scheme's other
            normalisers), ``fr@0.08``, ``fr@0.10``, ``auc@0.08``, ``auc@0.10``, ``subsets``; fractions.
        landmarks: (N, K, 2) predictions, (x, y) image pixels.
        scores: (N, K) the network's confidences.
        boxes: (N, 4) the boxes the faces were cropped from, (x1, y1, x2, y2) image pixels.
        errors: (N,) per-face NME with the scheme's default normaliser (fractions).
    """

    report: dict
    landmarks: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    errors: np.ndarray


def default_box(faces: FaceDataset, preferred: str) -> str:
    """``preferred`` (the model's training box source), or ``"landmarks"`` when some face has no box."""
    if preferred == "dataset" and any(sample.box is None for sample in faces):
        return "landmarks"
    return preferred


def face_box(sample: FaceSample, source: str) -> np.ndarray:
    """(4,) crop box of a face: its dataset box or the bounding box of its visible landmarks (image pixels).

    Raises:
        ValueError: an unknown source, a face without a box for ``"dataset"``, or landmarks spanning no area.
    """
    if source not in BOX_SOURCES:
        raise ValueError(f"box must be one of {', '.join(BOX_SOURCES)}, got {source!r}")
    if source == "dataset":
        if sample.box is None:
            raise ValueError(f"{sample.image_path}: this face has no dataset box; use the landmark box")
        return sample.box
    try:
        return landmark_box(sample.keypoints, sample.visible)
    except ValueError as error:
        raise ValueError(f"{sample.image_path}: {error}") from None


def evaluate_detector(
    detector: LandmarkDetector,
    faces: FaceDataset,
    box: str = "landmarks",
    flip: bool | None = None,
    on_face: Callable[[], None] | None = None,
) -> Evaluation:
    """Predict every face of ``faces`` with ``detector`` and score the predictions.

    Args:
        detector: the model with its preprocessing.
        faces: the test faces; their landmark count must be the detector's.
        box: crop from ``"dataset"`` boxes or ``"landmarks"`` boxes (see ``face_box``).
        flip: run the flip test; None means the detector's default.
        on_face: called after each face (progress).

    Raises:
        ValueError: a landmark count that differs from the model's, a face that cannot be cropped, or an
            image that cannot be read, naming the file.
    """
    scheme = faces.scheme
    if detector.num_landmarks != scheme.num_landmarks:
        raise ValueError(
            f"the model predicts {detector.num_landmarks} landmarks but {faces.name} has "
            f"{scheme.num_landmarks} ({scheme.name}); evaluate it on a dataset of its own scheme"
        )
    boxes = np.stack([face_box(sample, box) for sample in faces]) if len(faces) else np.zeros((0, 4))
    landmarks, scores = predict_each(partial(detector.predict, flip=flip), faces, boxes, on_face)
    truth = face_truth(faces)
    report = evaluate_faces(landmarks, **truth)
    gt, visible = truth["gt"], truth["visible"]
    errors = nme(landmarks, gt, normalizing_distance(gt, scheme, None, truth["boxes"], visible), visible)
    return Evaluation(report, landmarks, scores, boxes, errors)


def predict_each(
    predict: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    samples: FaceDataset,
    boxes: np.ndarray,
    on_sample: Callable[[], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Predict each sample from its box, one image at a time.

    Args:
        predict: (image file or array, boxes (1, 4)) → ((1, K, 2) image pixels, (1, K) scores), e.g. a
            detector's ``predict``, which reads the image (``FaceSample.image_source``) as its settings say.
        samples: the faces or people; boxes: (N, 4) their crop boxes, image pixels.
        on_sample: called after each sample (progress).

    Returns:
        (N, K, 2) predictions, image pixels, and (N, K) scores.

    Raises:
        ValueError: a sample that cannot be cropped or read, naming its image; ``ModelOutputError`` for
            landmarks that are not finite.
    """
    count, k = len(samples), samples.scheme.num_landmarks
    points, scores = np.zeros((count, k, 2)), np.zeros((count, k))
    for index, sample in enumerate(samples):
        try:
            found, confidence = predict(sample.image_source, boxes[index : index + 1])
        except ValueError as error:
            raise located(error, sample.image_path) from None
        points[index], scores[index] = found[0], confidence[0]
        if on_sample is not None:
            on_sample()
    return points, scores


def face_truth(faces: FaceDataset) -> dict:
    """``evaluate_faces`` keyword arguments of a dataset's ground truth: gt, scheme, visible, boxes, subsets.

    ``boxes`` are the dataset's face boxes (for box-normalised schemes), None when some face lacks one.
    """
    boxes = [sample.box for sample in faces]
    return {
        "gt": np.stack([sample.keypoints for sample in faces]),
        "scheme": faces.scheme,
        "visible": np.stack([sample.visible for sample in faces]),
        "boxes": None if any(box is None for box in boxes) else np.stack(boxes),
        "subsets": [sample.subsets for sample in faces],
    }
