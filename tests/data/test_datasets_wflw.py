import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_dataset, read_wflw

LISTS = Path("WFLW_annotations") / "list_98pt_rect_attr_train_test"


def line(points: np.ndarray, box, flags, image: str) -> str:
    return " ".join([*(f"{v:.6f}" for v in np.asarray(points).ravel()), *map(str, box), *map(str, flags), image])


def write_wflw(root: Path, split: str, lines: list[str]) -> Path:
    (root / LISTS).mkdir(parents=True, exist_ok=True)
    path = root / LISTS / f"list_98pt_rect_attr_{split}.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def wflw(tmp_path) -> Path:
    """A WFLW root with two test faces (the second with pose and blur flags) and one training face."""
    (tmp_path / "WFLW_images" / "1--Event").mkdir(parents=True)
    Image.new("RGB", (8, 6)).save(tmp_path / "WFLW_images" / "1--Event" / "a.jpg")
    points = np.arange(196.0).reshape(98, 2) / 10
    write_wflw(tmp_path, "test", [line(points, (1, 2, 7, 5), (0,) * 6, "1--Event/a.jpg"),
                                  line(points + 1, (0, 0, 8, 6), (1, 0, 0, 0, 0, 1), "1--Event/a.jpg")])  # fmt: skip
    write_wflw(tmp_path, "train", [line(points, (1, 2, 7, 5), (0, 0, 0, 1, 1, 0), "1--Event/a.jpg")])
    return tmp_path


def test_reads_points_as_given_with_box_and_attribute_subsets(wflw):
    dataset = read_dataset(f"wflw:{wflw}:test")
    assert dataset.name == "wflw:test" and dataset.scheme.name == "wflw-98" and len(dataset) == 2
    first, second = dataset
    np.testing.assert_allclose(first.keypoints, np.arange(196.0).reshape(98, 2) / 10)
    np.testing.assert_array_equal(first.box, [1, 2, 7, 5])
    assert first.subsets == frozenset() and second.subsets == {"pose", "blur"}
    assert first.visible.all() and first.occluded is None
    assert first.load_image().shape == (6, 8, 3)
    assert read_wflw(wflw, "train")[0].subsets == {"makeup", "occlusion"}


def test_list_file_or_annotation_folder_as_path(wflw):
    direct = read_dataset(f"wflw:{wflw / LISTS / 'list_98pt_rect_attr_train.txt'}")
    assert direct.name == "wflw:list_98pt_rect_attr_train" and len(direct) == 1
    assert len(read_wflw(wflw / LISTS, "test")) == 2


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda tokens: tokens[:-2] + tokens[-1:], "expected 207 fields"),
        (lambda tokens: ["x", *tokens[1:]], "expected numbers"),
        (lambda tokens: ["nan", *tokens[1:]], "NaN or infinite"),
        (lambda tokens: [*tokens[:-2], "2", tokens[-1]], r"attribute flags must be 0 or 1"),
        (lambda tokens: [*tokens[:-1], "1--Event/missing.jpg"], "image .*missing.jpg not found"),
    ],
)
def test_bad_lines_raise_naming_file_and_line_or_are_skipped(wflw, edit, message):
    path = wflw / LISTS / "list_98pt_rect_attr_test.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], " ".join(edit(lines[1].split()))]) + "\n")
    with pytest.raises(DatasetError, match=f"list_98pt_rect_attr_test.txt:2: {message}"):
        read_wflw(wflw, "test")
    dataset = read_wflw(wflw, "test", skip_bad=True)
    assert len(dataset) == 1 and dataset.skipped[0][0] == f"{path}:2"


def test_dataset_errors(wflw, tmp_path):
    with pytest.raises(DatasetError, match="no split; wflw needs one of: train, test"):
        read_wflw(wflw)
    with pytest.raises(DatasetError, match="unknown split 'val'"):
        read_dataset(f"wflw:{wflw}:val")
    with pytest.raises(DatasetError, match="split 'test' given for one WFLW list file"):
        read_wflw(wflw / LISTS / "list_98pt_rect_attr_test.txt", "test")
    with pytest.raises(DatasetError, match="no WFLW list file; looked for"):
        read_wflw(tmp_path / "empty", "test")


def test_list_file_without_images_folder(tmp_path):
    orphan = tmp_path / "list.txt"
    orphan.write_text("")
    with pytest.raises(DatasetError, match="no WFLW_images folder"):
        read_wflw(orphan)


def test_agrees_with_mmpose_conversion_of_real_faces(tmp_path):
    """mmpose's converter copies WFLW's coordinates unchanged, so both readers must give the same points."""
    fixture = shared_path("fixtures", "mmpose", "wflw", "test_wflw.json")
    data = json.loads(fixture.read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    (tmp_path / "WFLW_images").symlink_to(fixture.parent)
    lines = [
        line(np.array(a["keypoints"]).reshape(-1, 3)[:, :2], (0, 0, 1, 1), (0,) * 6, files[a["image_id"]])
        for a in data["annotations"]
    ]
    ours = read_wflw(write_wflw(tmp_path, "test", lines))
    theirs = read_dataset(f"coco:{fixture}")
    assert len(ours) == len(theirs) == 4
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.keypoints, other.keypoints, atol=1e-6)
        assert mine.image_path.name == other.image_path.name


LISTS_68 = Path("WFLW_annotations") / "list_68pt_rect_attr_train_test"


@pytest.fixture
def wflw_68(wflw) -> Path:
    """The WFLW root of ``wflw`` with a 68-point test list of one face (with the occlusion flag)."""
    (wflw / LISTS_68).mkdir(parents=True)
    points = np.arange(136.0).reshape(68, 2) / 10
    (wflw / LISTS_68 / "list_68pt_rect_attr_test.txt").write_text(
        line(points, (1, 2, 7, 5), (0, 0, 0, 0, 1, 0), "1--Event/a.jpg") + "\n"
    )
    return wflw


def test_68_point_lists_read_from_the_folder_or_told_by_their_field_count(wflw_68):
    by_folder = read_dataset(f"wflw-68:{wflw_68}:test")
    by_file = read_dataset(f"wflw:{wflw_68 / LISTS_68 / 'list_68pt_rect_attr_test.txt'}")
    assert by_folder.name == "wflw-68:test" and by_file.name == "wflw:list_68pt_rect_attr_test"
    for dataset in (by_folder, by_file):
        assert dataset.scheme.name == "300w-68" and len(dataset) == 1
        np.testing.assert_allclose(dataset[0].keypoints, np.arange(136.0).reshape(68, 2) / 10)
        np.testing.assert_array_equal(dataset[0].box, [1, 2, 7, 5])
        assert dataset[0].subsets == {"occlusion"}
    assert read_dataset(f"wflw:{wflw_68}:test").scheme.name == "wflw-98"


def test_a_line_of_the_other_point_count_is_a_clear_error(wflw_68):
    """A list's point count is its first well-formed line's; wflw-68 expects 68 points in any file."""
    path = wflw_68 / LISTS_68 / "list_68pt_rect_attr_test.txt"
    with_98 = (wflw_68 / LISTS / "list_98pt_rect_attr_train.txt").read_text()
    path.write_text(path.read_text() + with_98)
    with pytest.raises(DatasetError, match=r"list_68pt_rect_attr_test.txt:2: expected 147 fields \(68 points: 136 "
                                           r"coordinates, box, 6 attributes, image\), got 207"):  # fmt: skip
        read_wflw(path)
    with pytest.raises(DatasetError, match=r"list_98pt_rect_attr_train.txt:1: expected 147 fields .*, got 207"):
        read_dataset(f"wflw-68:{wflw_68 / LISTS / 'list_98pt_rect_attr_train.txt'}")
    with pytest.raises(DatasetError, match="no WFLW list file; looked for .*list_68pt_rect_attr_train.txt"):
        read_dataset(f"wflw-68:{wflw_68}:train")
    with pytest.raises(ValueError, match="points must be one of 98, 68, got 5"):
        read_wflw(wflw_68, "test", points=5)
