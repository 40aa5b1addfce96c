import numpy as np
import pytest
import torch

from h3r.data.geometry import (
    as_matrix,
    compose,
    crop_matrix,
    flip_matrix,
    invert,
    rotation_matrix,
    scale_matrix,
    transform_points,
    translation_matrix,
)


def random_augmentation(rng: np.random.Generator) -> np.ndarray:
    """A crop, rotation, scale, jitter and flip chain like training augmentation builds."""
    centre = rng.uniform(50, 1500, size=2)
    side = rng.uniform(20, 800)
    return compose(
        crop_matrix(centre, (side, side), 256),
        rotation_matrix(rng.uniform(-180, 180), (127.5, 127.5)),
        scale_matrix(rng.uniform(0.5, 2), (127.5, 127.5)),
        translation_matrix(rng.uniform(-20, 20, size=2)),
        flip_matrix(256),
    )


@pytest.mark.parametrize("seed", range(5))
def test_points_round_trip_numpy(seed):
    rng = np.random.default_rng(seed)
    matrix = random_augmentation(rng)
    points = rng.uniform(-100, 2000, size=(7, 68, 2))
    back = transform_points(invert(matrix), transform_points(matrix, points))
    assert np.abs(back - points).max() <= 1e-4


def test_points_round_trip_torch_keeps_dtype_device_and_gradients():
    matrix = random_augmentation(np.random.default_rng(0))
    points = (torch.rand(4, 68, 2, dtype=torch.float64) * 2000).requires_grad_()
    mapped = transform_points(torch.from_numpy(matrix), points)
    back = transform_points(invert(matrix), mapped)
    assert back.dtype == torch.float64 and back.shape == points.shape
    assert (back - points).abs().max() <= 1e-4
    back.sum().backward()
    assert torch.allclose(points.grad, torch.ones_like(points))
    single = transform_points(matrix, points.detach().float())
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.numpy(), transform_points(matrix, points.detach().numpy()), atol=1e-3)


def test_batched_matrices_match_one_by_one():
    rng = np.random.default_rng(1)
    matrices = np.stack([random_augmentation(rng) for _ in range(3)])
    points = rng.uniform(0, 500, size=(3, 10, 2))
    batched = transform_points(matrices, points)
    for matrix, point, out in zip(matrices, points, batched):
        np.testing.assert_allclose(out, transform_points(matrix, point), atol=1e-9)
    torch_batched = transform_points(torch.from_numpy(matrices), torch.from_numpy(points))
    np.testing.assert_allclose(torch_batched.numpy(), batched, atol=1e-9)
    np.testing.assert_allclose(invert(matrices) @ matrices, np.broadcast_to(np.eye(3), (3, 3, 3)), atol=1e-9)


def test_accepts_2x3_single_points_and_integer_points():
    matrix = translation_matrix((1.5, -2.0))
    assert transform_points(matrix[:2], np.array([3, 4])).tolist() == [4.5, 2.0]
    assert transform_points(matrix, np.array([[3, 4]])).dtype == np.float64
    np.testing.assert_array_equal(as_matrix(matrix[:2]), matrix)


def test_double_flip_is_identity_and_flip_maps_the_image_onto_itself():
    width = 37
    np.testing.assert_array_equal(compose(flip_matrix(width), flip_matrix(width)), np.eye(3))
    points = np.array([[0.0, 5.0], [width - 1.0, 2.0], [-0.5, 0.0], [width - 0.5, 0.0], [10.25, 3.0]])
    expected = np.array([[width - 1.0, 5.0], [0.0, 2.0], [width - 0.5, 0.0], [-0.5, 0.0], [width - 11.25, 3.0]])
    np.testing.assert_array_equal(transform_points(flip_matrix(width), points), expected)


@pytest.mark.parametrize(
    ("centre", "size", "out_size"),
    [((127.5, 127.5), (256, 256), (64, 64)), ((40.3, -7.25), (33.7, 81.1), (48, 96)), ((500, 300), (10, 10), 128)],
)
def test_crop_matrix_maps_source_edges_onto_output_edges(centre, size, out_size):
    (h, w), (out_h, out_w) = size, np.broadcast_to(out_size, 2)
    cx, cy = centre
    edges = np.array([[cx - w / 2, cy - h / 2], [cx + w / 2, cy + h / 2], [cx, cy]])
    expected = np.array([[-0.5, -0.5], [out_w - 0.5, out_h - 0.5], [(out_w - 1) / 2, (out_h - 1) / 2]])
    np.testing.assert_allclose(transform_points(crop_matrix(centre, size, out_size), edges), expected, atol=1e-9)


def test_crop_matrix_of_a_whole_image_is_a_pixel_centre_resize():
    matrix = crop_matrix(((100 - 1) / 2, (60 - 1) / 2), (60, 100), (30, 50))
    x = np.array([[0.0, 0.0], [1.0, 1.0], [99.0, 59.0]])
    np.testing.assert_allclose(transform_points(matrix, x), (x + 0.5) / 2 - 0.5, atol=1e-12)


def test_rotation_direction_fixed_point_and_inverse():
    centre = (10.0, 20.0)
    np.testing.assert_allclose(transform_points(rotation_matrix(90, centre), np.array([11.0, 20.0])), [10.0, 19.0])
    np.testing.assert_allclose(transform_points(rotation_matrix(33, centre), np.array(centre)), centre, atol=1e-12)
    there_and_back = compose(rotation_matrix(33, centre), rotation_matrix(-33, centre))
    np.testing.assert_allclose(there_and_back, np.eye(3), atol=1e-12)


def test_scale_about_a_point():
    matrix = scale_matrix((2.0, 3.0), centre=(1.0, 1.0))
    np.testing.assert_allclose(transform_points(matrix, np.array([[1.0, 1.0], [2.0, 2.0]])), [[1.0, 1.0], [3.0, 4.0]])
    np.testing.assert_array_equal(scale_matrix(2.0), np.diag([2.0, 2.0, 1.0]))


def test_compose_applies_in_the_order_given():
    a, b = translation_matrix((1.0, 0.0)), rotation_matrix(90)
    np.testing.assert_allclose(compose(a, b), b @ a)
    np.testing.assert_allclose(transform_points(compose(a, b), np.array([0.0, 0.0])), [0.0, -1.0], atol=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: invert(np.diag([1.0, 0.0, 1.0])), "singular"),
        (lambda: as_matrix(np.ones((3, 3))), "not affine"),
        (lambda: as_matrix(np.ones((2, 2))), "shape"),
        (lambda: as_matrix([[np.nan, 0, 0], [0, 1, 0]]), "non-finite"),
        (lambda: compose(), "at least one"),
        (lambda: transform_points(np.eye(3), np.zeros((4, 3))), r"\(\.\.\., 2\)"),
        (lambda: transform_points(np.eye(2), np.zeros((4, 2))), "matrix must have shape"),
        (lambda: transform_points(np.stack([np.eye(3)] * 2), np.zeros((2, 2))), "batch"),
        (lambda: crop_matrix((0, 0), (0, 10), 8), "size"),
        (lambda: crop_matrix((0, np.nan), (10, 10), 8), "centre"),
        (lambda: flip_matrix(0), "width"),
        (lambda: scale_matrix(-1.0), "scale"),
    ],
)
def test_bad_arguments_raise_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
