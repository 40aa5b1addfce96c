"""Loading images as (H, W, 3) uint8 RGB arrays.

Files are decoded with Pillow, the decoder the authors' code used, so JPEG pixels match theirs exactly.

Conversions:
    - grayscale (1-bit, 8-bit, 16-bit) is replicated to 3 channels;
    - 16-bit data is scaled to 8 bits by keeping the high byte (v >> 8, i.e. floor(v · 256 / 65536)), the
      same rule Pillow's decoder applies to 16-bit colour files, never by clipping at 255;
    - alpha (RGBA, LA, PA, numpy (H, W, 4)) is dropped, not composited over a background: colours under
      transparent pixels are kept as stored;
    - palette, CMYK and YCbCr images are converted to RGB by Pillow.

Orientation: files and PIL images are read as they are displayed, their EXIF orientation applied
(``exif_transpose=True``, the default): a phone photograph stored sideways with an Orientation tag comes
out upright. ``exif_transpose=False`` keeps the stored pixel grid, for annotations made on it. None of
the development datasets (300-W, WFLW, COFW, AFLW, LSP, MPII) has an image with an orientation tag, so
both give the same pixels there.
"""

import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

__all__ = ["ImageError", "load_image"]

# What Pillow raises for unreadable, truncated or corrupt files, depending on the format plugin.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, Image.DecompressionBombError)
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageError(ValueError):
    """An image source that cannot be turned into an (H, W, 3) uint8 RGB array."""


def load_image(source: str | os.PathLike | np.ndarray | Image.Image, *, exif_transpose: bool = True) -> np.ndarray:
    """Load an image as a new (H, W, 3) uint8 RGB array (see the module docstring for conversions).

    Args:
        source: a file path; a numpy array of dtype uint8 or uint16 and shape (H, W), (H, W, 1)
            (grayscale), (H, W, 3) (RGB) or (H, W, 4) (RGBA); or a PIL image of any mode except
            floating point.
        exif_transpose: rotate/flip files and PIL images to their EXIF orientation, as viewers display
            them; False keeps the stored pixel grid. Arrays have no orientation.

    Raises:
        ImageError: naming the file (or "array"/"PIL image") and the problem: missing file,
            unreadable, truncated or non-image file, empty image, unsupported dtype, shape or mode.
        TypeError: ``source`` is none of the types above.

    Examples:
        >>> load_image(np.zeros((2, 3), np.uint16) + 65535)[0, 0]
        array([255, 255, 255], dtype=uint8)
    """
    if isinstance(source, (str, os.PathLike)):
        return _load_file(Path(source), exif_transpose)
    if isinstance(source, Image.Image):
        return _from_pil(_decoded(source, "PIL image", exif_transpose), "PIL image")
    if isinstance(source, np.ndarray):
        return _from_array(source, "array")
    raise TypeError(f"source must be a path, a numpy array or a PIL image, got {type(source).__name__}")


def _load_file(path: Path, exif_transpose: bool) -> np.ndarray:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if not path.is_file():
        raise ImageError(f"{path}: not a file")
    try:
        image = Image.open(path)
    except _DECODE_ERRORS as error:
        raise ImageError(f"{path}: cannot read as an image ({error})") from error
    with image:
        return _from_pil(_decoded(image, str(path), exif_transpose), str(path))


def _decoded(image: Image.Image, name: str, exif_transpose: bool) -> Image.Image:
    """Force decoding (Pillow decodes lazily), so that corrupt and truncated data fail here."""
    try:
        image.load()
        return ImageOps.exif_transpose(image) if exif_transpose else image
    except _DECODE_ERRORS as error:
        raise ImageError(f"{name}: cannot decode image data ({error})") from error


def _from_pil(image: Image.Image, name: str) -> np.ndarray:
    if image.width == 0 or image.height == 0:
        raise ImageError(f"{name}: empty image of size (H, W) = ({image.height}, {image.width})")
    if image.mode in _SIXTEEN_BIT_MODES:
        return _from_array(np.asarray(image).astype(np.uint16), name)
    if image.mode == "I":
        return _from_array(_int32_as_uint16(np.asarray(image), name), name)
    if image.mode == "F":
        raise ImageError(f"{name}: floating-point images (mode F) are not supported")
    try:
        return np.array(image.convert("RGB"))
    except ValueError as error:
        raise ImageError(f"{name}: cannot convert mode {image.mode} to RGB ({error})") from error


def _int32_as_uint16(array: np.ndarray, name: str) -> np.ndarray:
    """Pillow's 32-bit integer mode, which holds 16-bit data (e.g. from 16-bit PNG/TIFF) in practice."""
    if array.size and (array.min() < 0 or array.max() > 65535):
        raise ImageError(
            f"{name}: 32-bit integer image with values in [{array.min()}, {array.max()}], outside 16-bit range"
        )
    return array.astype(np.uint16)


def _from_array(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype.kind != "u" or array.dtype.itemsize not in (1, 2):
        raise ImageError(f"{name}: unsupported dtype {array.dtype}; expected uint8 or uint16")
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise ImageError(f"{name}: unsupported shape {array.shape}; expected (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"{name}: empty image of shape {array.shape}")
    if array.dtype.itemsize == 2:
        array = (array.astype(np.uint16) >> 8).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    return np.array(array[:, :, :3], dtype=np.uint8, order="C")
