from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_dataset, read_mtfl

X, Y = [10.5, 20.0, 15.0, 11.0, 19.0], [12.0, 12.5, 18.0, 24.0, 24.5]


def line(image: str, x=X, y=Y) -> str:
    return " ".join([image, *map(str, x), *map(str, y)])


@pytest.fixture
def mtfl(tmp_path) -> Path:
    """An MTFL folder: two training faces (one listed with a Windows path), one 40×30 test crop."""
    for folder, size in (("lfw_5590", (32, 32)), ("net_7876", (32, 32)), ("AFLW", (40, 30))):
        (tmp_path / folder).mkdir()
        Image.new("RGB", size).save(tmp_path / folder / "a.jpg")
    windows_path = "net_7876\\a.jpg"
    (tmp_path / "new_training.txt").write_text(f"{line('lfw_5590/a.jpg')}\n{line(windows_path)}\n\n")
    (tmp_path / "new_testing.txt").write_text(line("AFLW/a.jpg") + "\n")
    return tmp_path


def test_reads_x_then_y_with_the_whole_crop_as_box_and_the_folder_as_subset(mtfl):
    dataset = read_dataset(f"mtfl:{mtfl}:test")
    assert dataset.name == "mtfl:test" and dataset.scheme.name == "mtfl-5" and len(dataset) == 1
    face = dataset[0]
    np.testing.assert_array_equal(face.keypoints, np.stack([X, Y], axis=1))
    np.testing.assert_array_equal(face.box, [-0.5, -0.5, 39.5, 29.5])
    assert face.subsets == {"AFLW"} and face.visible.all() and face.image_path == mtfl / "AFLW" / "a.jpg"


def test_either_path_separator_and_a_list_file_as_path(mtfl):
    train = read_mtfl(mtfl, "train")
    assert [face.subsets for face in train] == [{"lfw_5590"}, {"net_7876"}]
    assert train[1].image_path == mtfl / "net_7876" / "a.jpg"
    direct = read_dataset(f"mtfl:{mtfl / 'new_training.txt'}")
    assert direct.name == "mtfl:new_training" and len(direct) == 2


@pytest.mark.parametrize(
    "text, message",
    [
        (line("AFLW/a.jpg", X[:4]), r"expected 11 fields \(image, x1 … x5, y1 … y5\), got 10"),
        (line("AFLW/a.jpg", ["x", *X[1:]]), "expected numbers"),
        (line("AFLW/a.jpg", ["inf", *X[1:]]), "NaN or infinite"),
        (line("AFLW/missing.jpg"), "image .*missing.jpg not found"),
        (line("AFLW/bad.jpg"), "cannot read image .*bad.jpg"),
    ],
)
def test_bad_lines_raise_naming_file_and_line_or_are_skipped(mtfl, text, message):
    (mtfl / "AFLW" / "bad.jpg").write_bytes(b"not an image")
    path = mtfl / "new_testing.txt"
    path.write_text(f"{line('AFLW/a.jpg')}\n{text}\n")
    with pytest.raises(DatasetError, match=f"new_testing.txt:2: {message}"):
        read_mtfl(mtfl, "test")
    dataset = read_mtfl(mtfl, "test", skip_bad=True)
    assert len(dataset) == 1 and dataset.skipped[0][0] == f"{path}:2"


def test_dataset_errors(mtfl, tmp_path):
    with pytest.raises(DatasetError, match="no split; mtfl needs one of: train, test"):
        read_mtfl(mtfl)
    with pytest.raises(DatasetError, match="split 'test' given for one MTFL list file"):
        read_mtfl(mtfl / "new_testing.txt", "test")
    with pytest.raises(DatasetError, match="no MTFL list file; looked for .*new_testing.txt"):
        read_mtfl(tmp_path / "empty", "test")


def test_the_shared_aflw_test_faces():
    dataset = read_dataset(f"mtfl:{shared_path('mtfl-5pt')}:test")
    points = np.stack([face.keypoints for face in dataset])
    assert len(dataset) == 2995 and {tag for face in dataset for tag in face.subsets} == {"AFLW"}
    np.testing.assert_array_equal(dataset[0].box, [-0.5, -0.5, 79.5, 79.5])
    assert (points[:, 0, 0] < points[:, 1, 0]).mean() > 0.99  # the first eye is the one on the image's left
    assert (points[:, 3, 0] < points[:, 4, 0]).mean() > 0.99  # and so is the first mouth corner
    assert ((points > -0.5) & (points < 79.5)).all()
