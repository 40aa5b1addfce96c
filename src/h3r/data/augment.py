"""Training augmentation: one random affine map per face (geometry), then the camera's degradations (pixels).

Geometry follows ``h3r.data.geometry``: (x, y) points, (H, W) sizes, the top-left pixel centred at (0, 0).
``sample_transform`` draws a single 3×3 matrix from image pixels to crop pixels that composes, in this
order: box jitter or a detector-like box, the ``box_to_square`` crop, scale, rotation about the crop
centre, translation and a horizontal flip of the crop (x → W − 1 − x). ``apply_transform`` warps the image once with it and maps the
landmarks through the same matrix, so pixels and points cannot disagree. ``photometric`` then changes the
(H, W, 3) uint8 crop's pixels only: colour, grayscale, low resolution, motion and defocus blur, noise,
JPEG and occluders. Crops are square (faces) or of any fixed (H, W) (top-down pose,
``box_to_rectangle``); an int size means a square.

Examples:
    >>> rng = np.random.default_rng(0)
    >>> matrix, flipped = sample_transform((40, 40, 200, 200), (256, 256), 128, 1.25, AugmentSettings.none(), rng)
    >>> transform_points(matrix, np.array([120.0, 120.0])), flipped
    (array([63.5, 63.5]), False)
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import cv2
import numpy as np

from h3r._checks import check_size
from h3r.data.crop import box_to_rectangle, checked_box, warp_affine
from h3r.data.geometry import (
    compose,
    crop_matrix,
    flip_matrix,
    rotation_matrix,
    scale_matrix,
    transform_points,
    translation_matrix,
)

__all__ = ["AugmentSettings", "apply_transform", "photometric", "sample_transform"]

# ITU-R BT.601 luma of RGB, as torchvision's grayscale (saturation and contrast act about it).
_LUMA = np.array([0.299, 0.587, 0.114])

# Allowed values of the scalar settings: (low, high, whether high itself is allowed).
_LIMITS = {
    "rotation": (0, 180, True),
    "translation": (0, 1, True),
    "box_jitter": (0, 0.5, False),
    "detector_box_probability": (0, 1, True),
    "detector_box_shift": (0, 1, True),
    "flip": (0, 1, True),
    "brightness": (0, 1, True),
    "contrast": (0, 1, True),
    "saturation": (0, 1, True),
    "blur_probability": (0, 1, True),
    "blur_sigma": (0, math.inf, False),
    "occlusion_probability": (0, 1, True),
    "occlusion_size": (0, 1, True),
    "half_body": (0, 1, True),
    "grayscale_probability": (0, 1, True),
    "downscale_probability": (0, 1, True),
    "downscale_min": (0, 1, True),
    "motion_blur_probability": (0, 1, True),
    "motion_blur_length": (0, math.inf, False),
    "defocus_probability": (0, 1, True),
    "defocus_radius": (0, math.inf, False),
    "noise_probability": (0, 1, True),
    "noise_sigma": (0, math.inf, False),
    "jpeg_probability": (0, 1, True),
}


@dataclass(frozen=True)
class AugmentSettings:
    """How strongly to augment; every range is drawn uniformly, independently per face.

    Attributes:
        scale: (low, high) multiplier of the side of the square cut from the image: above 1 zooms out.
        rotation: largest rotation, degrees, either way, about the crop centre.
        translation: largest shift of the crop along each axis, as a fraction of the crop side.
        box_jitter: largest move of each box edge, as a fraction of the box width (x edges) or height
            (y edges); below 0.5 so the box keeps a positive area.
        detector_box_probability: probability of cropping from a detector-like box instead of the face
            box: a square whose side is ``detector_box_scale`` (drawn uniformly) times the face box's longer
            side and whose centre moves from the box centre by up to ``detector_box_shift`` of that side
            along each axis. Face detectors' boxes (dlib, WFLW's rectangles) are larger than the landmark
            box and shifted; a model trained on such boxes works on them without refinement.
        detector_box_scale: (low, high) side of the detector-like box over the face box's longer side.
        detector_box_shift: largest move of its centre along each axis, fraction of the face box's side.
        flip: probability of a horizontal flip.
        brightness, contrast, saturation: largest relative change: pixel values, their spread about the
            mean grey and their distance from their own grey are each multiplied by a factor drawn
            from [1 − value, 1 + value]; at most 1.
        blur_probability: probability of a Gaussian blur of the crop.
        blur_sigma: largest standard deviation of that blur, crop pixels.
        occlusion_probability: probability of painting a rectangle of one random colour or of uniform
            noise (even odds) over the crop.
        occlusion_size: largest side of that rectangle, as a fraction of the crop side.
        half_body: probability of cropping the upper or the lower half of the body instead of the whole
            person (HRNet's half-body augmentation; pose training only, see ``PoseTrainingSet``).
        grayscale_probability: probability of turning the crop grey (BT.601 luma in all three channels).
        downscale_probability: probability of resampling the crop to a factor of its size drawn from
            [``downscale_min``, 1] (area averaging) and back (bilinear, as ``warp_affine`` enlarges a small
            face), after the blurs and before noise and JPEG: a small face. At 128 px and crop scale 1.25
            on 300-W landmark boxes, 0.25 leaves 15 px between the outer eye corners (12-17, 5th-95th
            percentile).
        downscale_min: smallest such factor, in (0, 1] when downscaling.
        motion_blur_probability: probability of a motion blur: a line kernel of a length drawn from
            [3, ``motion_blur_length``] crop pixels at an angle drawn from [0°, 180°).
        motion_blur_length: its largest length, crop pixels; at least 3 when blurring.
        defocus_probability: probability of a defocus blur: a disk kernel of a radius drawn from
            [1, ``defocus_radius``] crop pixels.
        defocus_radius: its largest radius, crop pixels; at least 1 when blurring.
        noise_probability: probability of adding Gaussian sensor noise, independent per pixel and channel.
        noise_sigma: its standard deviation, grey levels; positive when adding noise.
        jpeg_probability: probability of a JPEG encode and decode (OpenCV) at a quality drawn from
            ``jpeg_quality``.
        jpeg_quality: (low, high) integer JPEG qualities, 1 <= low <= high <= 100.
    """

    scale: tuple[float, float] = (0.75, 1.25)
    rotation: float = 30.0
    translation: float = 0.05
    box_jitter: float = 0.05
    detector_box_probability: float = 0.0
    detector_box_scale: tuple[float, float] = (1.0, 1.5)
    detector_box_shift: float = 0.15
    flip: float = 0.5
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    blur_probability: float = 0.1
    blur_sigma: float = 1.5
    occlusion_probability: float = 0.2
    occlusion_size: float = 0.4
    half_body: float = 0.0
    grayscale_probability: float = 0.0
    downscale_probability: float = 0.0
    downscale_min: float = 0.25
    motion_blur_probability: float = 0.0
    motion_blur_length: float = 9.0
    defocus_probability: float = 0.0
    defocus_radius: float = 3.0
    noise_probability: float = 0.0
    noise_sigma: float = 8.0
    jpeg_probability: float = 0.0
    jpeg_quality: tuple[int, int] = (15, 90)

    def __post_init__(self):
        for name in ("scale", "detector_box_scale"):
            scale = getattr(self, name)
            if not (isinstance(scale, Sequence) and len(scale) == 2 and all(_is_number(s) for s in scale)):
                raise ValueError(f"AugmentSettings.{name} must be two numbers (low, high), got {scale!r}")
            if not 0 < scale[0] <= scale[1] < math.inf:
                raise ValueError(f"AugmentSettings.{name} must satisfy 0 < low <= high, got {scale!r}")
            object.__setattr__(self, name, (float(scale[0]), float(scale[1])))
        for name, (low, high, closed) in _LIMITS.items():
            value = getattr(self, name)
            if not _is_number(value) or not (low <= value <= high if closed else low <= value < high):
                bound = f"[{low}, {high}{']' if closed else ')'}"
                raise ValueError(f"AugmentSettings.{name} must be a number in {bound}, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.blur_probability > 0 and self.blur_sigma == 0:
            raise ValueError(f"AugmentSettings.blur_sigma must be positive to blur, got {self.blur_sigma!r}")
        _check_degradations(self)

    @classmethod
    def none(cls) -> "AugmentSettings":
        """No augmentation: the plain crop, unchanged pixels."""
        # jpeg_quality keeps its default: no quality means "no JPEG", jpeg_probability 0 does.
        zero = (f.name for f in fields(cls) if f.name != "jpeg_quality")
        return cls(**{name: (1.0, 1.0) if name.endswith("scale") else 0.0 for name in zero})


def sample_transform(
    box: Sequence[float],
    image_size: tuple[int, int],
    input_size: int | tuple[int, int],
    crop_scale: float,
    settings: AugmentSettings | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, bool]:
    """Draw one face's geometric augmentation as a single image → crop matrix.

    Args:
        box: (x1, y1, x2, y2) face box, image pixels.
        image_size: (H, W) of the image; the box must overlap it.
        input_size: (H, W) of the crop, or its side S for a square, pixels.
        crop_scale: side of the crop rectangle (``box_to_rectangle`` for the aspect W / H) over the box side
            it keeps, before ``settings.scale``; for a square, over the longer (jittered) box side.
        settings: augmentation strengths; None for none.
        rng: source of randomness; the same number of draws is made whatever the settings, but for the
            four of the detector-like box, drawn only when ``settings.detector_box_probability`` > 0.

    Returns:
        ``(matrix, flipped)``: the (3, 3) float64 matrix from image pixels to crop pixels, and whether it
        mirrors the face (then landmarks must be reordered, see ``apply_transform``).
    """
    b = checked_box(box, check_size("image_size", tuple(image_size), 2))
    height, width = check_size("input_size", input_size, 2)
    settings = AugmentSettings.none() if settings is None else settings
    if settings.detector_box_probability > 0:
        b = _detector_like_box(b, settings, rng)
    extent = np.tile(b[2:] - b[:2], 2)
    jitter = rng.uniform(-settings.box_jitter, settings.box_jitter, size=4) * extent
    scale = rng.uniform(*settings.scale)
    angle = rng.uniform(-settings.rotation, settings.rotation)
    shift = rng.uniform(-settings.translation, settings.translation, size=2) * (width, height)
    flipped = bool(rng.random() < settings.flip)
    centre, rectangle = box_to_rectangle(b + jitter, crop_scale, aspect=width / height)
    middle = ((width - 1) / 2, (height - 1) / 2)
    steps = [
        crop_matrix(centre, rectangle, (height, width)),
        scale_matrix(1 / scale, middle),
        rotation_matrix(angle, middle),
        translation_matrix(shift),
    ]
    if flipped:
        steps.append(flip_matrix(width))
    return compose(*steps), flipped


def _detector_like_box(box: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """(4,) ``box`` or, with probability ``settings.detector_box_probability``, a detector-like square
    around it (see ``AugmentSettings``); always four draws."""
    use = rng.random() < settings.detector_box_probability
    ratio = rng.uniform(*settings.detector_box_scale)
    shift = rng.uniform(-settings.detector_box_shift, settings.detector_box_shift, size=2)
    if not use:
        return box
    side = (box[2:] - box[:2]).max()
    centre = (box[:2] + box[2:]) / 2 + shift * side
    return np.concatenate([centre - ratio * side / 2, centre + ratio * side / 2])


def apply_transform(
    image: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    matrix: np.ndarray,
    flipped: bool,
    flip_permutation: Sequence[int],
    input_size: int | tuple[int, int],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Warp a face and its landmarks by ``matrix``, reordering the landmarks when it mirrors the face.

    Landmarks that leave the crop keep their (outside) coordinates; codecs give them weight 0.

    Args:
        image: (H, W, 3) uint8 RGB.
        keypoints: (K, 2) (x, y) image pixels; NaN where not visible.
        visible: (K,) bool.
        matrix: (3, 3) image → crop matrix, e.g. from ``sample_transform``.
        flipped: whether ``matrix`` mirrors the face.
        flip_permutation: the scheme's mirror order: landmark ``i`` of the mirrored face is landmark
            ``flip_permutation[i]`` of the face.
        input_size: (H, W) of the crop, or its side S for a square, pixels.

    Returns:
        ``(crop, keypoints, visible)``: (H, W, 3) uint8 (antialiased ``warp_affine``), (K, 2) float64
        crop pixels and (K,) bool, in the mirrored face's landmark order when ``flipped``.
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visible = np.asarray(visible, dtype=bool)
    if keypoints.ndim != 2 or keypoints.shape[1] != 2 or visible.shape != keypoints.shape[:1]:
        raise ValueError(f"keypoints must be (K, 2) and visible (K,), got {keypoints.shape} and {visible.shape}")
    crop = warp_affine(image, matrix, input_size)
    mapped = transform_points(matrix, keypoints)
    if flipped:
        order = np.asarray(flip_permutation)
        if sorted(order.tolist()) != list(range(len(keypoints))):
            raise ValueError(f"flip_permutation must be a permutation of 0..{len(keypoints) - 1}, got {order.tolist()}")
        mapped, visible = mapped[order], visible[order]
    return crop, mapped, visible.copy()


def photometric(crop: np.ndarray, settings: AugmentSettings | None, rng: np.random.Generator) -> np.ndarray:
    """Random colour, then the degradations of faces in the wild, then maybe an occluding rectangle.

    The steps, each drawn independently, follow a camera (optics, sampling, sensor, file, then our crop):
    brightness, contrast and saturation; grayscale; the blurs: Gaussian, defocus (disk), motion (line);
    downscale to a small face's size; sensor noise and JPEG, at that size; back up to the crop size
    (bilinear); an occluding rectangle. Pixels change, geometry does not: every kernel is point-symmetric
    and the resampling keeps pixel centres, so landmarks stay where they are. The degradations (grayscale,
    defocus, motion, downscale, noise, JPEG) draw from ``rng`` only when their probability is positive:
    settings without them draw as before they existed.

    Args:
        crop: (S, S, 3) uint8 RGB (any (H, W, 3) uint8 works); not modified.
        settings: strengths; None or zero strengths return ``crop`` itself.
        rng: source of randomness.

    Returns:
        (H, W, 3) uint8.
    """
    if not (isinstance(crop, np.ndarray) and crop.dtype == np.uint8 and crop.ndim == 3 and crop.shape[2] == 3):
        raise ValueError(f"crop must be an (H, W, 3) uint8 array, got {getattr(crop, 'shape', type(crop))}")
    if settings is None:
        return crop
    out = _jitter_colour(crop, settings, rng)
    if _happens(settings.grayscale_probability, rng):
        out = cv2.transform(out, np.tile(_LUMA, (3, 1)))
    if rng.random() < settings.blur_probability:
        # 1 − random() lies in (0, 1], and OpenCV rejects sigma 0 with an automatic kernel size.
        out = cv2.GaussianBlur(out, (0, 0), settings.blur_sigma * (1.0 - rng.random()))
    if _happens(settings.defocus_probability, rng):
        out = cv2.filter2D(out, -1, _disk_kernel(rng.uniform(1, settings.defocus_radius)))
    if _happens(settings.motion_blur_probability, rng):
        length, angle = rng.uniform(3, settings.motion_blur_length), rng.uniform(0, math.pi)
        out = cv2.filter2D(out, -1, _line_kernel(length, angle))
    if _happens(settings.downscale_probability, rng):
        out = _downscale(out, rng.uniform(settings.downscale_min, 1))
    if _happens(settings.noise_probability, rng):
        out = _add_noise(out, settings.noise_sigma, rng)
    if _happens(settings.jpeg_probability, rng):
        low, high = settings.jpeg_quality
        out = _jpeg(out, int(rng.integers(low, high + 1)))
    if out.shape != crop.shape:
        out = cv2.resize(out, crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    if rng.random() < settings.occlusion_probability:
        out = _occlude(out, settings.occlusion_size, rng)
    return out


def _jitter_colour(crop: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast then saturation as one affine colour map, in a single uint8 pass.

    Brightness b scales values; contrast c moves them about the mean grey m (of the brightened crop);
    saturation s moves each pixel about its own grey: x → s·x + (1 − s)·grey(x). All three are linear, so
    the result is c·b·A·x + (1 − c)·b·m with A = s·I + (1 − s)·1·luma^T (A keeps greys, the luma
    weights summing to 1). Values are clipped once, at the end, not after each step as torchvision does.
    """
    b, c, s = (rng.uniform(1 - v, 1 + v) for v in (settings.brightness, settings.contrast, settings.saturation))
    if b == c == s == 1:
        return crop
    mean_grey = float(np.dot(cv2.mean(crop)[:3], _LUMA))
    mixing = s * np.eye(3) + (1 - s) * np.outer(np.ones(3), _LUMA)
    colour_map = np.concatenate([c * b * mixing, np.full((3, 1), (1 - c) * b * mean_grey)], axis=1)
    return cv2.transform(crop, colour_map)


def _occlude(crop: np.ndarray, max_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``crop`` with a rectangle of sides up to ``max_fraction`` of the crop's, at a random place."""
    height, width = crop.shape[:2]
    h = max(1, round(rng.uniform(0, max_fraction) * height))
    w = max(1, round(rng.uniform(0, max_fraction) * width))
    top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
    fill = rng.integers(0, 256, size=(h, w, 3) if rng.random() < 0.5 else 3, dtype=np.uint8)
    out = crop.copy()
    out[top : top + h, left : left + w] = fill
    return out


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# Magnitudes that must reach a least value while their degradation is on: (name, its probability, least
# value, whether that value itself is allowed).
_LEAST_WHEN_USED = (
    ("downscale_min", "downscale_probability", 0, False),
    ("motion_blur_length", "motion_blur_probability", 3, True),
    ("defocus_radius", "defocus_probability", 1, True),
    ("noise_sigma", "noise_probability", 0, False),
)


def _check_degradations(settings: AugmentSettings) -> None:
    """Check the degradations' settings beyond ``_LIMITS`` (ValueError naming the setting); make
    ``jpeg_quality`` a tuple of ints."""
    quality = settings.jpeg_quality
    if not (
        isinstance(quality, Sequence)
        and len(quality) == 2
        and all(isinstance(q, int) and not isinstance(q, bool) for q in quality)
        and 1 <= quality[0] <= quality[1] <= 100
    ):
        raise ValueError(f"AugmentSettings.jpeg_quality must be two integers 1 <= low <= high <= 100, got {quality!r}")
    object.__setattr__(settings, "jpeg_quality", tuple(quality))
    for name, probability, least, allowed in _LEAST_WHEN_USED:
        value = getattr(settings, name)
        if getattr(settings, probability) > 0 and (value < least if allowed else value <= least):
            bound = f"{'at least' if allowed else 'above'} {least}"
            raise ValueError(f"AugmentSettings.{name} must be {bound} when {probability} > 0, got {value!r}")


def _happens(probability: float, rng: np.random.Generator) -> bool:
    """Whether a step of ``probability`` happens: one draw from ``rng``, none when ``probability`` is 0."""
    return probability > 0 and rng.random() < probability


def _disk_kernel(radius: float) -> np.ndarray:
    """(2n + 1, 2n + 1) float64 disk of ``radius`` pixels summing to 1, n = floor(radius + ½).

    A pixel at distance d from the centre weighs min(1, radius + ½ − d) before normalising: an antialiased
    edge, so the blur grows smoothly with the radius.
    """
    n = int(radius + 0.5)
    y, x = np.mgrid[-n : n + 1, -n : n + 1]
    kernel = np.clip(radius + 0.5 - np.hypot(x, y), 0, 1)
    return kernel / kernel.sum()


def _line_kernel(length: float, angle: float) -> np.ndarray:
    """(2n + 1, 2n + 1) float64 line of ``length`` pixels through the centre summing to 1, n = ceil(length / 2).

    ``angle`` is in radians from the x axis towards y (down). Each pixel weighs the length of the line inside
    it, from 16 points a pixel placed symmetrically about the centre: the kernel is point-symmetric, so it
    blurs without moving anything. At angle 0 a line of length 5 is a row of five 0.2.
    """
    n = math.ceil(length / 2)
    count = 8 * math.ceil(length)  # points on each half
    half = (np.arange(count) + 0.5) * (length / 2 / count)
    along = np.concatenate([-half[::-1], half])
    rows = n + np.rint(along * math.sin(angle)).astype(int)
    columns = n + np.rint(along * math.cos(angle)).astype(int)
    kernel = np.zeros((2 * n + 1, 2 * n + 1))
    np.add.at(kernel, (rows, columns), 1.0)
    return kernel / kernel.sum()


def _downscale(image: np.ndarray, factor: float) -> np.ndarray:
    """(h, w, 3) ``image`` averaged (``INTER_AREA``) down to ``factor`` of its (H, W), at least 1 pixel a side."""
    height, width = image.shape[:2]
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 ``image`` plus Gaussian noise of ``sigma`` grey levels, per pixel and channel, rounded."""
    noisy = image + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB ``image`` encoded as a JPEG of ``quality`` (1-100) and decoded, by OpenCV.

    OpenCV's codec takes BGR; the channels are swapped around it so that luma and chroma are those of
    the RGB image (JPEG keeps luma at full resolution and halves chroma).
    """
    _, encoded = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(encoded, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
