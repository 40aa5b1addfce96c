"""Human pose metrics: PCKh (MPII), PCK of the torso (LSP), OKS, OKS-NMS and COCO keypoint AP/AR.

Points are (x, y) pixels in any frame that predictions and ground truth share: MPII's ``gt_valid.mat`` and
LSP's ``joints.mat`` are 1-based, COCO results must be in the frame of the annotation file's keypoints
(pycocotools compares the numbers as they are). Converting is the caller's job; never mix frames. PCK, AP and
AR are fractions (1.0, not 100 %); MPII and LSP tables print PCK × 100. Symbols: N people, K joints,
D detections.

PCK, as the standard evaluations compute it:
    - A joint counts where it is visible (annotated). It is correct when its distance to the ground truth,
      divided by the person's normalising size, is at most the threshold (``<=``: the MPII MATLAB code,
      HRNet's ``MPIIDataset.evaluate`` and the LSP code of Chen & Yuille's ``eval_pose``; mmpose's
      ``keypoint_pck_accuracy`` uses ``<``, which differs only exactly on the threshold).
    - A joint's PCK is over the people where it is visible (NaN where it is visible nowhere). A mean pools
      the joints it covers: correct / visible. That is HRNet's and mmpose's "Mean" (per-joint PCKh weighted
      by each joint's visible count) and ``eval_pose``'s mean.
    - A group (Shoulder, Elbow, ...) is the plain average of its joints' PCK, e.g. 0.5 (left + right).

MPII PCKh (``evaluate_mpii``), as HRNet's ``MPIIDataset.evaluate`` on ``gt_valid.mat`` and mmpose's
``MpiiPCKAccuracy``:
    - the size is the head size, 0.6 × the diagonal of the annotated head box (``mpii_head_sizes``);
    - visible means annotated: ``1 - jnt_missing`` in ``gt_valid.mat``, ``joints_vis`` in mmpose's JSON;
    - PCKh@0.5 per joint and by group: Head (the head top alone), Shoulder, Elbow, Wrist, Hip, Knee, Ankle;
      "Mean" and "Mean@0.1" pool every joint but the pelvis (6) and the thorax (7);
    - "Mean@0.1" is at 0.1 exactly, as mmpose computes it. HRNet's code reads row 11 of its grid
      ``arange(0, 0.51, 0.01)``, so the "Mean@0.1" it prints is at 0.11.

LSP PCK@0.2 (``evaluate_lsp``), as ``eval_pose`` (``utils/eval_pck.m``, after Sapp & Taskar, CVPR 2013):
    - the size is the torso size, the distance between the left shoulder (9) and the right hip (2)
      (``lsp_torso_sizes``; the other diagonal and the mean of both are options);
    - "Head" averages the neck and the head top, the other groups left and right;
    - ``eval_pose`` scores all 14 joints (LSP's test annotations place occluded joints too); ``visible``
      restricts that, and the mean can be restricted to a subset (``LSP_LIMB_JOINTS``, the 12 limb joints).

COCO (``oks``, ``oks_nms``, ``evaluate_coco``), as pycocotools' ``COCOeval(iouType="keypoints")``:
    - OKS = mean over the ground truth's labelled joints (v > 0) of exp(-d² / (2 · (area + ε) · (2σ)²)),
      ``area`` the ground truth's segment area, σ the per-joint ``COCO_SIGMAS``, ε = ``np.spacing(1)``;
    - OKS-NMS, as HRNet's and mmpose's ``oks_nms``: keep the highest-scoring detection, drop the others whose
      OKS with it (all K joints, the mean of both areas) exceeds the threshold (0.9), repeat on the rest.
"""

import contextlib
import copy
import io
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from h3r._checks import check_shape
from h3r.data.pose.schemes import COCO_17, LSP_14, MPII_16

__all__ = [
    "COCO_SIGMAS",
    "LSP_JOINTS",
    "LSP_LIMB_JOINTS",
    "LSP_TORSO_DIAGONALS",
    "MPII_JOINTS",
    "coco_results",
    "evaluate_coco",
    "evaluate_lsp",
    "evaluate_mpii",
    "lsp_torso_sizes",
    "mean_pck",
    "mpii_head_sizes",
    "mpii_head_sizes_from_joints",
    "oks",
    "oks_nms",
    "pck",
]

MPII_JOINTS = MPII_16.joints
MPII_GROUPS = {"Head": (9,), "Shoulder": (12, 13), "Elbow": (11, 14), "Wrist": (10, 15), "Hip": (2, 3),
               "Knee": (1, 4), "Ankle": (0, 5)}  # fmt: skip
MPII_MEAN_JOINTS = tuple(k for k in range(16) if k not in (6, 7))  # all but the pelvis and the thorax
MPII_HEAD_SIZE_FACTOR = 0.6  # SC_BIAS of the MPII evaluation code

LSP_JOINTS = LSP_14.joints
LSP_GROUPS = {"Head": (12, 13), "Shoulder": (8, 9), "Elbow": (7, 10), "Wrist": (6, 11), "Hip": (2, 3),
              "Knee": (1, 4), "Ankle": (0, 5)}  # fmt: skip
LSP_LIMB_JOINTS = tuple(range(12))  # all but the neck and the head top
LSP_TORSO_DIAGONALS = {
    "left_shoulder-right_hip": ((9, 2),),  # eval_pose, Sapp & Taskar
    "right_shoulder-left_hip": ((8, 3),),
    "mean": ((9, 2), (8, 3)),
}

COCO_SIGMAS = np.array(COCO_17.sigmas)  # pycocotools' kpt_oks_sigmas
COCO_STATS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")  # COCOeval.stats order


def _array(name: str, value, pattern: str, dtype=np.float64) -> tuple[np.ndarray, dict[str, int]]:
    """``value`` as an array of ``dtype``, its shape checked against ``pattern`` (see ``check_shape``)."""
    array = np.asarray(value, dtype=dtype)
    return array, check_shape(name, torch.empty(array.shape, device="meta"), pattern)


def _visible(visible, shape: tuple[int, int]) -> np.ndarray:
    if visible is None:
        return np.ones(shape, dtype=bool)
    visible, _ = _array("visible", visible, f"{shape[0]} {shape[1]}", dtype=bool)
    return visible


def _check_people(bad: np.ndarray, problem: str) -> None:
    """Raise naming the first person flagged in ``bad``: (N,) bool, or (N, K) bool to name the joint too."""
    if bad.any():
        where = np.argwhere(bad)[0]
        joint = f", joint {where[1]}" if bad.ndim == 2 else ""
        raise ValueError(f"sample {where[0]}{joint}: {problem}")


def _threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold < math.inf:
        raise ValueError(f"threshold must be a positive number, got {threshold!r}")
    return float(threshold)


def _correct(pred, gt, sizes, threshold: float, visible, sizes_name: str) -> tuple[np.ndarray, np.ndarray]:
    """(correct, counted): (N, K) bool each; a joint is correct when counted and distance / size <= threshold."""
    threshold = _threshold(threshold)
    pred, shape = _array("pred", pred, "N K 2")
    gt, _ = _array("gt", gt, f"{shape['N']} {shape['K']} 2")
    sizes, _ = _array(sizes_name, sizes, f"{shape['N']}")
    counted = _visible(visible, gt.shape[:2])
    if not counted.any():
        raise ValueError("visible: no joint is visible, there is nothing to score")
    _check_people(~(sizes > 0) | ~np.isfinite(sizes), f"{sizes_name} must be positive and finite")
    _check_people(counted & ~np.isfinite(pred).all(-1), "pred is not finite at a visible joint")
    _check_people(counted & ~np.isfinite(gt).all(-1), "gt is not finite at a visible joint")
    distances = np.linalg.norm(np.where(counted[..., None], pred - gt, 0.0), axis=-1)  # (N, K) pixels
    return counted & (distances / sizes[:, None] <= threshold), counted


def _per_joint(correct: np.ndarray, counted: np.ndarray) -> np.ndarray:
    """(K,) fraction correct of each joint's counted occurrences; NaN for a joint never counted."""
    hits, counts = correct.sum(axis=0), counted.sum(axis=0)
    return np.divide(hits, counts, out=np.full(counts.shape, np.nan), where=counts > 0)


def _pooled(correct: np.ndarray, counted: np.ndarray, joints: Sequence[int] | None) -> float:
    """Correct / counted over ``joints`` (default all), pooled across people."""
    if joints is not None:
        joints = list(joints)
        if not joints or not all(isinstance(k, (int, np.integer)) and 0 <= k < correct.shape[1] for k in joints):
            raise ValueError(f"joints must be a non-empty list of indices below {correct.shape[1]}, got {joints}")
        correct, counted = correct[:, joints], counted[:, joints]
    if not counted.any():
        raise ValueError(f"visible: none of the joints {joints} is visible, there is nothing to score")
    return float(correct.sum() / counted.sum())


def pck(pred, gt, sizes, threshold: float, visible=None) -> np.ndarray:
    """Per-joint PCK: the fraction of each joint's visible occurrences within ``threshold`` × the person's size.

    Args:
        pred: (N, K, 2) predictions, pixels.
        gt: (N, K, 2) ground truth, pixels; may be NaN where not visible.
        sizes: (N,) each person's normalising size (head size, torso size), pixels.
        threshold: fraction of the size, e.g. 0.5 for PCKh@0.5; the boundary counts as correct.
        visible: (N, K) bool, joints to score; default all.

    Returns:
        (K,) float64 fractions; NaN for a joint visible nowhere.

    Raises:
        ValueError: bad shapes or threshold, a size that is not positive, nothing visible, or a non-finite
            point at a visible joint, naming the sample and joint.

    Examples:
        >>> gt = np.zeros((2, 2, 2)); pred = gt + [[[3.0, 4.0]], [[6.0, 8.0]]]  # 5 and 10 pixels off
        >>> pck(pred, gt, sizes=np.array([10.0, 10.0]), threshold=0.5)
        array([0.5, 0.5])
    """
    return _per_joint(*_correct(pred, gt, sizes, threshold, visible, "sizes"))


def mean_pck(pred, gt, sizes, threshold: float, visible=None, joints: Sequence[int] | None = None) -> float:
    """PCK pooled over ``joints`` (default all): correct visible joints / visible joints.

    Arguments as ``pck``; ``joints`` are joint indices, e.g. ``LSP_LIMB_JOINTS``.

    Examples:
        >>> gt = np.zeros((1, 3, 2)); pred = gt + [[[0.0, 1.0], [0.0, 9.0], [0.0, 1.0]]]
        >>> mean_pck(pred, gt, np.array([10.0]), 0.5), mean_pck(pred, gt, np.array([10.0]), 0.5, joints=[0, 2])
        (0.6666666666666666, 1.0)
    """
    return _pooled(*_correct(pred, gt, sizes, threshold, visible, "sizes"), joints)


def _report(correct, counted, names, groups, mean_joints) -> dict:
    """Group averages of the per-joint PCK, the pooled "Mean" over ``mean_joints`` and the per-joint PCK by name."""
    per_joint = _per_joint(correct, counted)
    report = {name: float(np.mean(per_joint[list(joints)])) for name, joints in groups.items()}
    return report | {"Mean": _pooled(correct, counted, mean_joints), "per_joint": dict(zip(names, per_joint.tolist()))}


def mpii_head_sizes(head_boxes) -> np.ndarray:
    """MPII head sizes: 0.6 × the diagonal of each annotated head box, as the MPII evaluation computes them.

    Args:
        head_boxes: (N, 2, 2) head boxes, corners ``[[x1, y1], [x2, y2]]``, pixels (``gt_valid.mat``'s
            ``headboxes_src``, (2, 2, N), transposed by ``[2, 0, 1]``).

    Returns:
        (N,) float64, pixels.

    Raises:
        ValueError: a bad shape, or a size that is zero or not finite, naming the sample.

    Examples:
        >>> mpii_head_sizes(np.array([[[10.0, 20.0], [40.0, 60.0]]]))
        array([30.])
    """
    boxes, _ = _array("head_boxes", head_boxes, "N 2 2")
    sizes = MPII_HEAD_SIZE_FACTOR * np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=-1)
    _check_people(~(sizes > 0) | ~np.isfinite(sizes), "head_boxes gives a head size that is zero or not finite")
    return sizes


def mpii_head_sizes_from_joints(gt, visible=None) -> np.ndarray:
    """An approximate MPII head size from the joints: the distance from the upper neck (8) to the head top (9).

    This is the head segment length of the PCKh definition (Andriluka et al., CVPR 2014), for annotations
    without head boxes (mmpose's JSON). The benchmark's evaluation uses ``mpii_head_sizes`` (0.6 × the head
    box diagonal) instead, so PCKh with these sizes is not comparable with published MPII numbers.

    Args:
        gt: (N, 16, 2) ground truth, MPII joint order, pixels.
        visible: (N, 16) bool; both joints must be visible. Default all.

    Returns:
        (N,) float64, pixels.

    Raises:
        ValueError: a bad shape, an invisible upper neck or head top, or a zero or non-finite size, naming
            the sample.

    Examples:
        >>> gt = np.zeros((1, 16, 2)); gt[0, 9] = (3.0, -4.0)
        >>> mpii_head_sizes_from_joints(gt)
        array([5.])
    """
    gt, _ = _array("gt", gt, "N 16 2")
    counted = _visible(visible, gt.shape[:2])
    _check_people(~counted[:, [8, 9]].all(axis=1), "the upper neck (8) or the head top (9) is not visible")
    sizes = np.linalg.norm(gt[:, 9] - gt[:, 8], axis=-1)
    _check_people(~(sizes > 0) | ~np.isfinite(sizes), "the head size from the joints is zero or not finite")
    return sizes


def evaluate_mpii(pred, gt, visible, head_sizes) -> dict:
    """The MPII benchmark's PCKh summary (see the module docstring for what it follows).

    Args:
        pred: (N, 16, 2) predictions, MPII joint order (``MPII_JOINTS``), pixels, in the frame of ``gt``.
        gt: (N, 16, 2) ground truth, pixels; may be NaN where not visible.
        visible: (N, 16) bool, annotated joints.
        head_sizes: (N,) pixels, from ``mpii_head_sizes`` (or, not comparable, ``mpii_head_sizes_from_joints``).

    Returns:
        ``{"n", "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "per_joint", "Mean@0.1",
        "per_joint@0.1"}``: PCKh@0.5 fractions by group, the pooled means at 0.5 and 0.1 (without pelvis and
        thorax), and ``"per_joint"`` / ``"per_joint@0.1"`` mapping each of the 16 joint names to its PCKh.

    Raises:
        ValueError: as ``pck``, naming ``head_sizes`` for a bad size.

    Examples:
        >>> gt = np.zeros((1, 16, 2)); pred = gt.copy(); pred[0, :8] = (0.0, 4.0)  # 4 pixels off, head size 10
        >>> report = evaluate_mpii(pred, gt, np.ones((1, 16), bool), head_sizes=[10.0])
        >>> report["Ankle"], report["Head"], report["Mean"], report["Mean@0.1"]
        (1.0, 1.0, 1.0, 0.5714285714285714)
    """
    pred, _ = _array("pred", pred, "N 16 2")
    correct, counted = _correct(pred, gt, head_sizes, 0.5, visible, "head_sizes")
    report = {"n": len(pred)} | _report(correct, counted, MPII_JOINTS, MPII_GROUPS, MPII_MEAN_JOINTS)
    correct, counted = _correct(pred, gt, head_sizes, 0.1, visible, "head_sizes")
    report["Mean@0.1"] = _pooled(correct, counted, MPII_MEAN_JOINTS)
    report["per_joint@0.1"] = dict(zip(MPII_JOINTS, _per_joint(correct, counted).tolist()))
    return report


def lsp_torso_sizes(gt, visible=None, diagonal: str = "left_shoulder-right_hip") -> np.ndarray:
    """LSP torso sizes: the length of a torso diagonal (``LSP_TORSO_DIAGONALS``), or the mean of both.

    Args:
        gt: (N, 14, 2) ground truth, LSP joint order (``LSP_JOINTS``), pixels.
        visible: (N, 14) bool; the diagonal's joints must be visible. Default all.
        diagonal: ``"left_shoulder-right_hip"`` (joints 9 and 2, as ``eval_pose``), ``"right_shoulder-left_hip"``
            (8 and 3) or ``"mean"`` of both.

    Returns:
        (N,) float64, pixels.

    Raises:
        ValueError: a bad shape or diagonal, an invisible torso joint (leave such people out, or give sizes
            of your own), or a zero or non-finite size, naming the sample.

    Examples:
        >>> gt = np.zeros((1, 14, 2)); gt[0, 9] = (3.0, 4.0); gt[0, 8] = (6.0, 8.0)
        >>> lsp_torso_sizes(gt), lsp_torso_sizes(gt, diagonal="mean")
        (array([5.]), array([7.5]))
    """
    if diagonal not in LSP_TORSO_DIAGONALS:
        raise ValueError(f"diagonal must be one of {', '.join(LSP_TORSO_DIAGONALS)}, got {diagonal!r}")
    gt, _ = _array("gt", gt, "N 14 2")
    counted = _visible(visible, gt.shape[:2])
    pairs = LSP_TORSO_DIAGONALS[diagonal]
    joints = sorted({k for pair in pairs for k in pair})
    _check_people(~counted[:, joints].all(axis=1), f"a torso joint ({', '.join(LSP_JOINTS[k] for k in joints)}) is "
                  "not visible: leave the sample out or give torso sizes of your own")  # fmt: skip
    sizes = np.mean([np.linalg.norm(gt[:, a] - gt[:, b], axis=-1) for a, b in pairs], axis=0)
    _check_people(~(sizes > 0) | ~np.isfinite(sizes), "the torso size is zero or not finite")
    return sizes


def evaluate_lsp(
    pred, gt, visible=None, torso_sizes=None, threshold: float = 0.2, joints: Sequence[int] | None = None
) -> dict:
    """PCK@0.2 of the torso on LSP (see the module docstring for what it follows).

    Args:
        pred: (N, 14, 2) predictions, LSP joint order (``LSP_JOINTS``), pixels, in the frame of ``gt``.
        gt: (N, 14, 2) ground truth, pixels; may be NaN where not visible.
        visible: (N, 14) bool, joints to score; default all (as ``eval_pose``).
        torso_sizes: (N,) pixels; default ``lsp_torso_sizes(gt, visible)``.
        threshold: fraction of the torso size.
        joints: the joints the "Mean" pools, e.g. ``LSP_LIMB_JOINTS``; default all 14. Per-joint and group
            values do not depend on it.

    Returns:
        ``{"n", "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Mean", "per_joint"}``:
        fractions; ``"per_joint"`` maps each of the 14 joint names to its PCK.

    Raises:
        ValueError: as ``pck`` and ``lsp_torso_sizes``.

    Examples:
        >>> gt = np.zeros((1, 14, 2)); gt[0, 9] = (0.0, 10.0); pred = gt.copy(); pred[0, 13] += (0.0, 3.0)
        >>> report = evaluate_lsp(pred, gt)  # torso size 10: the head top is 0.3 off
        >>> report["Head"], report["Mean"], evaluate_lsp(pred, gt, joints=LSP_LIMB_JOINTS)["Mean"]
        (0.5, 0.9285714285714286, 1.0)
    """
    if torso_sizes is None:
        torso_sizes = lsp_torso_sizes(gt, visible)
    pred, _ = _array("pred", pred, "N 14 2")
    correct, counted = _correct(pred, gt, torso_sizes, threshold, visible, "torso_sizes")
    return {"n": len(pred)} | _report(correct, counted, LSP_JOINTS, LSP_GROUPS, joints)


def _sigmas(sigmas, joints: int) -> np.ndarray:
    sigmas, _ = _array("sigmas", sigmas, f"{joints}")
    if not (np.isfinite(sigmas) & (sigmas > 0)).all():
        raise ValueError(f"sigmas must be positive and finite, got {sigmas}")
    return sigmas


def oks(pred, gt, visible, area, sigmas=COCO_SIGMAS) -> np.ndarray:
    """Object keypoint similarity of each prediction with its ground truth, as pycocotools' ``computeOks``.

    OKS = mean over visible joints of exp(-d² / (2 · (area + ε) · (2σ)²)), ε = ``np.spacing(1)``.

    Args:
        pred: (N, K, 2) predictions, pixels.
        gt: (N, K, 2) ground truth, pixels; may be NaN where not visible.
        visible: (N, K) bool, the ground truth's labelled joints (COCO v > 0).
        area: (N,) the ground truth's segment area (COCO ``area``), pixels².
        sigmas: (K,) per-joint constants; default ``COCO_SIGMAS`` (17 joints).

    Returns:
        (N,) float64 in [0, 1].

    Raises:
        ValueError: bad shapes, a person with no visible joint (COCOeval ignores such people; its box rule
            is not implemented here), a non-positive area or sigma, or a non-finite visible point, naming
            the sample.

    Examples:
        >>> gt = np.zeros((1, 17, 2)); pred = gt.copy(); pred[0, 0] = (np.sqrt(2 * 100 * 0.052**2), 0)
        >>> oks(pred, gt, np.ones((1, 17), bool), area=[100.0]).round(6)  # joint 0 at exp(-1), 16 at 1
        array([0.962816])
    """
    pred, shape = _array("pred", pred, "N K 2")
    gt, _ = _array("gt", gt, f"{shape['N']} {shape['K']} 2")
    counted = _visible(visible, gt.shape[:2])
    area, _ = _array("area", area, f"{shape['N']}")
    sigmas = _sigmas(sigmas, shape["K"])
    _check_people(~counted.any(axis=1), "visible: no joint is visible (COCOeval ignores such people)")
    _check_people(~(area > 0) | ~np.isfinite(area), "area must be positive and finite")
    _check_people(counted & ~np.isfinite(pred).all(-1), "pred is not finite at a visible joint")
    _check_people(counted & ~np.isfinite(gt).all(-1), "gt is not finite at a visible joint")
    squared = np.where(counted, ((pred - gt) ** 2).sum(-1), 0.0)  # (N, K) pixels²
    similarity = np.exp(-squared / (2 * (area[:, None] + np.spacing(1)) * (2 * sigmas) ** 2))
    return np.where(counted, similarity, 0.0).sum(axis=1) / counted.sum(axis=1)


def oks_nms(keypoints, scores, areas, sigmas=COCO_SIGMAS, threshold: float = 0.9) -> np.ndarray:
    """Greedy OKS non-maximum suppression over the detections of one image (HRNet's and mmpose's ``oks_nms``).

    Takes the best-scoring detection, drops every other whose OKS with it exceeds ``threshold`` (all K
    joints, area the mean of both detections' areas), and repeats on what is left. Equal scores keep their
    input order.

    Args:
        keypoints: (D, K, 2) detected poses, pixels.
        scores: (D,) detection scores.
        areas: (D,) detection areas, pixels² (e.g. the box area).
        sigmas: (K,) per-joint constants; default ``COCO_SIGMAS``.
        threshold: OKS above which a detection is a duplicate; 0.9 in HRNet and mmpose.

    Returns:
        (M,) int64 indices of the kept detections, best score first.

    Raises:
        ValueError: bad shapes or threshold, non-finite keypoints or scores, or a non-positive area,
            naming the detection.

    Examples:
        >>> pose = np.random.default_rng(0).uniform(0, 100, (17, 2))
        >>> oks_nms(np.stack([pose, pose + 0.5, pose + 30]), [0.8, 0.9, 0.7], [5000.0] * 3)
        array([1, 2])
    """
    threshold = _threshold(threshold)
    keypoints, shape = _array("keypoints", keypoints, "D K 2")
    scores, _ = _array("scores", scores, f"{shape['D']}")
    areas, _ = _array("areas", areas, f"{shape['D']}")
    _check_people(~np.isfinite(keypoints).all(-1), "keypoints are not finite")
    _check_people(~np.isfinite(scores), "scores are not finite")
    _check_people(~(areas > 0) | ~np.isfinite(areas), "areas must be positive and finite")
    sigmas = _sigmas(sigmas, shape["K"])
    order = np.argsort(-scores, kind="stable")  # (D,) best first
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        if rest.size:
            others = keypoints[rest]  # (R, K, 2)
            everywhere = np.ones(others.shape[:2], bool)
            overlap = oks(others, np.broadcast_to(keypoints[best], others.shape), everywhere,
                          (areas[best] + areas[rest]) / 2, sigmas)  # fmt: skip
            rest = rest[overlap <= threshold]
        order = rest
    return np.array(kept, dtype=np.int64)


def coco_results(image_ids, keypoints, keypoint_scores, scores, category_id: int = 1) -> list[dict]:
    """COCO keypoint results, one dict per detection, ready for ``evaluate_coco`` or ``json.dump``.

    Args:
        image_ids: (D,) COCO image ids.
        keypoints: (D, K, 2) detected poses, pixels, in the annotation file's frame.
        keypoint_scores: (D, K) per-joint confidences (written as the third number of each joint; COCOeval
            ignores them).
        scores: (D,) person scores (COCOeval ranks detections by them).
        category_id: the person category.

    Returns:
        ``[{"image_id", "category_id", "keypoints": [x, y, score] * K, "score"}, ...]``, plain Python numbers.

    Examples:
        >>> coco_results([785], np.array([[[1.0, 2.0]]]), np.array([[0.5]]), np.array([0.9]))
        [{'image_id': 785, 'category_id': 1, 'keypoints': [1.0, 2.0, 0.5], 'score': 0.9}]
    """
    keypoints, shape = _array("keypoints", keypoints, "D K 2")
    keypoint_scores, _ = _array("keypoint_scores", keypoint_scores, f"{shape['D']} {shape['K']}")
    scores, _ = _array("scores", scores, f"{shape['D']}")
    image_ids, _ = _array("image_ids", image_ids, f"{shape['D']}", dtype=np.int64)
    flat = np.concatenate([keypoints, keypoint_scores[..., None]], axis=-1).reshape(shape["D"], -1)
    return [
        {"image_id": int(image), "category_id": int(category_id), "keypoints": row.tolist(), "score": float(score)}
        for image, row, score in zip(image_ids, flat, scores)
    ]


def _check_results(results: Sequence[Mapping], dataset: dict, joints: int) -> None:
    if isinstance(results, (str, bytes, Mapping)) or not isinstance(results, Sequence) or not results:
        raise ValueError("results must be a non-empty list of result dicts (COCOeval cannot score no detection)")
    image_ids = {image["id"] for image in dataset["images"]}
    category_ids = {category["id"] for category in dataset["categories"]}
    for index, result in enumerate(results):
        missing = {"image_id", "category_id", "keypoints", "score"} - set(result)
        if missing:
            raise ValueError(f"results[{index}] lacks {', '.join(sorted(missing))}")
        if result["image_id"] not in image_ids:
            raise ValueError(f"results[{index}]: image_id {result['image_id']!r} is not in the annotations")
        if result["category_id"] not in category_ids:
            raise ValueError(f"results[{index}]: category_id {result['category_id']!r} is not in the annotations")
        values = np.asarray(result["keypoints"], dtype=np.float64)
        if values.shape != (3 * joints,) or not np.isfinite(values).all():
            raise ValueError(f"results[{index}]: keypoints must be {3 * joints} finite numbers [x, y, score] * "
                             f"{joints}, got shape {values.shape}")  # fmt: skip
        if not math.isfinite(result["score"]):
            raise ValueError(f"results[{index}]: score must be finite, got {result['score']!r}")


def evaluate_coco(annotations, results: Sequence[Mapping], sigmas=None) -> dict[str, float]:
    """COCO keypoint AP and AR through pycocotools' ``COCOeval(iouType="keypoints")``; its printing is captured.

    Standard settings: OKS thresholds 0.50:0.05:0.95, at most 20 detections per image (the best-scoring),
    areas all / medium (32²-96²) / large (> 96²); ground-truth people without labelled joints are ignored.
    Every image of the annotations is evaluated, with or without results. Run ``oks_nms`` per image first
    when a person may have several detections.

    Args:
        annotations: a COCO keypoint annotation file (path) or its loaded dict (not modified).
        results: ``[{"image_id", "category_id", "keypoints": [x, y, score] * K, "score"}, ...]`` (see
            ``coco_results``), coordinates in the annotation file's frame; not modified.
        sigmas: (K,) per-joint OKS constants; default pycocotools' (``COCO_SIGMAS``, 17 joints).

    Returns:
        ``{"AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"}`` fractions; NaN where
        COCOeval has no ground truth to score (it prints -1 there).

    Raises:
        ValueError: no results, or a result without a known image or category, with the wrong number of
            keypoints, or with a non-finite value, naming its index.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if isinstance(annotations, Mapping):
        dataset = copy.deepcopy(dict(annotations))
    else:
        dataset = json.loads(Path(annotations).read_text())
    joints = len(dataset["categories"][0]["keypoints"])
    sigmas = _sigmas(COCO_SIGMAS if sigmas is None else sigmas, joints)
    _check_results(results, dataset, joints)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        evaluator = COCOeval(truth, truth.loadRes(copy.deepcopy(list(results))), iouType="keypoints")
        evaluator.params.kpt_oks_sigmas = sigmas
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {name: float(value) if value >= 0 else math.nan for name, value in zip(COCO_STATS, evaluator.stats)}
