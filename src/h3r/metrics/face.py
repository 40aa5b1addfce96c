"""Face landmark metrics: normalised mean error (NME), failure rate (FR) and area under the CED curve (AUC).

Points are (x, y) in image pixels (any frame, as long as predictions and ground truth share it). NME,
FR and AUC are fractions (0.035, not 3.5 %). Symbols: N faces, K landmarks.

Definitions:
    - NME of a face: the mean, over its visible landmarks, of the point-to-point distance between
      prediction and ground truth, divided by the face's normalising distance (computed from the
      ground truth).
    - FR@t: the fraction of faces with NME > t.
    - CED(x): the fraction of faces with NME ≤ x, a step function.
    - AUC@t: (1/t) ∫₀ᵗ CED(x) dx, integrated exactly: a face with NME e contributes max(0, t − e), so
      AUC@t = mean(max(0, t − e)) / t. Codes that sum the CED on a grid (e.g. step 1e-4) approximate
      this; they agree to about the grid step over t.
"""

import warnings
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
import torch

from h3r._checks import check_shape
from h3r.data.datasets.schemes import LandmarkScheme
from h3r.utils.io import atomic_path

__all__ = ["auc", "evaluate_faces", "failure_rate", "nme", "normalizing_distance", "plot_ced"]


def _array(name: str, value, pattern: str, dtype=np.float64) -> tuple[np.ndarray, dict[str, int]]:
    """``value`` as an array of ``dtype``, its shape checked against ``pattern`` (see ``check_shape``)."""
    array = np.asarray(value, dtype=dtype)
    return array, check_shape(name, torch.empty(array.shape, device="meta"), pattern)


def normalizing_distance(
    keypoints, scheme: LandmarkScheme, kind: str | None = None, boxes=None, visible=None
) -> np.ndarray:
    """Each face's NME normaliser, in pixels.

    Args:
        keypoints: (N, K, 2) ground-truth landmarks, (x, y) pixels.
        scheme: the landmark scheme.
        kind: ``"inter-ocular"`` or ``"inter-pupil"`` (distance between the centroids of the scheme's
            two ``eye_points`` groups), ``"box"`` (sqrt(w · h) of ``boxes``) or ``"landmark-box"``
            (sqrt(w · h) of the bounding box of the visible landmarks); default ``scheme.normalizer``.
        boxes: (N, 4) face boxes (x1, y1, x2, y2), pixels; needed for ``"box"``.
        visible: (N, K) bool, landmarks to use for ``"landmark-box"``; default all.

    Returns:
        (N,) float64, pixels.

    Raises:
        ValueError: a bad shape or kind, or a distance that is zero or not finite, naming the sample.

    Examples:
        >>> from h3r.data.datasets import get_scheme
        >>> points = np.zeros((1, 68, 2)); points[0, 45] = (3.0, 4.0)
        >>> normalizing_distance(points, get_scheme("300w-68"))
        array([5.])
    """
    kind = scheme.normalizer if kind is None else kind
    keypoints, sizes = _array("keypoints", keypoints, f"N {scheme.num_landmarks} 2")
    if kind in scheme.eye_points:
        first, second = scheme.eye_points[kind]
        distance = np.linalg.norm(keypoints[:, list(first)].mean(1) - keypoints[:, list(second)].mean(1), axis=-1)
    elif kind == "box":
        if boxes is None:
            raise ValueError(f"the {scheme.name} NME is normalised by the face box: give boxes (N, 4)")
        boxes, _ = _array("boxes", boxes, f"{sizes['N']} 4")
        distance = _sqrt_area(boxes[:, 2:] - boxes[:, :2])
    elif kind == "landmark-box":
        mask = _visible(visible, keypoints.shape[:2])
        inside = np.where(mask[..., None], keypoints, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a face with no visible landmark: NaN, raised below
            distance = _sqrt_area(np.nanmax(inside, axis=1) - np.nanmin(inside, axis=1))
    else:
        known = ", ".join([*scheme.eye_points, "box", "landmark-box"])
        raise ValueError(f"kind must be one of {known} for {scheme.name}, got {kind!r}")
    bad = np.flatnonzero(~(distance > 0) | ~np.isfinite(distance))
    if bad.size:
        raise ValueError(f"{kind} normalizing distance of sample {bad[0]} is {distance[bad[0]]} (must be positive)")
    return distance


def _sqrt_area(extent: np.ndarray) -> np.ndarray:
    """sqrt(w · h) of (N, 2) extents (w, h); NaN for a negative side."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.where((extent >= 0).all(axis=1), extent.prod(axis=1), np.nan))


def _visible(visible, shape: tuple[int, int]) -> np.ndarray:
    if visible is None:
        return np.ones(shape, dtype=bool)
    visible, _ = _array("visible", visible, f"{shape[0]} {shape[1]}", dtype=bool)
    return visible


def nme(pred, gt, norm, visible=None) -> np.ndarray:
    """Per-face normalised mean error.

    Args:
        pred: (N, K, 2) predicted landmarks, pixels.
        gt: (N, K, 2) ground truth, pixels; may be NaN where not visible.
        norm: (N,) normalising distances, pixels (see ``normalizing_distance``).
        visible: (N, K) bool; invisible landmarks are left out of the mean. Default all.

    Returns:
        (N,) float64 fractions of ``norm``.

    Raises:
        ValueError: bad shapes, a non-positive ``norm``, a face without visible landmarks, or a
            non-finite value at a visible landmark, naming the sample.

    Examples:
        >>> nme(np.zeros((1, 2, 2)), np.array([[[3.0, 4.0], [0.0, 0.0]]]), np.array([10.0]))
        array([0.25])
    """
    pred, sizes = _array("pred", pred, "N K 2")
    gt, _ = _array("gt", gt, f"{sizes['N']} {sizes['K']} 2")
    norm, _ = _array("norm", norm, f"{sizes['N']}")
    mask = _visible(visible, gt.shape[:2])
    _check_faces(~(norm > 0) | ~np.isfinite(norm), "norm must be positive and finite")
    _check_faces(~mask.any(axis=1), "no visible landmark")
    _check_faces((mask & ~np.isfinite(pred).all(-1)).any(axis=1), "pred is not finite at a visible landmark")
    _check_faces((mask & ~np.isfinite(gt).all(-1)).any(axis=1), "gt is not finite at a visible landmark")
    errors = np.linalg.norm(np.where(mask[..., None], pred - gt, 0.0), axis=-1)
    return errors.sum(axis=1) / mask.sum(axis=1) / norm


def _check_faces(bad: np.ndarray, problem: str) -> None:
    """Raise naming the first face flagged in ``bad``, (N,) bool."""
    if bad.any():
        raise ValueError(f"sample {int(np.flatnonzero(bad)[0])}: {problem}")


def _errors(value) -> np.ndarray:
    errors, _ = _array("nme", value, "N")
    if not np.isfinite(errors).all() or (errors < 0).any():
        bad = errors[~(errors >= 0) | ~np.isfinite(errors)]
        raise ValueError(f"nme must be finite and non-negative, got {bad[:5]}")
    return errors


def failure_rate(nme, threshold: float = 0.1) -> float:
    """Fraction of faces whose NME exceeds ``threshold``; ``nme`` is (N,).

    Examples:
        >>> failure_rate(np.array([0.05, 0.1, 0.2]))
        0.3333333333333333
    """
    errors = _errors(nme)
    return float((errors > threshold).mean()) if errors.size else float("nan")


def auc(nme, threshold: float = 0.1) -> float:
    """Area under the CED curve up to ``threshold``, over ``threshold``: in [0, 1], 1 for no error.

    Exact integral of the step function CED (see the module docstring): mean(max(0, t − e)) / t.

    Examples:
        >>> auc(np.array([0.0, 0.25, 1.0]), threshold=0.5)
        0.5
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}")
    errors = _errors(nme)
    return float(np.maximum(threshold - errors, 0.0).mean() / threshold) if errors.size else float("nan")


def _key(threshold: float) -> str:
    """``0.1`` → ``"0.10"``; more digits where two decimals would not be exact."""
    return f"{threshold:.2f}" if abs(threshold * 100 - round(threshold * 100)) < 1e-9 else f"{threshold:g}"


def _summary(errors: np.ndarray, extra: dict[str, np.ndarray], thresholds: Sequence[float]) -> dict[str, float]:
    summary = {"n": int(errors.size), "nme": float(errors.mean()) if errors.size else float("nan")}
    summary |= {f"nme_{kind.replace('-', '_')}": float(value.mean()) for kind, value in extra.items()}
    summary |= {f"fr@{_key(t)}": failure_rate(errors, t) for t in thresholds}
    summary |= {f"auc@{_key(t)}": auc(errors, t) for t in thresholds}
    return summary


def evaluate_faces(
    pred,
    gt,
    scheme: LandmarkScheme,
    visible=None,
    boxes=None,
    subsets: Sequence[Collection[str]] | None = None,
    thresholds: Sequence[float] = (0.08, 0.10),
) -> dict:
    """NME, FR and AUC of a test set, overall and per subset.

    Args:
        pred: (N, K, 2) predictions, pixels.
        gt: (N, K, 2) ground truth, pixels.
        scheme: the landmark scheme; its ``normalizer`` gives ``"nme"``, FR and AUC, and its other
            normalisers give ``"nme_<kind>"`` (e.g. 300-W's ``"nme_inter_pupil"``).
        visible: (N, K) bool, landmarks to score; default all.
        boxes: (N, 4) face boxes (x1, y1, x2, y2), needed by box-normalised schemes (AFLW).
        subsets: per face, the subset tags it belongs to (``FaceSample.subsets``).
        thresholds: FR and AUC thresholds.

    Returns:
        ``{"n", "nme", ["nme_<kind>", ...], "fr@0.08", "fr@0.10", "auc@0.08", "auc@0.10", "subsets"}``,
        where ``"subsets"`` maps each tag to the same keys (without ``"subsets"``), tags sorted.
    """
    pred, sizes = _array("pred", pred, f"N {scheme.num_landmarks} 2")
    mask = _visible(visible, (sizes["N"], scheme.num_landmarks))
    by_kind = {
        kind: nme(pred, gt, normalizing_distance(gt, scheme, kind, boxes, mask), mask) for kind in scheme.normalizers
    }
    errors = by_kind.pop(scheme.normalizer)
    report = _summary(errors, by_kind, thresholds)
    tags = [frozenset()] * len(errors) if subsets is None else list(subsets)
    if len(tags) != len(errors):
        raise ValueError(f"subsets must give the tags of each of the {len(errors)} faces, got {len(tags)}")
    report["subsets"] = {}
    for tag in sorted(set().union(*tags)):
        members = np.array([tag in face for face in tags])
        extra = {kind: value[members] for kind, value in by_kind.items()}
        report["subsets"][tag] = _summary(errors[members], extra, thresholds)
    return report


def plot_ced(nme_by_name: dict[str, np.ndarray], path, threshold: float = 0.1) -> Path:
    """Save the CED curves of several methods (or subsets) up to ``threshold``, AUC in the legend.

    Args:
        nme_by_name: label → (N,) per-face NME.
        path: image file to write (format from the suffix, e.g. ``.png``, ``.pdf``).
        threshold: the right end of the x axis and the AUC's upper limit.

    Returns:
        ``path`` as a ``Path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, value in nme_by_name.items():
        errors = np.sort(_errors(value))
        fractions = np.arange(1, errors.size + 1) / errors.size
        shown = errors <= threshold
        axes.step(
            np.concatenate([[0.0], errors[shown], [threshold]]),
            np.concatenate([[0.0], fractions[shown], [fractions[shown][-1] if shown.any() else 0.0]]),
            where="post",
            label=f"{name} (AUC@{_key(threshold)} = {auc(errors, threshold):.4f})",
        )
    axes.set(xlim=(0, threshold), ylim=(0, 1), xlabel="NME (fraction of the normalising distance)")
    axes.set_ylabel("fraction of faces (CED)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    path = Path(path)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120, bbox_inches="tight")
    return path
