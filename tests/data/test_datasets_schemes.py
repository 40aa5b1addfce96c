
import numpy as np
import pytest
import yaml
from shared_data import shared_path

from h3r.data.datasets import SCHEMES, LandmarkScheme, flip_keypoints, get_scheme, read_dataset, scheme_for_count
from h3r.models.official import WFLW_FLIP_PERMUTATION

# tests/data/conftest.py shadows the module name "conftest", so tests/conftest.py's helper is loaded by path.


@pytest.mark.parametrize("scheme", SCHEMES.values(), ids=SCHEMES)
def test_flip_permutation_is_an_involution_and_flipping_twice_is_identity(scheme):
    permutation = np.array(scheme.flip_permutation)
    assert sorted(permutation) == list(range(scheme.num_landmarks))
    np.testing.assert_array_equal(permutation[permutation], np.arange(scheme.num_landmarks))
    points = np.random.default_rng(0).uniform(0, 100, size=(3, scheme.num_landmarks, 2))
    np.testing.assert_allclose(flip_keypoints(flip_keypoints(points, 101, scheme), 101, scheme), points)


def test_flip_mirrors_x_about_the_image_centre_and_reorders():
    scheme = get_scheme("300w-68")
    points = np.zeros((68, 2))
    points[36] = (10.0, 20.0)  # the outer corner of the image-left eye
    flipped = flip_keypoints(points, 100, scheme)
    np.testing.assert_array_equal(flipped[45], (89.0, 20.0))  # becomes the outer corner of the other eye
    with pytest.raises(ValueError, match=r"keypoints must be \(\.\.\., 68, 2\)"):
        flip_keypoints(np.zeros((5, 2)), 100, scheme)


def test_ibug_68_permutation_pairs():
    permutation = get_scheme("300w-68").flip_permutation
    expected = {0: 16, 7: 9, 8: 8, 17: 26, 21: 22, 27: 27, 30: 30, 31: 35, 33: 33, 36: 45, 37: 44, 38: 43, 39: 42,
                40: 47, 41: 46, 48: 54, 51: 51, 55: 59, 57: 57, 60: 64, 62: 62, 65: 67, 66: 66}  # fmt: skip
    assert {i: permutation[i] for i in expected} == expected


def test_wflw_permutation_is_torchaligns_default():
    assert list(get_scheme("wflw-98").flip_permutation) == WFLW_FLIP_PERMUTATION


def test_lapa_permutation_is_the_one_of_the_authors_lapa_models():
    config = shared_path("official-h3r", "models", "lapa_mobilenet_128x128_p2", "config.yaml")
    assert list(get_scheme("lapa-106").flip_permutation) == yaml.safe_load(config.read_text())["INPUT"]["FLIP_ORDER"]


def _mirror_about_own_centre(points: np.ndarray, permutation) -> np.ndarray:
    """(N, K, 2) shapes mirrored, reordered, and moved back onto each shape's centroid."""
    mirrored = points.copy()
    mirrored[..., 0] *= -1
    mirrored = mirrored[:, list(permutation)]
    return mirrored - mirrored.mean(1, keepdims=True) + points.mean(1, keepdims=True)


def test_ibug_68_mirror_of_frontal_faces_matches_each_landmark():
    """On frontal 300-W faces, the mirrored shape's landmark i lands, on average, nearest to landmark i."""
    points = np.stack([s.keypoints for s in read_dataset(f"300w:{shared_path('300w-subset')}:train")])
    nose, left, right = points[:, 30, 0], points[:, 36, 0], points[:, 45, 0]
    frontal = points[np.abs((nose - left) - (right - nose)) < 0.1 * (right - left)]
    assert len(frontal) > 300
    mirrored = _mirror_about_own_centre(frontal, get_scheme("300w-68").flip_permutation)
    mean_distance = np.linalg.norm(mirrored[:, :, None] - frontal[:, None], axis=-1).mean(0)  # (K, K)
    np.testing.assert_array_equal(mean_distance.argmin(axis=1), np.arange(68))
    identity = _mirror_about_own_centre(frontal, range(68))
    assert np.diag(mean_distance).mean() < 0.25 * np.linalg.norm(identity - frontal, axis=-1).mean()


@pytest.mark.parametrize("dataset", ["wflw", "cofw", "aflw", "lapa", "300w"])
def test_mirror_of_the_most_frontal_fixture_face_is_close_to_the_face(dataset):
    faces = read_dataset(f"coco:{shared_path('fixtures', 'mmpose', dataset, f'test_{dataset}.json')}")
    points = np.stack([s.keypoints for s in faces])
    size = np.sqrt(np.prod(points.max(1) - points.min(1), axis=-1))
    error = np.linalg.norm(_mirror_about_own_centre(points, faces.scheme.flip_permutation) - points, axis=-1)
    unpermuted = np.linalg.norm(_mirror_about_own_centre(points, range(points.shape[1])) - points, axis=-1)
    best = np.argmin(error.mean(1) / size)
    assert error[best].mean() < 0.3 * unpermuted[best].mean()


def test_scheme_lookup_errors():
    assert scheme_for_count(19) is get_scheme("aflw-19")
    with pytest.raises(ValueError, match=r"no landmark scheme has 21 points; known counts: 68 \(300w-68\)"):
        scheme_for_count(21)
    with pytest.raises(ValueError, match="unknown landmark scheme 'helen-194'"):
        get_scheme("helen-194")


def test_scheme_validation():
    with pytest.raises(ValueError, match="must be an involution"):
        LandmarkScheme("bad", 3, (1, 2, 0), "box")
    with pytest.raises(ValueError, match="must be a permutation of 0..2"):
        LandmarkScheme("bad", 3, (0, 1, 1), "box")
    with pytest.raises(ValueError, match="normalizer 'inter-pupil' must be one of"):
        LandmarkScheme("bad", 3, (2, 1, 0), "inter-pupil")
    assert get_scheme("300w-68").normalizers == ("inter-ocular", "inter-pupil")
    assert get_scheme("cofw-29").normalizers == ("inter-pupil", "inter-ocular")
    assert get_scheme("aflw-19").normalizers == ("box",)


def test_normalizer_labels_name_the_points():
    assert get_scheme("mtfl-5").normalizer_label() == "inter-ocular (eye centres)"
    assert get_scheme("300w-68").normalizer_label("inter-pupil") == "inter-pupil (eye-contour centres)"
    assert get_scheme("cofw-29").normalizer_label() == "inter-pupil (pupils)"
    assert get_scheme("aflw-19").normalizer_label() == "box"
    with pytest.raises(ValueError, match=r"eye_point_names \['inter-pupil'\] name no eye_points"):
        LandmarkScheme("bad", 2, (1, 0), "inter-ocular", {"inter-ocular": ((0,), (1,))}, {"inter-pupil": "pupils"})


def test_mtfl_5_mirrors_the_eyes_and_mouth_corners():
    assert get_scheme("mtfl-5").flip_permutation == (1, 0, 2, 4, 3) and scheme_for_count(5).name == "mtfl-5"
