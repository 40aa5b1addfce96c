"""Square crops of a face box as network inputs, with the matrix from image pixels to crop pixels.

Coordinates follow ``h3r.data.geometry``: (x, y) points, (H, W) sizes, the top-left pixel centred at
(0, 0). A box is (x1, y1, x2, y2) with x1 < x2 and y1 < y2, in image pixels. Every crop function returns
``(crop, matrix)``: the (S, S, 3) uint8 crop and the (3, 3) float64 matrix taking image pixels to crop
pixels, so ``transform_points(invert(matrix), crop_points)`` puts points found in the crop back into the
image. Parts of the crop outside the image are black.

Two crops:
    - ``crop_exact``: our own, an exact sub-pixel affine warp of the square ``box_to_square`` gives,
      antialiased when it shrinks the image.
    - ``crop_official``: the authors' torchalign crop, pixel for pixel (their square, rounded to whole
      pixels, resized with Pillow), to run and check their released models.
"""

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from h3r._checks import check_positive, check_shape, check_size
from h3r.data.geometry import (
    as_matrix,
    compose,
    crop_matrix,
    invert,
    scale_matrix,
    transform_points,
    translation_matrix,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MAX_BOX_SIZE",
    "MIN_BOX_SIDE",
    "REDUCE_ABOVE_SIGMA",
    "antialias_sigma",
    "box_to_rectangle",
    "box_to_square",
    "checked_box",
    "crop_exact",
    "crop_official",
    "exact_crop_matrix",
    "normalize",
    "official_crop_rect",
    "warp_affine",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# cv2.GaussianBlur's kernel for float images reaches 4 sigma; 3 more pixels cover the bilinear taps and blocks.
_BLUR_REACH = 4.0
REDUCE_ABOVE_SIGMA = 8.0
"""Antialiasing sigma (image pixels) above which ``warp_affine`` averages pixel blocks before blurring."""
_REDUCED_SIGMA = 4.0  # the blur left after block averaging, in reduced pixels (4 to 6)
MAX_BOX_SIZE = 10.0
"""Longest box side, in multiples of the image's longest side, that ``checked_box`` accepts for an image."""
MIN_BOX_SIDE = 1.0
"""Shortest longer box side, in image pixels, that ``checked_box`` accepts for an image."""


def box_to_square(box: Sequence[float], scale: float = 1.25) -> tuple[np.ndarray, float]:
    """Our default crop square of a face box: same centre, side ``scale`` · max(w, h).

    w = x2 − x1 and h = y2 − y1: the box corners are points in the continuous pixel frame, as
    detectors and landmark extents give them, not inclusive pixel indices. This keeps the square
    covariant with resizing (resizing image and box by k resizes the square by k), which a "+ 1" would
    break. The authors' crop adds 1 (``crop_official``); the difference is one pixel of side.

    Args:
        box: (x1, y1, x2, y2), image pixels.
        scale: side of the square over the longer box side.

    Returns:
        ``(centre, side)``: the (x, y) centre, float64 array (2,), and the side in image pixels.

    Examples:
        >>> centre, side = box_to_square((10, 20, 30, 60), scale=1.25)
        >>> centre.tolist(), side
        ([20.0, 40.0], 50.0)
    """
    centre, (side, _) = box_to_rectangle(box, scale, aspect=1.0)
    return centre, side


def box_to_rectangle(box: Sequence[float], scale: float = 1.25, aspect: float = 1.0) -> tuple[np.ndarray, tuple]:
    """The crop rectangle of a box for an input of width / height ``aspect``: the box widened along one
    axis to that aspect ratio, then scaled by ``scale`` about its centre (HRNet's top-down person crop;
    ``aspect=1`` is ``box_to_square``).

    Args:
        box: (x1, y1, x2, y2), image pixels (corner points, as in ``box_to_square``).
        scale: side of the rectangle over the box side it keeps.
        aspect: width over height of the rectangle, e.g. 192 / 256 for a 256×192 (H×W) input.

    Returns:
        ``(centre, (h, w))``: the (x, y) centre, float64 array (2,), and the rectangle's height and width
        in image pixels, ``w / h == aspect``.

    Examples:
        >>> centre, size = box_to_rectangle((10, 20, 30, 60), scale=1.25, aspect=0.75)
        >>> centre.tolist(), size
        ([20.0, 40.0], (50.0, 37.5))
    """
    check_positive("scale", scale)
    check_positive("aspect", aspect)
    b = checked_box(box)
    width, height = b[2:] - b[:2]
    height = max(height, width / aspect)
    return (b[:2] + b[2:]) / 2, (float(height * scale), float(height * aspect * scale))


def crop_exact(
    image: np.ndarray, box: Sequence[float], size: int | Sequence[int], scale: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Crop the ``box_to_square`` square of ``box`` onto ``size`` × ``size`` pixels, exactly (``warp_affine``).

    The square's edges land on the crop's edges [-0.5, size − 0.5]. For a (H, W) ``size`` the crop is the
    ``box_to_rectangle`` rectangle of aspect W / H (top-down pose crops).

    Args:
        image: (H, W, 3) uint8 RGB.
        box: (x1, y1, x2, y2), image pixels; it must overlap the image with positive area.
        size: side S of the crop, or its (H, W), pixels.
        scale: side of the square over the longer box side (of the rectangle over the box side it keeps).

    Returns:
        ``(crop, matrix)``: (S, S, 3) (or (H, W, 3)) uint8 and the (3, 3) image → crop matrix.

    Raises:
        ValueError: naming the box if it has the wrong length, is not finite, has no area, is inverted
            or lies wholly outside the image.
    """
    _check_image(image)
    matrix = exact_crop_matrix(checked_box(box, image.shape[:2]), size, scale)
    return warp_affine(image, matrix, size), matrix


def exact_crop_matrix(box: Sequence[float], size: int | Sequence[int], scale: float = 1.25) -> np.ndarray:
    """The (3, 3) image → crop matrix of ``crop_exact`` (arguments as there), without cropping."""
    height, width = check_size("size", size, 2)
    centre, rectangle = box_to_rectangle(box, scale, aspect=width / height)
    return crop_matrix(centre, rectangle, (height, width))


def warp_affine(image: np.ndarray, matrix: np.ndarray, size: int | Sequence[int]) -> np.ndarray:
    """Warp ``image`` by the image → output ``matrix`` (bilinear, black outside the image), antialiased.

    When the map shrinks the image, the image is first blurred with a Gaussian of
    ``antialias_sigma(matrix)``; only the part of the image the output sees (plus the blur's reach) is
    processed, so cost follows the output footprint, not the image size. Output positions are exact up
    to OpenCV's 1/32-pixel bilinear grid.

    A shrink so strong that sigma exceeds ``REDUCE_ABOVE_SIGMA`` (more than 16 image pixels per output
    pixel: a box of over 1,650 pixels on a 128-pixel crop) first averages blocks of f × f pixels,
    f = floor(sigma / 4), and blurs what remains of sigma (sqrt(sigma² − (f² − 1) / 12), the block
    average's own share) on the reduced image. Only the pixels of the image are averaged, so the cost is
    bounded by the image size however large the box: a box of 100,000 pixels on a 1,000-pixel image
    crops in milliseconds instead of minutes.

    Args:
        image: (H, W, 3) uint8 RGB.
        matrix: (3, 3) or (2, 3) affine map from image pixels to output pixels, e.g. a ``compose`` of
            crop, rotation, scale, translation and flip matrices.
        size: (H, W) of the output, or one int for a square.

    Returns:
        (H, W, 3) uint8.
    """
    _check_image(image)
    out_h, out_w = check_size("size", size, 2)
    m = as_matrix(matrix)
    sigma = antialias_sigma(m)
    if sigma == 0.0:
        return _warp(image, m, (out_h, out_w))
    factor = max(1, int(sigma // _REDUCED_SIGMA)) if sigma > REDUCE_ABOVE_SIGMA else 1
    remaining = float(np.sqrt(sigma**2 - (factor**2 - 1) / 12)) / factor  # reduced pixels
    margin = factor * (int(np.ceil(_BLUR_REACH * remaining)) + 3)
    to_image, region = _footprint(image, m, (out_h, out_w), margin, factor)
    blurred = cv2.GaussianBlur(region, (0, 0), remaining)
    warped = _warp(blurred, compose(to_image, m), (out_h, out_w))
    return np.clip(np.rint(warped), 0, 255).astype(np.uint8)


def antialias_sigma(matrix: np.ndarray) -> float:
    """Standard deviation (input pixels) of the Gaussian prefilter ``warp_affine`` applies for ``matrix``.

    With d input pixels per output pixel along the most shrunk direction (1 / the smallest singular
    value of the linear part), sigma = ½·√(d² − 1) for d > 1, else 0: the output then carries the
    nominal blur of half an output pixel (d/2 input pixels) that a natively sampled image has, on top of
    the half input pixel the input already carries (Gaussians add in quadrature). A 4× shrink gets
    sigma ≈ 1.94, which leaves ~1 % of a pattern that would alias to a uniform tone.

    Examples:
        >>> round(antialias_sigma(np.diag([0.25, 0.25, 1.0])), 4)
        1.9365
    """
    m = as_matrix(matrix)
    smallest = np.linalg.svd(m[:2, :2], compute_uv=False)[-1]
    if smallest == 0:
        raise ValueError(f"matrix is singular: {m.tolist()}")
    shrink = 1.0 / smallest
    return 0.5 * float(np.sqrt(shrink**2 - 1.0)) if shrink > 1.0 else 0.0


def official_crop_rect(box: Sequence[float], scale: float = 1.25) -> np.ndarray:
    """The authors' crop square (x0, y0, x1, y1), as torchalign computes it (before Pillow rounds it).

    side = max(w + 1, h + 1) · scale with w = x2 − x1, h = y2 − y1 (box corners as inclusive pixel
    indices); x0 = (x1 + x2 − side + 1) / 2, likewise y0; x1 = x0 + side. Computed in float32, with
    torchalign's order of operations, so the result equals theirs bit for bit. The values are in
    Pillow's crop frame, where pixel i spans [i, i + 1]: add −0.5 for our frame.

    Returns:
        (4,) float32.

    Examples:
        >>> official_crop_rect((58, 35, 198, 231)).tolist()
        [5.375, 10.375, 251.625, 256.625]
    """
    check_positive("scale", scale)
    b = checked_box(box).astype(np.float32)
    side = (b[2:] - b[:2] + np.float32(1)).max() * np.float32(scale)
    corner = (b[:2] + b[2:] - side + np.float32(1)) / np.float32(2)
    return np.concatenate([corner, corner + side])


def crop_official(
    image: np.ndarray, box: Sequence[float], size: int, scale: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """The authors' torchalign crop of ``box``, pixel for pixel.

    ``official_crop_rect`` is rounded to whole pixels as Pillow's ``Image.crop`` rounds it (Python's
    ``round``: halves to even), cut out with black outside the image, and resized to ``size`` × ``size``
    with Pillow's bilinear filter (which antialiases when shrinking). The rounded crop is
    ``w_r`` × ``h_r`` pixels from the corner (x0_r, y0_r); Pillow's resize samples crop pixel u at
    crop-region position (u + 0.5) · w_r / size − 0.5, so the returned matrix is the inverse of
    x = x0_r + (u + 0.5) · w_r / size − 0.5 (likewise y, with its own h_r, which can differ from w_r
    by one pixel).

    torchalign itself maps crop points back with x = u · side / size + x0 (the unrounded
    ``official_crop_rect``), ignoring the rounding and the half-pixel terms; on the authors' reference
    faces that differs from this matrix by −2.6 to +0.9 image pixels. To reproduce their printed
    landmarks use their formula; to know where crop pixels really came from use this matrix.

    Args:
        image: (H, W, 3) uint8 RGB.
        box: (x1, y1, x2, y2), image pixels; it must overlap the image with positive area.
        size: side S of the crop, pixels.
        scale: side of the square over the longer box side (+ 1).

    Returns:
        ``(crop, matrix)``: (S, S, 3) uint8 and the (3, 3) image → crop matrix.

    Raises:
        ValueError: naming the box if it has the wrong length, is not finite, has no area, is inverted
            or lies wholly outside the image.
    """
    _check_image(image)
    (size,) = check_size("size", size, 1)
    x0, y0, x1, y1 = (round(float(v)) for v in official_crop_rect(checked_box(box, image.shape[:2]), scale))
    crop = Image.fromarray(image).crop((x0, y0, x1, y1)).resize((size, size), Image.Resampling.BILINEAR)
    matrix = crop_matrix(((x0 + x1) / 2 - 0.5, (y0 + y1) / 2 - 0.5), (y1 - y0, x1 - x0), size)
    return np.array(crop), matrix


def normalize(
    crops: np.ndarray | torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> torch.Tensor:
    """Network input from uint8 crops: (pixels / 255 − mean) / std per channel.

    The same float32 operations as torchvision's ``ToTensor`` + ``Normalize``, so the result matches the
    authors' inputs bit for bit.

    Args:
        crops: (N, H, W, 3) uint8 RGB, numpy array or torch tensor (any device).
        mean, std: per-channel (R, G, B) statistics of [0, 1] pixels.

    Returns:
        (N, 3, H, W) float32 tensor, contiguous, on the device of ``crops``.
    """
    # torch.tensor copies numpy input, which read-only arrays (e.g. from Pillow) need.
    pixels = crops if isinstance(crops, torch.Tensor) else torch.tensor(np.asarray(crops))
    check_shape("crops", pixels, "N H W 3")
    if pixels.dtype != torch.uint8:
        raise ValueError(f"crops must be uint8, got {pixels.dtype}")
    mean_t = torch.as_tensor(mean, dtype=torch.float32, device=pixels.device)
    std_t = torch.as_tensor(std, dtype=torch.float32, device=pixels.device)
    if mean_t.shape != (3,) or std_t.shape != (3,) or not (std_t > 0).all():
        raise ValueError(f"mean and std must be 3 numbers each, std positive; got {mean!r}, {std!r}")
    unit = pixels.permute(0, 3, 1, 2).float().div(255)
    return ((unit - mean_t[:, None, None]) / std_t[:, None, None]).contiguous()


def _warp(image: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.warpAffine in our convention (OpenCV also puts pixel centres at integers), black outside."""
    out_h, out_w = size
    return cv2.warpAffine(
        image, matrix[:2], (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _footprint(
    image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], margin: int, factor: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The part of the image the output's footprint sees, widened by ``margin`` pixels, black outside the
    image, as float32 averages of ``factor`` × ``factor`` pixel blocks (``factor`` 1: the pixels).

    Only the image's own pixels are read and averaged: the black beyond it costs one reduced pixel per
    block, so the cost is bounded by the image, however far the footprint reaches beyond it.

    Returns ``(to_image, region)``: the (3, 3) matrix from region pixels to image pixels (region pixel q
    is the block of image pixels origin + q·factor ... origin + q·factor + factor − 1, centred on their
    mean position), and the region.
    """
    out_h, out_w = size
    corners = np.array([[-0.5, -0.5], [out_w - 0.5, -0.5], [-0.5, out_h - 0.5], [out_w - 0.5, out_h - 0.5]])
    seen = transform_points(invert(matrix), corners)
    height, width = image.shape[:2]
    last = np.array([width - 1, height - 1])
    # Beyond the image, only `margin` pixels of black padding can reach the output through the blur.
    lo = np.maximum(np.floor(seen.min(axis=0)).astype(int) - margin, -margin)
    hi = np.maximum(np.minimum(np.ceil(seen.max(axis=0)).astype(int) + margin, last + margin), lo)
    blocks = (hi - lo) // factor + 1  # (x, y) counts
    region = np.zeros((blocks[1], blocks[0], image.shape[2]), np.float32)
    first, final = np.maximum(lo, 0), np.minimum(lo + blocks * factor - 1, last)  # image pixels inside
    if (first <= final).all():
        start, stop = (first - lo) // factor, (final - lo) // factor + 1  # the blocks they fall in
        inside = image[first[1] : final[1] + 1, first[0] : final[0] + 1]
        if factor > 1:  # blocks of one pixel are the pixels: no summing (it was a third of training's loading)
            for axis, xy in ((1, 0), (0, 1)):  # sum the blocks' columns, then their rows
                edges = lo[xy] + np.arange(start[xy] + 1, stop[xy]) * factor - first[xy]  # block starts in `inside`
                inside = np.add.reduceat(inside, np.concatenate([[0], edges]), axis=axis, dtype=np.float64)
            inside = inside / factor**2
        region[start[1] : stop[1], start[0] : stop[0]] = inside
    to_image = compose(scale_matrix(factor), translation_matrix(lo + (factor - 1) / 2))
    return to_image, region


def checked_box(box: Sequence[float], image_size: tuple[int, int] | None = None) -> np.ndarray:
    """The box as a float64 (4,) array, or a ``ValueError`` naming it and the problem.

    With ``image_size`` = (H, W), the box must also overlap the image [-0.5, W − 0.5] × [-0.5, H − 0.5]
    with positive area, have a longer side of at least ``MIN_BOX_SIDE`` pixels and at most
    ``MAX_BOX_SIZE`` times the image's longer side.
    """
    try:
        b = np.asarray(box, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"box {box!r} is not 4 numbers (x1, y1, x2, y2): {error}") from error
    if b.shape != (4,):
        raise ValueError(f"box {box!r} must be 4 numbers (x1, y1, x2, y2), got shape {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError(f"box {b.tolist()} has non-finite coordinates")
    if (b[2:] < b[:2]).any():
        raise ValueError(f"box {b.tolist()} is inverted: (x1, y1, x2, y2) needs x1 < x2 and y1 < y2")
    if (b[2:] == b[:2]).any():
        raise ValueError(f"box {b.tolist()} has zero area")
    if image_size is not None:
        _check_box_in_image(b, image_size)
    return b


def _check_box_in_image(box: np.ndarray, image_size: tuple[int, int]) -> None:
    """Refuse a box wholly outside the (H, W) image, smaller than ``MIN_BOX_SIDE`` or over ``MAX_BOX_SIZE``
    times the image: no face box of that image, and the last would only cost time and memory."""
    height, width = image_size
    longer = float((box[2:] - box[:2]).max())
    if box[2] <= -0.5 or box[3] <= -0.5 or box[0] >= width - 0.5 or box[1] >= height - 0.5:
        raise ValueError(f"box {box.tolist()} lies wholly outside the image of (H, W) = {tuple(image_size)}")
    if longer < MIN_BOX_SIDE:
        raise ValueError(f"box {box.tolist()} is smaller than {MIN_BOX_SIDE:g} pixel: no face fits in it")
    if longer > MAX_BOX_SIZE * max(height, width):
        raise ValueError(
            f"box {box.tolist()} is {longer / max(height, width):.0f} times the image of (H, W) = "
            f"{tuple(image_size)}; boxes over {MAX_BOX_SIZE:g} times the image are refused"
        )


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = (
            f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        )
        raise ValueError(f"image must be an (H, W, 3) uint8 RGB array (see load_image), got {described}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
