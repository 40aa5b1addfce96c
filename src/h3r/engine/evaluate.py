"""Test-set scores of a landmark model: crop each face, predict, map back, NME/FR/AUC per subset.

The crop → network → image path is ``LandmarkDetector.predict``, the same as ``h3r predict``. Faces are
cropped around the dataset's face box or the bounding box of their ground-truth landmarks (the paper's
P1 protocol; the only choice for 300-W, which has no boxes).

A model of another landmark scheme than the dataset's is scored through a scheme conversion
(``h3r.data.datasets.conversion``): its predictions are converted to the dataset's scheme where a
conversion exists (a 98-point WFLW model on 68-point faces, a 68-point model on 5-point MTFL faces), else
the dataset's ground truth to the model's (a 68-point model on 98-point WFLW faces).
"""

from collections.abc import Callable
from dataclasses import dataclass
from contextlib import suppress
from functools import partial

import numpy as np

from h3r.data.datasets import (
    Conversion,
    FaceDataset,
    FaceSample,
    LandmarkScheme,
    convert_dataset,
    find_conversion,
    get_scheme,
    known_conversions,
    scheme_for_count,
)
from h3r.data.training_set import BOX_SOURCES, landmark_box
from h3r.inference.detector import ImageSource, LandmarkDetector, located
from h3r.metrics.face import evaluate_faces, nme, normalizing_distance

__all__ = [
    "Evaluation",
    "default_box",
    "evaluate_detector",
    "face_box",
    "face_truth",
    "model_scheme",
    "predict_each",
    "scoring_conversion",
]

Predict = Callable[[ImageSource, np.ndarray], tuple[np.ndarray, np.ndarray]]
"""(image file or array, boxes (F, 4)) → ((F, K, 2) landmarks, image pixels, (F, K) scores)."""


@dataclass
class Evaluation:
    """The scores of a model on a dataset and what they came from.

    Attributes:
        report: ``evaluate_faces``'s dict: ``n``, ``nme`` (and ``nme_<kind>`` for the scheme's other
            normalisers), ``fr@0.08``, ``fr@0.10``, ``auc@0.08``, ``auc@0.10``, ``subsets``; fractions.
        landmarks: (N, K, 2) predictions in the scheme of ``faces``, (x, y) image pixels.
        scores: (N, K) the network's confidences, converted like the landmarks (weighted means).
        boxes: (N, 4) the boxes the faces were cropped from, (x1, y1, x2, y2) image pixels.
        errors: (N,) per-face NME with the scheme's default normaliser (fractions).
        faces: the faces as scored: the dataset, or its ground truth converted to the model's scheme.
        conversion: how the two schemes were matched, e.g. ``"predictions: wflw-98 -> 300w-68"`` or
            ``"ground truth: wflw-98 -> 300w-68"``; None where the model predicts the dataset's scheme.
    """

    report: dict
    landmarks: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray
    errors: np.ndarray
    faces: FaceDataset
    conversion: str | None = None


def default_box(faces: FaceDataset, preferred: str, model: LandmarkScheme | None = None) -> str:
    """``preferred`` (the model's training box source), or ``"landmarks"`` when some face has no box.

    Where the faces' scheme is not the ``model``'s and every face has a box, ``"dataset"``: the bounding
    box of another scheme's points (MTFL's five) is not the box the model was trained on.
    """
    has_boxes = all(sample.box is not None for sample in faces)
    if model is not None and model.name != faces.scheme.name and has_boxes:
        return "dataset"
    return preferred if preferred != "dataset" or has_boxes else "landmarks"


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
    scheme: LandmarkScheme | str | None = None,
) -> Evaluation:
    """Predict every face of ``faces`` with ``detector`` and score the predictions.

    Args:
        detector: the model with its preprocessing.
        faces: the test faces, in the detector's scheme or one that converts to or from it.
        box: crop from ``"dataset"`` boxes or ``"landmarks"`` boxes (see ``face_box``), of the faces as read.
        flip: run the flip test; None means the detector's default.
        on_face: called after each face (progress).
        scheme: the scheme of the detector's landmarks; default see ``model_scheme``.

    Raises:
        ValueError: a model whose scheme neither converts to the faces' nor from it, a face that cannot
            be cropped, or an image that cannot be read, naming the file.
    """
    scheme = model_scheme(detector, faces.scheme, scheme)
    boxes = np.stack([face_box(sample, box) for sample in faces]) if len(faces) else np.zeros((0, 4))
    predict, faces, conversion = _in_one_scheme(partial(detector.predict, flip=flip), faces, scheme)
    landmarks, scores = predict_each(predict, faces, boxes, on_face)
    truth = face_truth(faces)
    report = evaluate_faces(landmarks, **truth)
    gt, visible = truth["gt"], truth["visible"]
    errors = nme(landmarks, gt, normalizing_distance(gt, faces.scheme, None, truth["boxes"], visible), visible)
    return Evaluation(report, landmarks, scores, boxes, errors, faces, conversion)


def model_scheme(
    detector: LandmarkDetector, dataset: LandmarkScheme, scheme: LandmarkScheme | str | None = None
) -> LandmarkScheme:
    """The scheme of a detector's landmarks: ``scheme`` if given, else the ``dataset``'s where the landmark
    counts agree, else the known scheme with the detector's count (``scheme_for_count``).

    Raises:
        ValueError: a ``scheme`` of another landmark count than the detector's, or an unknown count.
    """
    if scheme is None:
        return dataset if detector.num_landmarks == dataset.num_landmarks else scheme_for_count(detector.num_landmarks)
    scheme = get_scheme(scheme) if isinstance(scheme, str) else scheme
    if scheme.num_landmarks != detector.num_landmarks:
        raise ValueError(
            f"the model predicts {detector.num_landmarks} landmarks, not the {scheme.num_landmarks} of {scheme.name}"
        )
    return scheme


def scoring_conversion(model: LandmarkScheme, faces: FaceDataset) -> Conversion | None:
    """How a model of scheme ``model`` is scored on ``faces``: None where the schemes agree, else the
    conversion of its predictions to the faces' scheme, or failing that, of the faces to the model's.

    Raises:
        ValueError: no conversion either way, naming both schemes and the known conversions.
    """
    if model.name == faces.scheme.name:
        return None
    for source, target in ((model, faces.scheme), (faces.scheme, model)):
        with suppress(ValueError):
            return find_conversion(source, target)
    raise ValueError(
        f"the model predicts {model.num_landmarks} landmarks ({model.name}) but {faces.name} has "
        f"{faces.scheme.num_landmarks} ({faces.scheme.name}), and neither scheme converts to the other "
        f"(known conversions: {', '.join(known_conversions())}); evaluate it on a dataset of its own scheme"
    )


def _in_one_scheme(
    predict: Predict, faces: FaceDataset, model: LandmarkScheme
) -> tuple[Predict, FaceDataset, str | None]:
    """``predict`` and ``faces`` brought to one scheme (see ``scoring_conversion``), and how, in words."""
    conversion = scoring_conversion(model, faces)
    if conversion is None:
        return predict, faces, None
    if conversion.path[0] == model.name:
        return partial(_converted_prediction, predict, conversion), faces, f"predictions: {conversion.name}"
    return predict, convert_dataset(faces, model), f"ground truth: {conversion.name}"


def _converted_prediction(
    predict: Predict,
    conversion: Conversion,
    image: ImageSource,
    boxes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``predict``'s (F, K, 2) landmarks and (F, K) scores, both in ``conversion``'s target scheme."""
    landmarks, scores = predict(image, boxes)
    return conversion.points(landmarks), conversion.points(scores[..., None])[..., 0]


def predict_each(
    predict: Predict,
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
