"""Pose scores: each dataset's standard metric of predicted joints, the validation metric of a run, the
mean-pose baseline, and test-set evaluation of a ``PoseEstimator``.

Metrics by scheme (``pose_report``), all fractions:
    - ``lsp-14``: PCK@0.2 of the torso (``evaluate_lsp``) over the labelled joints of the people whose torso
      diagonal (left shoulder, right hip) is labelled (``n_scored`` of ``n``); ``pck`` pools all 14
      joints, ``pck_limbs`` the 12 limb joints (``LSP_LIMB_JOINTS``).
    - ``mpii-16``: PCKh (``evaluate_mpii``); the head size is 0.6 × the head box diagonal where every person
      has a head box (``read_mpii(head_boxes=...)``), otherwise the upper-neck-to-head-top distance
      (``mpii_head_sizes_from_joints``, not comparable with published numbers; ``head_size`` says which).
    - ``coco-17``: OKS AP/AR through pycocotools (``evaluate_coco``) against the dataset's annotation file;
      a person's score is its box score (1 for ground-truth boxes) × the mean of its joint scores, and
      OKS-NMS (0.9, areas of the boxes) runs per image first, as HRNet and mmpose do.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from h3r.data import exact_crop_matrix, invert, transform_points
from h3r.data.datasets import FaceDataset
from h3r.data.pose import PoseDataset
from h3r.engine.evaluate import predict_each
from h3r.inference.pose import PoseEstimator
from h3r.metrics.pose import (
    LSP_LIMB_JOINTS,
    coco_results,
    evaluate_coco,
    evaluate_lsp,
    evaluate_mpii,
    mpii_head_sizes,
    mpii_head_sizes_from_joints,
    oks_nms,
)

__all__ = [
    "FACE_METRIC",
    "PoseEvaluation",
    "ValidationMetric",
    "evaluate_estimator",
    "mean_pose",
    "place_mean_pose",
    "pose_report",
    "pose_truth",
    "validation_metric",
]


@dataclass(frozen=True)
class ValidationMetric:
    """The number a run selects ``best.ckpt`` by: ``key`` of the report, its printed ``label``, its direction."""

    key: str
    label: str
    higher_is_better: bool

    def improves(self, value: float, best: float) -> bool:
        """Whether ``value`` beats ``best``."""
        return value > best if self.higher_is_better else value < best


FACE_METRIC = ValidationMetric("nme", "NME", higher_is_better=False)
_POSE_METRICS = {
    "lsp-14": ValidationMetric("pck", "PCK@0.2", higher_is_better=True),
    "mpii-16": ValidationMetric("pckh", "PCKh@0.5", higher_is_better=True),
    "coco-17": ValidationMetric("ap", "OKS AP", higher_is_better=True),
}


def validation_metric(dataset: FaceDataset) -> ValidationMetric:
    """NME for faces, the pose scheme's standard metric for people (see the module docstring)."""
    if isinstance(dataset, PoseDataset):
        return _POSE_METRICS[dataset.scheme.name]
    return FACE_METRIC


def pose_truth(people: PoseDataset) -> tuple[np.ndarray, np.ndarray]:
    """(N, K, 2) ground-truth joints (NaN where not labelled) and (N, K) labelled mask of a dataset."""
    return np.stack([p.keypoints for p in people]), np.stack([p.visible for p in people])


def pose_report(joints: np.ndarray, scores: np.ndarray, people: PoseDataset) -> dict:
    """The dataset's standard scores of predictions (see the module docstring).

    Args:
        joints: (N, K, 2) predictions, image pixels, one per person of ``people``, in its order.
        scores: (N, K) joint confidences (used by COCO's ranking only).
        people: the ground truth.

    Returns:
        a dict of fractions whose ``validation_metric(people).key`` entry is the headline number, with
        ``n`` and per-joint details.
    """
    name = people.scheme.name
    if name == "lsp-14":
        return _lsp_report(joints, people)
    if name == "mpii-16":
        return _mpii_report(joints, people)
    return _coco_report(joints, scores, people)


def _lsp_report(joints: np.ndarray, people: PoseDataset) -> dict:
    gt, visible = pose_truth(people)
    torso = visible[:, list(people.scheme.torso)].all(axis=1)
    if not torso.any():
        raise ValueError(f"{people.name}: no person has a labelled torso (left shoulder and right hip) to score")
    report = evaluate_lsp(joints[torso], gt[torso], visible[torso])
    limbs = evaluate_lsp(joints[torso], gt[torso], visible[torso], joints=LSP_LIMB_JOINTS)["Mean"]
    del report["n"]
    return {"n": len(people), "n_scored": int(torso.sum()), "pck": report.pop("Mean"), "pck_limbs": limbs, **report}


def _mpii_report(joints: np.ndarray, people: PoseDataset) -> dict:
    gt, visible = pose_truth(people)
    if all(p.head_box is not None for p in people):
        scored = np.ones(len(people), bool)
        sizes, kind = mpii_head_sizes(np.stack([p.head_box for p in people]).reshape(-1, 2, 2)), "head box"
    else:
        scored = visible[:, [people.scheme.index("upper_neck"), people.scheme.index("head_top")]].all(axis=1)
        if not scored.any():
            raise ValueError(f"{people.name}: no person has a head box or a labelled upper neck and head top")
        sizes, kind = mpii_head_sizes_from_joints(gt[scored], visible[scored]), "upper neck to head top"
    report = evaluate_mpii(joints[scored], gt[scored], visible[scored], sizes)
    del report["n"]
    headline = {"pckh": report.pop("Mean"), "pckh@0.1": report.pop("Mean@0.1")}
    return {"n": len(people), "n_scored": int(scored.sum()), "head_size": kind, **headline, **report}


def _coco_report(joints: np.ndarray, scores: np.ndarray, people: PoseDataset) -> dict:
    if people.annotation_file is None:
        raise ValueError(f"{people.name}: COCO's evaluation needs the dataset's annotation file")
    boxes = np.stack([p.box for p in people])
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    person_scores = np.array([1.0 if p.score is None else p.score for p in people]) * scores.mean(axis=1)
    image_ids = np.array([p.image_id for p in people])
    kept = np.concatenate([
        np.flatnonzero(image_ids == image)[oks_nms(joints[image_ids == image], person_scores[image_ids == image],
                                                   areas[image_ids == image])]
        for image in np.unique(image_ids)
    ])  # fmt: skip
    results = coco_results(image_ids[kept], joints[kept], scores[kept], person_scores[kept])
    stats = evaluate_coco(people.annotation_file, results)
    return {"n": len(people), "n_kept": len(kept), **{key.lower(): value for key, value in stats.items()}}


def mean_pose(people: PoseDataset, input_size: tuple[int, int], crop_scale: float) -> np.ndarray:
    """(K, 2) the mean of the labelled joints in crop pixels of each person's plain crop (``exact_crop_matrix``).

    The trivial baseline: place it in each test person's crop (``place_mean_pose``).

    Raises:
        ValueError: a joint labelled for nobody.
    """
    gt, visible = pose_truth(people)
    matrices = np.stack([exact_crop_matrix(p.box, input_size, crop_scale) for p in people])  # (N, 3, 3)
    in_crops = np.where(visible[..., None], transform_points(matrices, np.nan_to_num(gt)), np.nan)  # (N, K, 2)
    if not visible.any(axis=0).all():
        missing = [people.scheme.joints[k] for k in np.flatnonzero(~visible.any(axis=0))]
        raise ValueError(f"{people.name}: no person has a labelled {', '.join(missing)}")
    return np.nanmean(in_crops, axis=0)


def place_mean_pose(
    pose: np.ndarray, people: PoseDataset, input_size: tuple[int, int], crop_scale: float
) -> np.ndarray:
    """(N, K, 2) image pixels: the (K, 2) crop-pixel ``pose`` put into every person's crop."""
    to_image = np.stack([invert(exact_crop_matrix(p.box, input_size, crop_scale)) for p in people])
    return transform_points(to_image, np.broadcast_to(pose, (len(people), *pose.shape)).copy())


@dataclass
class PoseEvaluation:
    """Scores of a pose model on a dataset: ``report`` (``pose_report``), (N, K, 2) ``joints`` in image pixels,
    (N, K) ``scores`` and the (N, 4) ``boxes`` the people were cropped from."""

    report: dict
    joints: np.ndarray
    scores: np.ndarray
    boxes: np.ndarray


def evaluate_estimator(
    estimator: PoseEstimator,
    people: PoseDataset,
    flip: bool | None = None,
    on_person: Callable[[], None] | None = None,
) -> PoseEvaluation:
    """Predict every person of ``people`` from its box and score the predictions (``pose_report``).

    Raises:
        ValueError: a scheme other than the estimator's, or a person that cannot be cropped or read, naming
            the image.
    """
    if people.scheme != estimator.scheme:
        raise ValueError(
            f"the model predicts {estimator.scheme.name} joints but {people.name} has {people.scheme.name}"
        )
    boxes = np.stack([p.box for p in people]) if len(people) else np.zeros((0, 4))
    joints, scores = predict_each(partial(estimator.predict, flip=flip), people, boxes, on_person)
    return PoseEvaluation(pose_report(joints, scores, people), joints, scores, boxes)
