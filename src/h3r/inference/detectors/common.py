"""What the face detectors share: box overlaps, non-maximum suppression, ordering, the image check and
the import of an optional library.

A box is a row (x1, y1, x2, y2, score) in image pixels with the top-left pixel centred on (0, 0), as in
``h3r.inference.face_detection``; rows may carry more columns after the score (a detector's own extras),
which these helpers keep with their row.
"""

import importlib
from types import ModuleType

import numpy as np

__all__ = ["box_overlaps", "by_score", "check_image", "nms", "require", "weighted_nms"]


def box_overlaps(a: np.ndarray, b: np.ndarray, over: str = "union") -> np.ndarray:
    """Pairwise overlaps of boxes (N, ≥4) and (M, ≥4) → (N, M) float64.

    ``over="union"`` gives the intersection over union; ``over="min"`` the intersection over the smaller
    area, which is 1 for a box inside another (MTCNN's last suppression uses it).

    Examples:
        >>> box_overlaps(np.array([[0.0, 0, 4, 4]]), np.array([[2.0, 0, 6, 4], [1.0, 1, 3, 3]])).round(3).tolist()
        [[0.333, 0.25]]
        >>> box_overlaps(np.array([[0.0, 0, 4, 4]]), np.array([[1.0, 1, 3, 3]]), over="min").tolist()
        [[1.0]]
    """
    if over not in ("union", "min"):
        raise ValueError(f"over must be 'union' or 'min', got {over!r}")
    a, b = np.asarray(a, dtype=np.float64)[:, None, :4], np.asarray(b, dtype=np.float64)[None, :, :4]
    size = np.clip(np.minimum(a[..., 2:4], b[..., 2:4]) - np.maximum(a[..., 0:2], b[..., 0:2]), 0, None)
    inter = size[..., 0] * size[..., 1]
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    denominator = area_a + area_b - inter if over == "union" else np.minimum(area_a, area_b)
    return np.divide(inter, denominator, out=np.zeros_like(inter), where=denominator > 0)


def nms(boxes: np.ndarray, threshold: float, over: str = "union") -> np.ndarray:
    """Indexes of the boxes that greedy non-maximum suppression keeps, best score first.

    Each box, best score first, is kept unless it overlaps an already kept box by more than
    ``threshold`` (``box_overlaps(..., over)``).

    Examples:
        >>> nms(np.array([[0.0, 0, 4, 4, 0.5], [0.0, 0, 4, 5, 0.9], [9.0, 9, 12, 12, 0.7]]), 0.5).tolist()
        [1, 2]
    """
    order = np.argsort(-boxes[:, 4], kind="stable")
    kept = []
    while order.size:
        kept.append(order[0])
        order = order[1:][box_overlaps(boxes[order[:1]], boxes[order[1:]], over)[0] <= threshold]
    return np.array(kept, dtype=np.int64)


def weighted_nms(boxes: np.ndarray, threshold: float) -> np.ndarray:
    """MediaPipe's weighted non-maximum suppression: (N, C) rows → (F, C) merged rows, best score first.

    The best remaining box and every remaining box that overlaps it by IoU > ``threshold`` (itself
    included) become one row: their score-weighted mean in every column but the score, which is the
    best box's.

    Examples:
        >>> weighted_nms(np.array([[0.0, 0, 4, 4, 0.75], [2.0, 0, 6, 4, 0.25], [9.0, 9, 12, 12, 0.5]]), 0.3).tolist()
        [[0.5, 0.0, 4.5, 4.0, 0.75], [9.0, 9.0, 12.0, 12.0, 0.5]]
    """
    remaining = np.asarray(boxes, dtype=np.float64)[np.argsort(-boxes[:, 4], kind="stable")]
    merged = []
    while len(remaining):
        group = box_overlaps(remaining[:1], remaining)[0] > threshold
        group[0] = True  # a degenerate best box still stands for itself
        weights = remaining[group, 4:5]
        row = (remaining[group] * weights).sum(axis=0) / weights.sum()
        row[4] = remaining[0, 4]
        merged.append(row)
        remaining = remaining[~group]
    return np.array(merged, dtype=np.float64).reshape(-1, boxes.shape[1])


def by_score(boxes: np.ndarray) -> np.ndarray:
    """(F, C) rows sorted by score, best first, then by area, largest first."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return boxes[np.lexsort((-area, -boxes[:, 4]))]


def check_image(image: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``image`` is a non-empty (H, W, 3) uint8 numpy array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array (H, W, 3) uint8 RGB, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) (RGB), got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must have dtype uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")


def require(module: str, package: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise an ``ImportError`` saying which pip package provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the Python module {module!r}: pip install '{package}'") from error
