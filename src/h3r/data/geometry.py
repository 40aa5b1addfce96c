"""Affine maps between pixel frames, as 3×3 float64 matrices acting on (x, y) points.

Convention:
    Points are (x, y); sizes are (H, W). The centre of the top-left pixel is (0, 0), so an image of
    (H, W) pixels spans [-0.5, W - 0.5] × [-0.5, H - 0.5] ("edge coordinates" are the same frame, used
    for extents rather than pixel centres). A matrix ``M`` maps the point ``p`` to ``M @ (x, y, 1)``.
    Matrices act on points, not on pixels: warping an image "by M" (``crop.warp_affine``) makes the
    output pixel at ``M @ p`` show the input at ``p``. Every function accepts 2×3 matrices too and
    returns 3×3 ones whose last row is (0, 0, 1).

Example: a 4× downscaling crop of the square [-0.5, 255.5]² onto 64×64 pixels maps the centre of the
top-left input pixel to (-0.375, -0.375), a quarter of the way into the top-left output pixel:

    >>> m = crop_matrix(centre=(127.5, 127.5), size=(256, 256), out_size=(64, 64))
    >>> transform_points(m, np.array([[0.0, 0.0], [-0.5, 255.5]]))
    array([[-0.375, -0.375],
           [-0.5  , 63.5  ]])
"""

from collections.abc import Sequence

import numpy as np
import torch

from h3r._checks import check_positive, check_size

__all__ = [
    "as_matrix",
    "compose",
    "crop_matrix",
    "flip_matrix",
    "invert",
    "rotation_matrix",
    "scale_matrix",
    "transform_points",
    "translation_matrix",
]

_AFFINE_ROW = np.array([0.0, 0.0, 1.0])


def as_matrix(matrix: np.ndarray | Sequence) -> np.ndarray:
    """A new (..., 3, 3) float64 array from a (..., 2, 3) or (..., 3, 3) affine matrix (batches allowed).

    Raises ``ValueError`` for other shapes, non-finite entries or a last row other than (0, 0, 1).
    """
    m = np.array(matrix, dtype=np.float64)
    if m.ndim < 2 or m.shape[-2:] not in ((2, 3), (3, 3)):
        raise ValueError(f"matrix must have shape (..., 2, 3) or (..., 3, 3), got {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError(f"matrix has non-finite entries: {m.tolist()}")
    if m.shape[-2] == 2:
        return np.concatenate([m, np.broadcast_to(_AFFINE_ROW, (*m.shape[:-2], 1, 3))], axis=-2)
    if not (m[..., 2, :] == _AFFINE_ROW).all():
        raise ValueError(f"matrix is not affine: its last row must be (0, 0, 1), got {m[..., 2, :].tolist()}")
    return m


def translation_matrix(offset: Sequence[float]) -> np.ndarray:
    """Shift by ``offset`` = (dx, dy) pixels."""
    dx, dy = _pair("offset", offset)
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def scale_matrix(scale: float | Sequence[float], centre: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Scale by ``scale`` (one factor, or (sx, sy)) about the point ``centre`` = (x, y), which stays put."""
    sx, sy = _pair("scale", (scale, scale) if np.ndim(scale) == 0 else scale)
    check_positive("scale", sx)
    check_positive("scale", sy)
    return _about(np.array([[sx, 0.0], [0.0, sy]]), centre)


def rotation_matrix(angle: float, centre: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Rotate by ``angle`` degrees about ``centre`` = (x, y).

    Positive angles turn the content counter-clockwise as displayed (y pointing down), as
    ``cv2.getRotationMatrix2D`` does: a point right of the centre moves above it.

    Examples:
        >>> transform_points(rotation_matrix(90, centre=(10, 10)), np.array([11.0, 10.0])).round(12)
        array([10.,  9.])
    """
    radians = np.deg2rad(float(angle))
    cos, sin = np.cos(radians), np.sin(radians)
    return _about(np.array([[cos, sin], [-sin, cos]]), centre)


def flip_matrix(width: int) -> np.ndarray:
    """Horizontal flip of an image ``width`` pixels wide: x → width − 1 − x (the image maps onto itself)."""
    (width,) = check_size("width", width, 1)
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def crop_matrix(centre: Sequence[float], size: Sequence[float], out_size: int | Sequence[int]) -> np.ndarray:
    """Map an axis-aligned source rectangle onto an output image of ``out_size`` pixels.

    Args:
        centre: (x, y) centre of the source rectangle, input pixels.
        size: (h, w) extent of the source rectangle in edge coordinates, input pixels (floats allowed):
            it spans [x - w/2, x + w/2] × [y - h/2, y + h/2].
        out_size: (H, W) of the output, or one int for a square.

    Returns:
        (3, 3) matrix taking input pixels to output pixels; the rectangle's edges land on the output's
        edges [-0.5, W - 0.5] × [-0.5, H - 0.5], so e.g. resizing a whole (h, w) image is
        ``crop_matrix(((w - 1) / 2, (h - 1) / 2), (h, w), out_size)``.
    """
    cx, cy = _pair("centre", centre)
    h, w = _pair("size", size)
    check_positive("size", h)
    check_positive("size", w)
    out_h, out_w = check_size("out_size", out_size, 2)
    sx, sy = out_w / w, out_h / h
    return np.array(
        [
            [sx, 0.0, (w / 2 - cx) * sx - 0.5],
            [0.0, sy, (h / 2 - cy) * sy - 0.5],
            [0.0, 0.0, 1.0],
        ]
    )


def compose(*matrices: np.ndarray) -> np.ndarray:
    """The single matrix applying ``matrices`` in the order given: ``compose(a, b)`` is ``b @ a``.

    Batches (..., 3, 3) broadcast against each other.

    Examples:
        >>> compose(translation_matrix((1, 0)), scale_matrix(2))[:2]
        array([[2., 0., 2.],
               [0., 2., 0.]])
    """
    if not matrices:
        raise ValueError("compose needs at least one matrix")
    result = as_matrix(matrices[0])
    for matrix in matrices[1:]:
        result = as_matrix(matrix) @ result
    return result


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse map, (..., 3, 3). Raises ``ValueError`` if the matrix is singular."""
    m = as_matrix(matrix)
    if (np.abs(np.linalg.det(m[..., :2, :2])) < 1e-12).any():
        raise ValueError(f"matrix is singular and cannot be inverted: {m.tolist()}")
    inverse = np.linalg.inv(m)
    inverse[..., 2, :] = _AFFINE_ROW
    return inverse


def transform_points(matrix: np.ndarray | torch.Tensor, points: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Apply an affine matrix to (x, y) points, in numpy or torch.

    Args:
        matrix: (3, 3) or (2, 3), applied to every point; or a batch (B..., 3, 3) / (B..., 2, 3), each
            applied to its own points (B..., K, 2). numpy array or torch tensor; the last row of a
            3×3 matrix is taken to be (0, 0, 1).
        points: (..., 2) (x, y), numpy array (or nested sequence) or torch tensor.

    Returns:
        The mapped points, same type, shape and device as ``points``; floating points keep their dtype,
        integer ones become float64. Computed in float64 (gradients flow through torch inputs).
    """
    if not isinstance(points, torch.Tensor):
        points = np.asarray(points)
    if not isinstance(matrix, torch.Tensor):
        matrix = np.asarray(matrix, dtype=np.float64)
    if points.shape[-1:] != (2,):
        raise ValueError(f"points must have shape (..., 2), got {tuple(points.shape)}")
    if matrix.ndim < 2 or tuple(matrix.shape[-2:]) not in ((2, 3), (3, 3)):
        raise ValueError(f"matrix must have shape (..., 2, 3) or (..., 3, 3), got {tuple(matrix.shape)}")
    if matrix.ndim > 2 and points.ndim != matrix.ndim:
        raise ValueError(
            f"a batch of matrices {tuple(matrix.shape)} needs points (B..., K, 2), got {tuple(points.shape)}"
        )
    if isinstance(points, torch.Tensor):
        m = torch.as_tensor(matrix, dtype=torch.float64, device=points.device)
        mapped = _apply(m, points.to(torch.float64))
        return mapped.to(points.dtype) if points.is_floating_point() else mapped
    mapped = _apply(np.asarray(matrix, dtype=np.float64), points.astype(np.float64))
    return mapped.astype(points.dtype) if np.issubdtype(points.dtype, np.floating) else mapped


def _apply(m, points):
    """``points @ A^T + t`` for numpy or torch alike; batched matrices get a point axis for t."""
    linear, offset = m[..., :2, :2], m[..., :2, 2]
    if m.ndim == 2:
        return points @ linear.T + offset
    return points @ linear.swapaxes(-1, -2) + offset[..., None, :]


def _about(linear: np.ndarray, centre: Sequence[float]) -> np.ndarray:
    """The 3×3 matrix applying the 2×2 ``linear`` map about ``centre``: p → c + L (p − c)."""
    c = np.array(_pair("centre", centre))
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = c - linear @ c
    return m


def _pair(name: str, value: Sequence[float]) -> tuple[float, float]:
    """Two finite floats, or a ``ValueError`` naming the argument."""
    pair = np.asarray(value, dtype=np.float64)
    if pair.shape != (2,) or not np.isfinite(pair).all():
        raise ValueError(f"{name} must be two finite numbers, got {value!r}")
    return float(pair[0]), float(pair[1])
