import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_coco, read_dataset

FIXTURES = {"300w": ("300w-68", 2), "wflw": ("wflw-98", 4), "cofw": ("cofw-29", 2), "aflw": ("aflw-19", 2),
            "lapa": ("lapa-106", 2)}  # fmt: skip


@pytest.mark.parametrize("dataset", FIXTURES)
def test_reads_mmpose_fixtures(dataset):
    faces = read_dataset(f"coco:{shared_path('fixtures', 'mmpose', dataset, f'test_{dataset}.json')}")
    scheme, count = FIXTURES[dataset]
    assert faces.name == f"coco:test_{dataset}" and faces.scheme.name == scheme and len(faces) == count
    for face in faces:
        height, width = face.load_image().shape[:2]
        assert face.visible.all() and face.box is not None
        assert (face.keypoints > -0.5).all() and (face.keypoints < (width - 0.5, height - 0.5)).all()
    assert (faces[0].occluded is not None) == (dataset in ("cofw", "lapa"))  # the files that use v = 2


def test_300w_points_are_one_based_like_the_pts_files():
    """mmpose's 300-W points, minus 1, are the 0-based points the shared manifest gives for the same faces."""
    faces = read_dataset(f"coco:{shared_path('fixtures', 'mmpose', '300w', 'test_300w.json')}")
    manifest = json.loads(shared_path("300w-private", "manifest.json").read_text())["images"]
    for face in faces:
        entry = manifest[f"indoor/{face.image_path.stem}.jpg"]
        height, width = face.load_image().shape[:2]
        assert entry["source_size"] == [width, height]
        # The crop is the square `crop_box_edges` (edge coordinates) resampled by `scale`.
        corner = np.array(entry["crop_box_edges"][:2])
        source = corner + (np.array(entry["landmarks_0based"]) + 0.5) / entry["scale"] - 0.5
        np.testing.assert_allclose(face.keypoints, source, atol=1e-4)


def test_cofw_v1_is_occluded():
    faces = read_dataset(f"coco:{shared_path('fixtures', 'mmpose', 'cofw', 'test_cofw.json')}")
    data = json.loads(faces[0].image_path.with_name("test_cofw.json").read_text())
    flags = np.array(data["annotations"][0]["keypoints"][2::3])
    np.testing.assert_array_equal(faces[0].occluded, flags == 1)
    assert faces[0].visible.all() and faces[0].occluded.any()


def annotation(count: int = 19, **fields) -> dict:
    keypoints = np.column_stack([np.arange(count) + 1.0, np.arange(count) + 2.0, np.ones(count)])
    return {"id": 7, "image_id": 1, "keypoints": keypoints.ravel().tolist(), "bbox": [1, 2, 10, 20], **fields}


def write_json(path: Path, annotations: list, images=None) -> Path:
    images = [{"id": 1, "file_name": "face.png"}] if images is None else images
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": images, "annotations": annotations}))
    return path


@pytest.fixture
def folder(tmp_path) -> Path:
    Image.new("RGB", (30, 40)).save(tmp_path / "face.png")
    return tmp_path


def test_zero_based_schemes_are_kept_and_invisible_points_are_nan(folder):
    keypoints = annotation()["keypoints"]
    keypoints[2] = 0  # landmark 0 not annotated
    face = read_coco(write_json(folder / "a.json", [annotation(keypoints=keypoints)]))[0]
    assert not face.visible[0] and np.isnan(face.keypoints[0]).all() and face.visible[1:].all()
    np.testing.assert_allclose(face.keypoints[1:], np.column_stack([np.arange(1, 19) + 1.0, np.arange(1, 19) + 2.0]))
    np.testing.assert_allclose(face.box, [1, 2, 11, 22])
    assert face.occluded is None


def test_one_based_schemes_shift_points_and_box(folder):
    face = read_coco(write_json(folder / "a.json", [annotation(68)]))[0]
    np.testing.assert_allclose(face.keypoints[0], [0.0, 1.0])
    np.testing.assert_allclose(face.box, [0, 1, 10, 21])


def test_images_are_found_in_mmpose_layout(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (3, 3)).save(tmp_path / "images" / "face.png")
    path = write_json(tmp_path / "annotations" / "a.json", [annotation()])
    assert read_coco(path)[0].image_path == tmp_path / "images" / "face.png"


@pytest.mark.parametrize(
    "bad, message",
    [
        (annotation(68), r"68 landmarks, expected 19 \(aflw-19\)"),
        (annotation(keypoints=[0] * 56 + [3]), "visibility flags must be 0, 1 or 2"),
        (annotation(keypoints=["a"] * 57), "keypoints must be a list of numbers"),
        (annotation(keypoints=[float("nan")] + [1.0] * 56), "NaN or infinite landmark coordinates"),
        (annotation(bbox=[1, 2, 3]), "bbox must have 4 numbers"),
        (annotation(image_id=5), "image_id 5 is not among the file's images"),
        (annotation(box_size=40, center=[1, 2, 3]), "center must have 2 numbers"),
    ],
)
def test_bad_annotations_raise_naming_them_or_are_skipped(folder, bad, message):
    path = write_json(folder / "a.json", [annotation(), {**bad, "id": 9}])
    with pytest.raises(DatasetError, match=f"a.json: annotation 9: {message}"):
        read_coco(path)
    dataset = read_coco(path, skip_bad=True)
    assert len(dataset) == 1 and dataset.skipped[0][0] == f"{path}: annotation 9"


def test_annotation_that_is_not_an_object(folder):
    dataset = read_coco(write_json(folder / "a.json", [annotation(), "face"]), skip_bad=True)
    assert len(dataset) == 1 and dataset.skipped == [(f"{folder / 'a.json'}: annotation 1", "not a JSON object")]


def test_missing_image_is_named(folder):
    path = write_json(folder / "a.json", [annotation()], images=[{"id": 1, "file_name": "gone.jpg"}])
    with pytest.raises(DatasetError, match="annotation 7: image gone.jpg not found in"):
        read_coco(path)


def test_file_errors(folder):
    with pytest.raises(DatasetError, match=r"no landmark scheme has 17 points"):
        read_coco(write_json(folder / "body.json", [annotation(17)]))
    (folder / "broken.json").write_text("{")
    with pytest.raises(DatasetError, match="broken.json: not valid JSON"):
        read_coco(folder / "broken.json")
    (folder / "list.json").write_text("[]")
    with pytest.raises(DatasetError, match="expected a JSON object with lists 'images' and 'annotations'"):
        read_coco(folder / "list.json")
    with pytest.raises(DatasetError, match="no annotations"):
        read_coco(write_json(folder / "none.json", []))
    with pytest.raises(DatasetError, match="absent.json: cannot read"):
        read_coco(folder / "absent.json")
    with pytest.raises(DatasetError, match="coco files have no splits, got 'test'"):
        read_dataset(f"coco:{write_json(folder / 'a.json', [annotation()])}:test")
