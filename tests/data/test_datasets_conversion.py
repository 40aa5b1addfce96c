import numpy as np
import pytest
from shared_data import shared_path

from h3r.data.datasets import (
    FaceDataset,
    FaceSample,
    convert_dataset,
    convert_landmarks,
    convert_visibility,
    find_conversion,
    flip_keypoints,
    get_scheme,
    read_dataset,
)
from h3r.data.datasets.conversion import CONVERSIONS


@pytest.mark.parametrize("pair", CONVERSIONS, ids=[f"{a}->{b}" for a, b in CONVERSIONS])
def test_each_target_point_is_a_mean_of_source_points_and_mirrors_with_them(pair):
    """Converting a mirrored face gives the mirror of the converted face: the layouts agree on left and right."""
    weights = CONVERSIONS[pair]
    source, target = map(get_scheme, pair)
    assert weights.shape == (target.num_landmarks, source.num_landmarks) and (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(axis=1), 1)
    points = np.random.default_rng(0).uniform(0, 100, (3, source.num_landmarks, 2))
    np.testing.assert_allclose(
        convert_landmarks(flip_keypoints(points, 101, source), source, target),
        flip_keypoints(convert_landmarks(points, source, target), 101, target),
    )


def test_wflw_98_to_300w_68_reproduces_the_68_point_wflw_list():
    root = shared_path("wflw-test-half")
    wflw_98, wflw_68 = read_dataset(f"wflw:{root}:test"), read_dataset(f"wflw-68:{root}:test")
    listed = {(face.image_path, tuple(face.box)): face.keypoints for face in wflw_68}
    converted = convert_dataset(wflw_98, "300w-68")
    assert len(converted) == 103 and converted.scheme.name == "300w-68"
    for face in converted:
        np.testing.assert_allclose(face.keypoints, listed[face.image_path, tuple(face.box)], rtol=0, atol=1e-9)


def test_300w_68_to_mtfl_5_by_hand():
    points = np.zeros((68, 2))
    points[36:42] = [[0, 0], [1, -1], [2, -1], [3, 0], [2, 1], [1, 1]]  # the eye on the image's left
    points[42:48] = points[36:42] + (10, 0)
    points[[30, 48, 54]] = [(6.5, 5), (2, 9), (11, 9)]
    expected = [(1.5, 0), (11.5, 0), (6.5, 5), (2, 9), (11, 9)]
    np.testing.assert_allclose(convert_landmarks(points, "300w-68", get_scheme("mtfl-5")), expected)
    np.testing.assert_allclose(convert_landmarks(np.stack([points] * 2), "300w-68", "mtfl-5"), [expected] * 2)


def test_wflw_98_to_mtfl_5_takes_the_pupils_and_otherwise_agrees_with_the_path_through_300w_68():
    points = np.random.default_rng(0).uniform(0, 100, (98, 2))
    direct = convert_landmarks(points, "wflw-98", "mtfl-5")
    np.testing.assert_array_equal(direct[:2], points[[96, 97]])
    through_68 = convert_landmarks(convert_landmarks(points, "wflw-98", "300w-68"), "300w-68", "mtfl-5")
    np.testing.assert_allclose(direct[2:], through_68[2:])


def test_conversions_compose_along_the_shortest_path(monkeypatch):
    monkeypatch.delitem(CONVERSIONS, ("wflw-98", "mtfl-5"))
    conversion = find_conversion("wflw-98", "mtfl-5")
    assert conversion.path == ("wflw-98", "300w-68", "mtfl-5") and conversion.name == "wflw-98 -> 300w-68 -> mtfl-5"
    np.testing.assert_allclose(conversion.weights, CONVERSIONS["300w-68", "mtfl-5"] @ CONVERSIONS["wflw-98", "300w-68"])
    points = np.random.default_rng(0).uniform(0, 100, (98, 2))
    two_steps = convert_landmarks(convert_landmarks(points, "wflw-98", "300w-68"), "300w-68", "mtfl-5")
    np.testing.assert_allclose(conversion.points(points), two_steps)
    assert find_conversion("mtfl-5", "mtfl-5").path == ("mtfl-5",)


def test_unknown_pairs_and_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="no landmark conversion from mtfl-5 to 300w-68; known: wflw-98 -> 300w-68, "):
        find_conversion("mtfl-5", "300w-68")
    with pytest.raises(ValueError, match="unknown landmark scheme 'helen-194'"):
        find_conversion("helen-194", "mtfl-5")
    with pytest.raises(ValueError, match=r"points must be \(\.\.\., K_source, D\) with K_source = 68 for 300w-68 -> "):
        convert_landmarks(np.zeros((98, 2)), "300w-68", "mtfl-5")


def test_a_target_point_is_visible_and_finite_only_where_all_its_source_points_are():
    points, visible = np.ones((68, 2)), np.ones(68, bool)
    points[37], visible[37] = np.nan, False  # an upper lid point of the eye on the image's left
    np.testing.assert_array_equal(convert_visibility(visible, "300w-68", "mtfl-5"), [False, True, True, True, True])
    converted = convert_landmarks(points, "300w-68", "mtfl-5")
    assert np.isnan(converted[0]).all() and np.isfinite(converted[1:]).all()


def test_convert_dataset_keeps_boxes_and_tags_and_flags_occlusion_of_any_source(tmp_path):
    occluded = np.zeros(68, bool)
    occluded[30] = True
    face = FaceSample(tmp_path / "a.jpg", np.ones((68, 2)), np.ones(68, bool), [0, 0, 9, 9], frozenset({"x"}), occluded)
    converted = convert_dataset(FaceDataset("faces", get_scheme("300w-68"), [face]), "mtfl-5")
    assert converted.name == "faces as mtfl-5" and converted.scheme.name == "mtfl-5"
    (result,) = converted
    assert result.keypoints.shape == (5, 2) and result.subsets == {"x"} and result.image_path == face.image_path
    np.testing.assert_array_equal(result.box, [0, 0, 9, 9])
    np.testing.assert_array_equal(result.occluded, [False, False, True, False, False])


def test_aflw_19_to_mtfl_5_orders_real_faces_like_mtfl():
    faces = read_dataset(f"coco:{shared_path('fixtures', 'mmpose', 'aflw', 'test_aflw.json')}")
    for face in faces:
        eyes_nose_mouth = convert_landmarks(face.keypoints, "aflw-19", "mtfl-5")
        assert eyes_nose_mouth[0, 0] < eyes_nose_mouth[1, 0] and eyes_nose_mouth[3, 0] < eyes_nose_mouth[4, 0]
        assert eyes_nose_mouth[:2, 1].max() < eyes_nose_mouth[2, 1] < eyes_nose_mouth[3:, 1].min()
