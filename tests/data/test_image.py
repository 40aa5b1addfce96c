from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from h3r.data.image import ImageError, load_image

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def saved(tmp_path: Path, image: Image.Image, name: str, **options) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def test_rgb_png_from_str_and_path(tmp_path):
    path = saved(tmp_path, Image.fromarray(RGB), "rgb.png")
    for source in (path, str(path)):
        image = load_image(source)
        assert image.dtype == np.uint8 and image.flags.c_contiguous
        np.testing.assert_array_equal(image, RGB)


def test_grayscale_is_replicated(tmp_path):
    gray = RGB[..., 0]
    for source in (saved(tmp_path, Image.fromarray(gray), "gray.png"), gray, gray[..., None], Image.fromarray(gray)):
        np.testing.assert_array_equal(load_image(source), np.repeat(gray[..., None], 3, axis=2))


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 255, 256, 1000], [32767, 32768, 65279, 65535]], dtype=np.uint16)
    expected = np.array([[0, 0, 1, 3], [127, 128, 254, 255]], dtype=np.uint8)
    path = saved(tmp_path, Image.fromarray(values), "gray16.png")
    with Image.open(path) as stored:
        assert stored.mode == "I;16"
    int32 = Image.fromarray(values.astype(np.int32))
    for source in (path, values, np.stack([values] * 3, axis=2), values.astype(">u2"), int32):
        np.testing.assert_array_equal(load_image(source), np.repeat(expected[..., None], 3, axis=2))


def test_alpha_is_dropped_without_compositing(tmp_path):
    rgba = np.concatenate([RGB, np.zeros((5, 7, 1), np.uint8)], axis=2)
    for source in (rgba, saved(tmp_path, Image.fromarray(rgba), "rgba.png"), Image.fromarray(rgba)):
        np.testing.assert_array_equal(load_image(source), RGB)


def test_palette_bilevel_and_cmyk_are_converted(tmp_path):
    palette = Image.fromarray(RGB).quantize(colors=16)
    np.testing.assert_array_equal(load_image(saved(tmp_path, palette, "p.png")), np.array(palette.convert("RGB")))
    bilevel = Image.fromarray(RGB[..., 0] > 127)
    np.testing.assert_array_equal(load_image(bilevel)[..., 1], np.where(RGB[..., 0] > 127, 255, 0))
    cmyk = Image.fromarray(RGB).convert("CMYK")
    np.testing.assert_array_equal(load_image(saved(tmp_path, cmyk, "cmyk.tif")), RGB)


def test_images_are_read_as_displayed_unless_asked(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored pixels must be rotated 90° clockwise for display
    path = saved(tmp_path, Image.fromarray(RGB), "rotated.png", exif=exif)
    upright = np.rot90(RGB, k=-1)
    np.testing.assert_array_equal(load_image(path), upright)
    with Image.open(path) as opened:
        np.testing.assert_array_equal(load_image(opened), upright)
    np.testing.assert_array_equal(load_image(path, exif_transpose=False), RGB)


def test_arrays_are_copied():
    image = load_image(RGB)
    image[0, 0] = 0
    assert RGB[0, 0].any() and image is not RGB


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.jpg", "missing.jpg: no such file"),
        (lambda tmp: tmp, "not a file"),
        (lambda tmp: _write(tmp / "notes.jpg", b"not an image at all"), "notes.jpg: cannot read as an image"),
        (lambda tmp: _write(tmp / "empty.png", b""), "empty.png: cannot read as an image"),
        (lambda tmp: _truncated_jpeg(tmp / "cut.jpg"), "cut.jpg: cannot decode image data"),
    ],
)
def test_bad_files_name_the_file_and_problem(tmp_path, make, message):
    with pytest.raises(ImageError, match=message):
        load_image(make(tmp_path))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), "dtype float32"),
        (np.zeros((4, 4), np.int64), "dtype int64"),
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.zeros((4, 4, 2), np.uint8), r"shape \(4, 4, 2\)"),
        (np.zeros((1, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (Image.new("RGB", (0, 3)), "empty"),
        (Image.new("F", (3, 3)), "mode F"),
        (Image.fromarray(np.array([[-1, 70000]], np.int32)), "outside 16-bit range"),
    ],
)
def test_bad_arrays_and_images(source, message):
    with pytest.raises(ImageError, match=message):
        load_image(source)


def test_other_types_are_a_type_error():
    with pytest.raises(TypeError, match="path, a numpy array or a PIL image"):
        load_image(42)


def test_real_jpeg(official_dir):
    image = load_image(official_dir / "images" / "demo.jpg")
    assert image.shape == (256, 256, 3) and image.dtype == np.uint8
    with Image.open(official_dir / "images" / "demo.jpg") as pil:
        np.testing.assert_array_equal(image, np.array(pil.convert("RGB")))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _truncated_jpeg(path: Path) -> Path:
    big = RNG.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    Image.fromarray(big).save(path, quality=95)
    return _write(path, path.read_bytes()[: path.stat().st_size // 2])
