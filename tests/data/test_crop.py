import time

import cv2
import numpy as np
import pytest
import torch

from h3r.data import crop
from h3r.data.crop import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    antialias_sigma,
    box_to_square,
    crop_exact,
    crop_official,
    normalize,
    official_crop_rect,
    warp_affine,
)
from h3r.data.geometry import compose, crop_matrix, flip_matrix, invert, rotation_matrix, transform_points
from h3r.data.image import load_image

CROPS = (crop_exact, crop_official)


def checkerboard(size: int, cell: int) -> np.ndarray:
    index = np.arange(size) // cell
    board = ((index[:, None] + index[None, :]) % 2 * 255).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def test_box_to_square_uses_corner_distance():
    centre, side = box_to_square((10.0, 20.0, 30.0, 60.0), scale=1.5)
    assert centre.tolist() == [20.0, 40.0] and side == 60.0


@pytest.mark.parametrize("crop", CROPS)
@pytest.mark.parametrize(
    ("box", "message"),
    [
        ((1, 2, 3), "must be 4 numbers"),
        ("abcd", "not 4 numbers"),
        ((10, 10, np.nan, 20), "non-finite"),
        ((10, 10, 20, np.inf), "non-finite"),
        ((20, 10, 10, 20), "inverted"),
        ((10, 10, 20, 10), "zero area"),
        ((100, 10, 120, 20), "wholly outside"),
        ((-30, -30, -0.5, 5), "wholly outside"),
        ((10, 10, 10.1, 10.1), "smaller than 1 pixel"),
        ((-300, -300, 400, 400), "is 12 times the image .* over 10 times the image are refused"),
    ],
)
def test_bad_boxes_name_the_box_and_problem(crop, box, message):
    with pytest.raises(ValueError, match=f"box .*{message}"):
        crop(np.zeros((50, 60, 3), np.uint8), box, 32)


@pytest.mark.parametrize("crop", CROPS)
def test_box_partly_outside_is_padded_black(crop):
    image = np.full((50, 60, 3), 200, np.uint8)
    out, matrix = crop(image, (-20, -20, 10, 10), 32)
    inside = transform_points(invert(matrix), np.array([[31.0, 31.0]]))[0]
    assert (out[0, 0] == 0).all() and (out[-1, -1] == 200).all() and (inside > 0).all()


@pytest.mark.parametrize(
    ("box", "size"),
    [((100, 80, 220, 190), 256), ((100, 80, 220, 190), 100), ((100, 70, 300, 230), 64), ((120, 100, 180, 150), 128)],
)
def test_exact_crop_of_a_constant_image_is_constant(box, size):
    image = np.empty((300, 400, 3), np.uint8)
    image[:] = (37, 128, 250)
    out, _ = crop_exact(image, box, size, scale=1.0)
    assert (out == (37, 128, 250)).all()
    rotated = compose(crop_matrix((200, 150), (120, 120), size), rotation_matrix(25, ((size - 1) / 2,) * 2))
    assert (warp_affine(image, rotated, size) == (37, 128, 250)).all()


@pytest.mark.parametrize("crop", CROPS)
@pytest.mark.parametrize(
    ("box", "size", "sigma"),
    [
        ((100, 80, 220, 190), 64, 6.0),
        ((100, 80, 220, 190), 256, 6.0),
        ((120, 100, 180, 150), 128, 3.0),
        ((0, 0, 300, 250), 32, 8.0),
    ],
)
def test_a_dot_lands_where_the_matrix_says(crop, box, size, sigma, blob, centroid):
    point = np.array([153.37, 121.81])
    out, matrix = crop(blob((300, 400), point, sigma), box, size)
    assert np.abs(centroid(out) - transform_points(matrix, point)).max() < 0.03


def test_warp_affine_follows_a_composed_augmentation(blob, centroid):
    point = np.array([153.37, 121.81])
    matrix = compose(
        crop_matrix((160, 130), (150, 150), 96), rotation_matrix(-37, (47.5, 47.5)), flip_matrix(96)
    )
    out = warp_affine(blob((300, 400), point, 6.0), matrix, 96)
    assert np.abs(centroid(out) - transform_points(matrix, point)).max() < 0.03


def test_antialiasing_suppresses_a_fine_checkerboard():
    board = checkerboard(1024, 1)
    # Box centred so a 4x shrink samples pixel centres: unfiltered bilinear sees one colour only.
    out, matrix = crop_exact(board, (512 - 409.6, 512 - 409.6, 512 + 409.6, 512 + 409.6), 256)
    aliased = cv2.warpAffine(board, matrix[:2], (256, 256))
    assert aliased[8:-8, 8:-8].std() == 0 and aliased[8, 8, 0] in (0, 255)
    assert abs(out[8:-8, 8:-8].mean() - 127.5) <= 1 and out[8:-8, 8:-8].std() < 1
    rotated = compose(matrix, rotation_matrix(30, (127.5, 127.5)))
    assert cv2.warpAffine(checkerboard(1024, 2), rotated[:2], (256, 256))[40:-40, 40:-40].std() > 50
    assert warp_affine(checkerboard(1024, 2), rotated, 256)[40:-40, 40:-40].std() < 2


def test_antialias_sigma():
    assert antialias_sigma(np.eye(3)) == 0 and antialias_sigma(np.diag([3.0, 2.0, 1.0])) == 0
    shrink = np.diag([0.25, 0.25, 1.0])
    assert antialias_sigma(shrink) == pytest.approx(0.5 * np.sqrt(15))
    assert antialias_sigma(compose(shrink, rotation_matrix(40))) == pytest.approx(0.5 * np.sqrt(15))
    assert antialias_sigma(np.diag([1.0, 0.5, 1.0])) == pytest.approx(0.5 * np.sqrt(3))


def test_footprint_shortcut_equals_blurring_the_whole_padded_image():
    image = np.random.default_rng(0).integers(0, 256, size=(120, 90, 3), dtype=np.uint8)
    matrix = compose(crop_matrix((20, 30), (100, 100), 32), rotation_matrix(20, (15.5, 15.5)))
    sigma, pad = antialias_sigma(matrix), 40
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0).astype(np.float32)
    blurred = cv2.GaussianBlur(padded, (0, 0), sigma)
    shifted = matrix @ np.array([[1.0, 0, -pad], [0, 1, -pad], [0, 0, 1]])
    expected = np.rint(cv2.warpAffine(blurred, shifted[:2], (32, 32)))
    assert np.abs(warp_affine(image, matrix, 32).astype(float) - expected).max() <= 1


def test_a_huge_box_costs_no_more_than_the_image():
    """A box 100,000 pixels wide (refused by crop_exact, so warped directly) crops in well under a second:
    only the image's pixels are averaged and blurred, not the box's black surroundings (it took minutes)."""
    image = np.full((300, 200, 3), 255, np.uint8)
    for side in (20_000.0, 100_000.0):
        matrix = crop_matrix((100, 150), (side, side), 128)
        started = time.perf_counter()
        out = warp_affine(image, matrix, 128)
        assert time.perf_counter() - started < 1.0, side
        centre = out[60:68, 60:68].astype(float)  # the image's share of the crop's middle pixels
        assert 0 < centre.max() < 255 and not out[:8, :8].any()


def test_strong_shrinks_average_blocks_first_and_stay_close_to_the_plain_blur(monkeypatch):
    image = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (900, 700, 3)).astype(np.float32), (0, 0), 2)
    image = image.clip(0, 255).astype(np.uint8)
    matrix = compose(crop_matrix((350, 450), (2600, 2600), 96), rotation_matrix(15, (47.5, 47.5)))
    assert antialias_sigma(matrix) > crop.REDUCE_ABOVE_SIGMA
    reduced = warp_affine(image, matrix, 96).astype(float)
    monkeypatch.setattr(crop, "REDUCE_ABOVE_SIGMA", np.inf)
    plain = warp_affine(image, matrix, 96).astype(float)
    assert np.abs(reduced - plain).max() <= 1 and plain.std() > 2


def test_warp_wholly_outside_the_image_is_black():
    matrix = crop_matrix((1000, 1000), (200, 200), 16)
    assert not warp_affine(np.full((50, 50, 3), 255, np.uint8), matrix, 16).any()


@pytest.mark.parametrize(
    "box",
    # Rects with corners at exact halves: Pillow rounds them to even (18.5 → 18, 33.5 → 34).
    [(20, 20, 31, 31), (21, 21, 32, 32), (30.2, 28.7, 43.9, 40.1), (100, 80, 220, 190)],
)
@pytest.mark.parametrize("size", [64, 8])
def test_official_matrix_is_the_pillow_crop_and_resize_geometry(box, size, blob, centroid):
    b = np.asarray(box, float)
    point = (b[:2] + b[2:]) / 2 + (0.37, -0.21)
    sigma = max(1.2, (b[2] - b[0]) / 10)
    out, matrix = crop_official(blob((250, 250), point, sigma), box, size)
    assert np.abs(centroid(out) - transform_points(matrix, point)).max() < 0.05
    x0, y0, x1, y1 = (round(float(v)) for v in official_crop_rect(box))
    u = np.array([[0.0, 0.0], [size - 1.0, size - 1.0]])
    corner, extent = np.array([x0, y0]), np.array([x1 - x0, y1 - y0])
    np.testing.assert_allclose(transform_points(invert(matrix), u), corner + (u + 0.5) * extent / size - 0.5, atol=1e-9)


def test_official_rect_equals_the_authors_for_every_reference_face(official_reference):
    faces = 0
    for model in official_reference.values():
        scale = model["config"]["scale"]
        for name, image in model.items():
            if name == "config":
                continue
            for box, rect in zip(image["bbox"], image["crop_rect"], strict=True):
                assert official_crop_rect(box, scale).tolist() == rect, (name, box)
                faces += 1
    assert faces == 210


def test_official_matrix_maps_the_authors_rect_onto_the_crop_up_to_rounding(official_reference):
    for model in official_reference.values():
        size, scale = model["config"]["size"][0], model["config"]["scale"]
        for name, faces in model.items():
            if name == "config":
                continue
            for box, rect in zip(faces["bbox"], faces["crop_rect"], strict=True):
                # The smallest image that holds the box: only the matrix matters here.
                image = np.zeros((int(box[3]) + 2, int(box[2]) + 2, 3), np.uint8)
                _, matrix = crop_official(image, box, size, scale)
                corners = np.array(rect).reshape(2, 2) - 0.5  # Pillow's frame → ours
                error = np.abs(transform_points(matrix, corners) - [[-0.5, -0.5], [size - 0.5, size - 0.5]])
                assert (error <= 0.5 * matrix[0, 0] + 1e-6).all(), (name, box)


def test_official_demo_inputs_are_reproduced(official_dir):
    image = load_image(official_dir / "images" / "demo.jpg")
    box = [float(v) for v in (official_dir / "images" / "demo.jpg.bbox").read_text().split()[:4]]
    references = sorted((official_dir / "reference").glob("*_demo_input.npy"))
    assert references
    for path in references:
        reference = np.load(path)
        crop, _ = crop_official(image, box, reference.shape[-1])
        assert np.abs(normalize(crop[None]).numpy() - reference).max() <= 1e-5, path.name


def test_normalize_matches_the_formula_for_numpy_and_torch():
    crops = np.random.default_rng(0).integers(0, 256, size=(2, 5, 6, 3), dtype=np.uint8)
    unit = crops.transpose(0, 3, 1, 2) / 255
    expected = (unit - np.array(IMAGENET_MEAN)[:, None, None]) / np.array(IMAGENET_STD)[:, None, None]
    for source in (crops, torch.from_numpy(crops)):
        out = normalize(source)
        assert out.dtype == torch.float32 and out.shape == (2, 3, 5, 6) and out.is_contiguous()
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-6)
    identity = normalize(crops, mean=(0, 0, 0), std=(1, 1, 1)).numpy()
    np.testing.assert_array_equal(identity, crops.transpose(0, 3, 1, 2) / np.float32(255))


@pytest.mark.parametrize(
    ("crops", "kwargs", "message"),
    [
        (np.zeros((2, 4, 4, 3), np.float32), {}, "uint8"),
        (np.zeros((4, 4, 3), np.uint8), {}, "shape"),
        (np.zeros((1, 4, 4, 1), np.uint8), {}, "shape"),
        (np.zeros((1, 4, 4, 3), np.uint8), {"std": (1, 0, 1)}, "std"),
        (np.zeros((1, 4, 4, 3), np.uint8), {"mean": (0.5,)}, "mean"),
    ],
)
def test_normalize_rejects_bad_input(crops, kwargs, message):
    with pytest.raises(ValueError, match=message):
        normalize(crops, **kwargs)


@pytest.mark.parametrize("crop", CROPS)
def test_crops_reject_bad_images_and_sizes(crop):
    with pytest.raises(ValueError, match="uint8 RGB"):
        crop(np.zeros((10, 10), np.uint8), (1, 1, 5, 5), 8)
    with pytest.raises(ValueError, match="size"):
        crop(np.zeros((10, 10, 3), np.uint8), (1, 1, 5, 5), 0)
