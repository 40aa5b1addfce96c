import dataclasses
import re

import numpy as np
import pytest
from shared_data import shared_path

from h3r.data.augment import AugmentSettings, apply_transform, photometric, sample_transform
from h3r.data.crop import box_to_square, warp_affine
from h3r.data.datasets import read_dataset
from h3r.data.geometry import compose, crop_matrix, flip_matrix, invert, transform_points

SIZE = 96
FLIPPED = AugmentSettings(flip=1.0)
NO_PHOTOMETRIC = {"brightness": 0, "contrast": 0, "saturation": 0, "blur_probability": 0, "occlusion_probability": 0}


def random_face(rng: np.random.Generator, count: int = 68) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints (count, 2) in a 300 × 400 image, all visible, and the box around them."""
    keypoints = rng.uniform((120, 80), (280, 220), size=(count, 2))
    return keypoints, np.ones(count, bool), np.concatenate([keypoints.min(0), keypoints.max(0)])


@pytest.mark.parametrize("seed", range(5))
def test_landmarks_go_to_the_crop_and_back(seed):
    rng = np.random.default_rng(seed)
    keypoints, visible, box = random_face(rng)
    matrix, flipped = sample_transform(box, (300, 400), SIZE, 1.25, AugmentSettings(flip=0.5), rng)
    permutation = rng.permutation(68)
    _, mapped, visible_out = apply_transform(
        np.zeros((300, 400, 3), np.uint8), keypoints, visible, matrix, flipped, permutation, SIZE
    )
    back = transform_points(invert(matrix), mapped)
    if flipped:  # mapped[i] is landmark permutation[i]
        back[permutation] = back.copy()
    assert np.abs(back - keypoints).max() <= 1e-4 and visible_out.all()


def test_a_double_flip_is_the_identity():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    keypoints, visible, _ = random_face(rng, count=5)
    visible[3] = False
    keypoints[3] = np.nan
    permutation = (1, 0, 2, 4, 3)
    once = apply_transform(image, keypoints, visible, flip_matrix(SIZE), True, permutation, SIZE)
    twice = apply_transform(*once, flip_matrix(SIZE), True, permutation, SIZE)
    np.testing.assert_array_equal(once[0], image[:, ::-1])
    np.testing.assert_array_equal(twice[0], image)
    np.testing.assert_allclose(twice[1], keypoints, atol=1e-12)
    np.testing.assert_array_equal(twice[2], visible)
    assert once[2].tolist() == [True, True, True, True, False]


@pytest.mark.parametrize("seed", range(4))
def test_a_dot_at_a_landmark_lands_where_the_warped_landmark_says(seed, centroid):
    """Blobs of different brightness mark four landmarks; after the warp each sits at its mapped point."""
    rng = np.random.default_rng(seed)
    keypoints = np.array([[165.0, 120.0], [235.0, 124.0], [198.3, 171.7], [201.6, 222.2]])
    keypoints += rng.uniform(-2, 2, size=keypoints.shape)
    peaks = np.array([250.0, 180.0, 120.0, 60.0])
    y, x = np.mgrid[:300, :400]
    image = sum(p * np.exp(-((x - kx) ** 2 + (y - ky) ** 2) / (2 * 6.0**2)) for (kx, ky), p in zip(keypoints, peaks))
    image = np.repeat(np.rint(image).astype(np.uint8)[..., None], 3, axis=2)
    settings = AugmentSettings(rotation=45, scale=(0.8, 1.25), flip=0.5 if seed < 2 else 1.0)
    matrix, flipped = sample_transform((150, 100, 250, 240), (300, 400), SIZE, 1.4, settings, rng)
    permutation = (1, 0, 2, 3)
    crop, mapped, _ = apply_transform(image, keypoints, np.ones(4, bool), matrix, flipped, permutation, SIZE)
    for point, original in zip(mapped, permutation if flipped else range(4)):
        found = point
        for _ in range(3):
            found = centroid(window(crop, found, radius=14))
        assert np.abs(found - point).max() <= 0.1
        brightest = crop[round(point[1]), round(point[0]), 0]
        assert abs(brightest - peaks[original]) < 0.25 * peaks[original]


def window(image: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """``image`` zeroed farther than ``radius`` pixels from ``centre`` = (x, y)."""
    assert (centre >= radius).all() and (centre <= np.array(image.shape[1::-1]) - 1 - radius).all()
    y, x = np.mgrid[: image.shape[0], : image.shape[1]]
    far = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 > radius**2
    return np.where(far[..., None], 0, image)


def test_flipping_a_real_face_keeps_the_left_eye_on_the_left():
    dataset = read_dataset(f"300w:{shared_path('300w-subset')}")
    permutation = dataset.scheme.flip_permutation
    left_eye, right_eye = list(range(36, 42)), list(range(42, 48))
    for sample in dataset.samples[:: len(dataset) // 8][:8]:
        image, box = sample.load_image(), np.concatenate([sample.keypoints.min(0), sample.keypoints.max(0)])
        centre, side = box_to_square(box)
        plain = crop_matrix(centre, (side, side), SIZE)
        crop, points, _ = apply_transform(image, sample.keypoints, sample.visible, plain, False, permutation, SIZE)
        flipped = compose(plain, flip_matrix(SIZE))
        mirror, mirrored, _ = apply_transform(image, sample.keypoints, sample.visible, flipped, True, permutation, SIZE)
        assert np.abs(mirror.astype(int) - crop[:, ::-1]).max() <= 1
        expected = points[right_eye].mean(0) * (-1, 1) + (SIZE - 1, 0)
        np.testing.assert_allclose(mirrored[left_eye].mean(0), expected, atol=1e-9)
        # The mirrored face's points keep the anatomy of the scheme: left eye left of the nose tip, the
        # jaw running left to right, and each eye's contour starting at its left corner and running over
        # the upper lid (where the eyes are open: closed lids cross).
        assert mirrored[left_eye, 0].max() < mirrored[30, 0] < mirrored[right_eye, 0].min()
        assert mirrored[0, 0] < mirrored[8, 0] < mirrored[16, 0]
        for eye in (left_eye, right_eye):
            assert mirrored[eye[0], 0] < mirrored[eye[3], 0]
            if eyes_open(points):
                assert mirrored[eye[1:3], 1].mean() < mirrored[eye[4:6], 1].mean()


def eyes_open(points: np.ndarray) -> bool:
    """Whether both eyes' lower lids (40, 41 and 46, 47) lie 2 pixels below their upper lids (37, 38 and 43, 44)."""
    return all(points[[b, b + 1], 1].mean() - points[[a, a + 1], 1].mean() > 2 for a, b in ((37, 40), (43, 46)))


def test_no_augmentation_is_the_plain_crop():
    rng = np.random.default_rng(3)
    box = (40.0, 60.0, 200.0, 180.0)
    centre, side = box_to_square(box, 1.3)
    for settings in (None, AugmentSettings.none()):
        matrix, flipped = sample_transform(box, (300, 400), SIZE, 1.3, settings, rng)
        np.testing.assert_allclose(matrix, crop_matrix(centre, (side, side), SIZE), atol=1e-12)
        assert not flipped


def test_draws_stay_within_the_settings():
    rng = np.random.default_rng(0)
    box, settings = (100.0, 100.0, 200.0, 200.0), AugmentSettings(box_jitter=0.0, translation=0.0, flip=0.3)
    side = box_to_square(box)[1]
    zooms, angles, flips = [], [], []
    for _ in range(300):
        matrix, flipped = sample_transform(box, (300, 400), SIZE, 1.25, settings, rng)
        linear = matrix[:2, :2] * ((-1, 1) if flipped else (1, 1))  # undo the flip's sign of x
        zooms.append(side / SIZE * np.sqrt(np.linalg.det(linear)))
        angles.append(np.degrees(np.arctan2(linear[0, 1], linear[0, 0])))
        flips.append(flipped)
        assert (np.linalg.det(matrix[:2, :2]) < 0) == flipped
        np.testing.assert_allclose(transform_points(matrix, (150, 150)), (SIZE - 1) / 2, atol=1e-9)
    assert 1 / 1.25 - 1e-9 <= min(zooms) < 0.85 and 1.2 < max(zooms) <= 1 / 0.75 + 1e-9
    assert -30 <= min(angles) < -25 and 25 < max(angles) <= 30
    assert 0.2 < np.mean(flips) < 0.4


def test_same_generator_state_same_draw():
    box, settings = (10.0, 10.0, 90.0, 90.0), AugmentSettings()
    first = sample_transform(box, (100, 100), SIZE, 1.25, settings, np.random.default_rng(7))
    second = sample_transform(box, (100, 100), SIZE, 1.25, settings, np.random.default_rng(7))
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]


def test_box_outside_the_image_is_rejected():
    with pytest.raises(ValueError, match="wholly outside"):
        sample_transform((500, 500, 600, 600), (300, 400), SIZE, 1.25, None, np.random.default_rng(0))


def test_photometric_keeps_shape_and_dtype_and_leaves_the_input_alone():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    before = crop.copy()
    strong = AugmentSettings(brightness=0.5, contrast=0.5, saturation=0.5, blur_probability=1, occlusion_probability=1)
    for _ in range(5):
        out = photometric(crop, strong, rng)
        assert out.shape == crop.shape and out.dtype == np.uint8 and not np.array_equal(out, crop)
    np.testing.assert_array_equal(crop, before)


def test_photometric_does_nothing_at_zero_strength():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    assert photometric(crop, None, rng) is crop
    for settings in (AugmentSettings.none(), AugmentSettings(**NO_PHOTOMETRIC)):
        assert all(photometric(crop, settings, rng) is crop for _ in range(10))


def grey(image: np.ndarray) -> np.ndarray:
    return image.astype(float) @ (0.299, 0.587, 0.114)


def test_colour_jitter_acts_as_documented():
    rng = np.random.default_rng(1)
    crop = rng.integers(60, 190, size=(32, 32, 3), dtype=np.uint8)
    brighter = photometric(crop, AugmentSettings(**{**NO_PHOTOMETRIC, "brightness": 0.3}), rng).astype(float)
    ratio = brighter / crop
    assert 0.7 <= ratio.mean() <= 1.3 and np.abs(ratio - ratio.mean()).max() < 0.02
    contrasted = photometric(crop, AugmentSettings(**{**NO_PHOTOMETRIC, "contrast": 0.3}), rng)
    assert abs(grey(contrasted).mean() - grey(crop).mean()) < 0.5
    saturated = photometric(crop, AugmentSettings(**{**NO_PHOTOMETRIC, "saturation": 1.0}), rng)
    assert np.abs(grey(saturated) - grey(crop)).max() < 1.0 and not np.array_equal(saturated, crop)


def test_blur_and_occlusion():
    rng = np.random.default_rng(2)
    crop = rng.integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    blurred = photometric(crop, AugmentSettings(**{**NO_PHOTOMETRIC, "blur_probability": 1.0}), rng)
    assert np.diff(blurred.astype(float), axis=1).std() < np.diff(crop.astype(float), axis=1).std()
    occluded = photometric(
        crop, AugmentSettings(**{**NO_PHOTOMETRIC, "occlusion_probability": 1.0, "occlusion_size": 0.3}), rng
    )
    rows, cols = np.nonzero((occluded != crop).any(-1))
    assert 0 < rows.max() - rows.min() + 1 <= 0.3 * SIZE + 1 and 0 < cols.max() - cols.min() + 1 <= 0.3 * SIZE + 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"scale": (1.2, 0.8)}, "scale"),
        ({"scale": (0.0, 1.0)}, "scale"),
        ({"scale": 1.0}, "scale"),
        ({"rotation": -5}, "rotation"),
        ({"rotation": float("nan")}, "rotation"),
        ({"translation": 2}, "translation"),
        ({"box_jitter": 0.5}, "box_jitter"),
        ({"flip": 1.5}, "flip"),
        ({"brightness": 1.2}, "brightness"),
        ({"contrast": "0.2"}, "contrast"),
        ({"saturation": True}, "saturation"),
        ({"blur_probability": -0.1}, "blur_probability"),
        ({"blur_sigma": 0.0}, "blur_sigma"),
        ({"occlusion_probability": 2}, "occlusion_probability"),
        ({"occlusion_size": 1.5}, "occlusion_size"),
    ],
)
def test_bad_settings_name_the_field_and_value(settings, field):
    value = next(iter(settings.values()))
    with pytest.raises(ValueError, match=rf"AugmentSettings\.{field} .*{re.escape(repr(value))}"):
        AugmentSettings(**settings)


def test_apply_transform_checks_shapes_and_permutation():
    image, matrix = np.zeros((50, 50, 3), np.uint8), crop_matrix((25, 25), (40, 40), 16)
    with pytest.raises(ValueError, match="keypoints must be"):
        apply_transform(image, np.zeros((5, 3)), np.ones(5, bool), matrix, False, range(5), 16)
    with pytest.raises(ValueError, match="flip_permutation"):
        apply_transform(image, np.zeros((5, 2)), np.ones(5, bool), matrix, True, (0, 1, 2), 16)


def test_warp_matches_apply_transform():
    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, size=(120, 160, 3), dtype=np.uint8)
    matrix, flipped = sample_transform((30, 20, 130, 110), (120, 160), SIZE, 1.25, FLIPPED, rng)
    crop, _, _ = apply_transform(image, np.zeros((1, 2)), np.ones(1, bool), matrix, flipped, (0,), SIZE)
    np.testing.assert_array_equal(crop, warp_affine(image, matrix, SIZE))


def test_a_detector_like_box_zooms_out_and_moves_the_crop():
    box, image_size, rng = (100.0, 100.0, 200.0, 200.0), (400, 400), np.random.default_rng(0)
    plain, _ = sample_transform(box, image_size, 128, 1.25, AugmentSettings.none(), rng)
    settings = dataclasses.replace(
        AugmentSettings.none(), detector_box_probability=1.0, detector_box_scale=(1.5, 1.5), detector_box_shift=0.2
    )
    matrix, _ = sample_transform(box, image_size, 128, 1.25, settings, np.random.default_rng(0))
    assert matrix[0, 0] == pytest.approx(plain[0, 0] / 1.5) and matrix[1, 1] == pytest.approx(plain[1, 1] / 1.5)
    box_centre = transform_points(matrix, np.array([150.0, 150.0]))
    # the square moved by up to 0.2 of the box side (100 px) along each axis: its centre sits there, the box's off it
    assert np.abs(box_centre - 63.5).max() <= 0.2 * 100 * matrix[0, 0] + 1e-9
    assert np.abs(box_centre - 63.5).max() > 0


def test_detector_like_boxes_at_probability_zero_leave_the_draws_unchanged():
    box, image_size = (100.0, 100.0, 200.0, 200.0), (400, 400)
    settings = dataclasses.replace(AugmentSettings(), detector_box_probability=0.0, detector_box_scale=(2.0, 3.0))
    first = sample_transform(box, image_size, 128, 1.25, AugmentSettings(), np.random.default_rng(5))
    second = sample_transform(box, image_size, 128, 1.25, settings, np.random.default_rng(5))
    np.testing.assert_array_equal(first[0], second[0])


@pytest.mark.parametrize("bad", [{"detector_box_scale": (1.5, 1.0)}, {"detector_box_scale": 1.2},
                                 {"detector_box_probability": 1.5}, {"detector_box_shift": -0.1}])
def test_bad_detector_box_settings_are_named(bad):
    with pytest.raises(ValueError, match=f"AugmentSettings.{next(iter(bad))}"):
        AugmentSettings(**bad)


# The degradations of faces in the wild (grayscale, defocus, motion blur, downscale, noise, JPEG).

NONE = AugmentSettings.none()


def only(**settings) -> AugmentSettings:
    """No augmentation but ``settings``."""
    return dataclasses.replace(NONE, **settings)


def point_image(size: int = 31) -> np.ndarray:
    """(size, size, 3) black with one white pixel at the centre."""
    image = np.zeros((size, size, 3), np.uint8)
    image[size // 2, size // 2] = 255
    return image


def test_grayscale_puts_the_luma_in_every_channel():
    crop = np.random.default_rng(0).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    out = photometric(crop, only(grayscale_probability=1.0), np.random.default_rng(0))
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert np.abs(out[..., 0] - grey(crop)).max() < 1  # rounded by OpenCV in float32


def test_downscale_destroys_fine_detail_and_keeps_the_size():
    y, x = np.mgrid[:SIZE, :SIZE]
    board = np.repeat(((x + y) % 2 * 255).astype(np.uint8)[..., None], 3, axis=2)
    for seed in range(5):
        out = photometric(board, only(downscale_probability=1.0, downscale_min=0.25), np.random.default_rng(seed))
        assert out.shape == board.shape and out.dtype == np.uint8
        # mean step between neighbours: 255 on the checkerboard, a few grey levels once it is averaged away
        assert np.abs(np.diff(out.astype(float), axis=1)).mean() < 0.1 * 255


@pytest.mark.parametrize(
    "settings",
    [
        {"downscale_probability": 1.0, "downscale_min": 0.2},
        {"defocus_probability": 1.0, "defocus_radius": 5.0},
        {"motion_blur_probability": 1.0, "motion_blur_length": 15.0},
    ],
)
def test_resampling_and_blurs_move_no_landmark(settings, centroid):
    y, x = np.mgrid[:SIZE, :SIZE]
    blob = np.rint(200 * np.exp(-((x - 47.3) ** 2 + (y - 40.6) ** 2) / (2 * 5.0**2))).astype(np.uint8)
    image = np.repeat(blob[..., None], 3, axis=2)
    for seed in range(4):
        out = photometric(image, only(**settings), np.random.default_rng(seed))
        assert not np.array_equal(out, image)
        assert np.abs(centroid(out) - centroid(image)).max() < 0.02


def test_motion_blur_spreads_a_point_along_a_line():
    image, length = point_image(), 9.0
    settings = only(motion_blur_probability=1.0, motion_blur_length=length)
    for seed in range(5):
        out = photometric(image, settings, np.random.default_rng(seed))
        rows, cols = np.nonzero(out[..., 0])
        weights = out[rows, cols, 0].astype(float)
        offsets = np.stack([cols, rows], axis=1) - 15.0
        assert abs(weights.sum() - 255) <= 0.5 * len(weights)  # normalised: the light is kept
        # along the principal axis the line spans 3 to 9 pixels; across it, under one pixel
        _, axes = np.linalg.eigh(np.cov(offsets.T, aweights=weights))
        along, across = offsets @ axes[:, 1], offsets @ axes[:, 0]
        assert 2 <= np.ptp(along) <= length and np.abs(across).max() <= 1.0


def test_defocus_spreads_a_point_into_a_disk():
    image, radius = point_image(), 4.0
    for seed in range(5):
        out = photometric(image, only(defocus_probability=1.0, defocus_radius=radius), np.random.default_rng(seed))
        value = out[..., 0].astype(int)
        lit = value > 0
        y, x = np.mgrid[:31, :31]
        distance = np.hypot(x - 15, y - 15)
        farthest = distance[lit].max()
        assert 1 <= farthest <= radius + 0.5 and lit[distance <= farthest - 1].all()  # round and filled
        assert np.abs(value - np.rot90(value)).max() <= 1 and np.abs(value - value.T).max() <= 1


def test_line_and_disk_kernels():
    from h3r.data.augment import _disk_kernel, _line_kernel

    np.testing.assert_allclose(_line_kernel(5, 0.0)[3], [0, 0.2, 0.2, 0.2, 0.2, 0.2, 0], atol=1e-12)
    for length in (5.5, 9.0, 14.0):
        for angle in (0.3, np.pi / 4, 2.0):
            kernel = _line_kernel(length, angle)
            n = len(kernel) // 2
            y, x = np.mgrid[-n : n + 1, -n : n + 1]
            along, across = x * np.cos(angle) + y * np.sin(angle), y * np.cos(angle) - x * np.sin(angle)
            np.testing.assert_array_equal(kernel, kernel[::-1, ::-1])
            assert kernel.sum() == pytest.approx(1)
            assert np.sqrt(12 * (kernel * along**2).sum()) == pytest.approx(length, abs=0.4)  # a box of that length
            assert np.sqrt((kernel * across**2).sum()) < 0.35
    for radius in (1.0, 2.5, 4.0):
        kernel = _disk_kernel(radius)
        n = len(kernel) // 2
        distance = np.hypot(*np.mgrid[-n : n + 1, -n : n + 1])
        assert kernel.sum() == pytest.approx(1)
        np.testing.assert_allclose(kernel[distance <= radius - 0.5], kernel.max())
        assert (kernel[distance >= radius + 0.5] == 0).all()


def test_jpeg_loses_more_at_low_quality():
    y, x = np.mgrid[:SIZE, :SIZE]
    smooth = np.stack([x * 2, y * 2, (x + y)], axis=2).astype(np.uint8)
    errors = []
    for quality in (5, 95):
        out = photometric(smooth, only(jpeg_probability=1.0, jpeg_quality=(quality, quality)), np.random.default_rng(0))
        assert out.shape == smooth.shape and out.dtype == np.uint8
        errors.append(np.abs(out.astype(int) - smooth).mean())
    assert errors[0] > 2 * errors[1] and 0 < errors[1] < 1.5


def test_noise_has_the_given_sigma():
    grey_crop = np.full((SIZE, SIZE, 3), 128, np.uint8)
    out = photometric(grey_crop, only(noise_probability=1.0, noise_sigma=10.0), np.random.default_rng(0))
    noise = out.astype(float) - 128
    assert noise.std() == pytest.approx(10, abs=0.3) and abs(noise.mean()) < 0.3


STRONG_BUT_OFF = {"downscale_min": 0.1, "motion_blur_length": 20.0, "defocus_radius": 6.0, "noise_sigma": 30.0,
                  "jpeg_quality": (1, 5)}


def test_degradations_at_probability_zero_change_nothing_whatever_their_strength():
    from h3r.data.augment import _happens

    crop = np.random.default_rng(0).integers(0, 256, size=(SIZE, SIZE, 3), dtype=np.uint8)
    assert photometric(crop, AugmentSettings(**NO_PHOTOMETRIC, **STRONG_BUT_OFF), np.random.default_rng(1)) is crop
    first, second = np.random.default_rng(2), np.random.default_rng(2)
    plain = photometric(crop, AugmentSettings(), first)
    np.testing.assert_array_equal(photometric(crop, AugmentSettings(**STRONG_BUT_OFF), second), plain)
    # an off degradation draws nothing, so settings without degradations draw as before they existed
    rng = np.random.default_rng(3)
    assert not _happens(0.0, rng) and rng.random() == np.random.default_rng(3).random()


WILD = AugmentSettings(
    grayscale_probability=0.5, downscale_probability=0.5, motion_blur_probability=0.5, defocus_probability=0.5,
    noise_probability=0.5, jpeg_probability=0.5,
)


@pytest.mark.parametrize("shape", [(SIZE, SIZE, 3), (1, 1, 3), (2, 7, 3), (40, 24, 3)])
def test_degradations_are_reproducible_and_leave_the_input_alone(shape):
    crop = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    before = crop.copy()
    outs = [photometric(crop, WILD, np.random.default_rng(seed)) for seed in (3, 3, 4, 5, 6)]
    np.testing.assert_array_equal(outs[0], outs[1])
    assert all(out.shape == shape and out.dtype == np.uint8 for out in outs)
    np.testing.assert_array_equal(crop, before)
    mirrored = crop[:, ::-1]  # a view, not contiguous
    np.testing.assert_array_equal(photometric(mirrored, WILD, np.random.default_rng(3)),
                                  photometric(mirrored.copy(), WILD, np.random.default_rng(3)))


@pytest.mark.parametrize(
    ("settings", "field", "value"),
    [
        ({"grayscale_probability": 1.5}, "grayscale_probability", 1.5),
        ({"downscale_probability": -0.1}, "downscale_probability", -0.1),
        ({"downscale_min": 1.5}, "downscale_min", 1.5),
        ({"downscale_probability": 0.5, "downscale_min": 0.0}, "downscale_min", 0.0),
        ({"motion_blur_probability": 0.5, "motion_blur_length": 2.0}, "motion_blur_length", 2.0),
        ({"motion_blur_length": float("inf")}, "motion_blur_length", float("inf")),
        ({"defocus_probability": 0.5, "defocus_radius": 0.5}, "defocus_radius", 0.5),
        ({"noise_probability": 0.5, "noise_sigma": 0.0}, "noise_sigma", 0.0),
        ({"noise_sigma": -1.0}, "noise_sigma", -1.0),
        ({"jpeg_probability": 2}, "jpeg_probability", 2),
        ({"jpeg_quality": (90, 20)}, "jpeg_quality", (90, 20)),
        ({"jpeg_quality": (0, 50)}, "jpeg_quality", (0, 50)),
        ({"jpeg_quality": (20, 101)}, "jpeg_quality", (20, 101)),
        ({"jpeg_quality": (20.5, 90)}, "jpeg_quality", (20.5, 90)),
        ({"jpeg_quality": 50}, "jpeg_quality", 50),
    ],
)
def test_bad_degradation_settings_name_the_field_and_value(settings, field, value):
    with pytest.raises(ValueError, match=rf"AugmentSettings\.{field} .*{re.escape(repr(value))}"):
        AugmentSettings(**settings)
