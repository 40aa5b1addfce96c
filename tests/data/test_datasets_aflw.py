import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_aflw, read_dataset

HEADER = "image_name,scale,box_size,center_w,center_h," + ",".join(
    f"original_{i}_{axis}" for i in range(1, 20) for axis in "xy"
)
POINTS = np.arange(38.0).reshape(19, 2) + 0.25


def row(name: str, box_size: float = 40.0, center=(20.0, 30.0), points=POINTS) -> str:
    values = [box_size / 200, box_size, *center, *np.asarray(points).ravel()]
    return ",".join([name, *(repr(float(v)) for v in values)])


def write_csv(path: Path, rows: list[str], header: str | None = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(([header] if header else []) + rows) + "\n")
    return path


@pytest.fixture
def aflw(tmp_path) -> Path:
    """HRNet's layout: CSVs beside images/ (3 test faces, the first and last frontal; 1 training face)."""
    (tmp_path / "images" / "flickr" / "0").mkdir(parents=True)
    for name in ("a", "b"):
        Image.new("RGB", (50, 60)).save(tmp_path / "images" / "flickr" / "0" / f"{name}.jpg")
    test = [row("flickr/0/a.jpg"), row("flickr/0/b.jpg", center=(25.0, 30.0)), row("flickr/0/a.jpg", 20.0)]
    write_csv(tmp_path / "face_landmarks_aflw_test.csv", test)
    write_csv(tmp_path / "face_landmarks_aflw_test_frontal.csv", [test[0], test[2]])
    write_csv(tmp_path / "face_landmarks_aflw_train.csv", [row("flickr/0/b.jpg")])
    return tmp_path


def test_reads_points_as_given_and_box_from_box_size(aflw):
    dataset = read_dataset(f"aflw:{aflw}:test")
    assert dataset.name == "aflw:test" and dataset.scheme.name == "aflw-19" and len(dataset) == 3
    sample = dataset[0]
    np.testing.assert_allclose(sample.keypoints, POINTS)
    np.testing.assert_allclose(sample.box, [0.0, 10.0, 40.0, 50.0])
    assert sample.image_path == aflw / "images" / "flickr" / "0" / "a.jpg" and sample.load_image().shape == (60, 50, 3)
    assert [s.subsets for s in dataset] == [{"frontal"}, set(), {"frontal"}]
    assert [len(read_aflw(aflw, split)) for split in ("train", "frontal")] == [1, 2]
    assert all(s.subsets == {"frontal"} for s in read_aflw(aflw, "frontal"))


def test_header_order_and_headerless_files(aflw):
    reordered = "image_name,center_w,center_h,box_size,scale," + HEADER.split(",", 5)[5]
    values = row("flickr/0/a.jpg").split(",")
    moved = ",".join([values[0], values[3], values[4], values[2], values[1], *values[5:]])
    for path in (write_csv(aflw / "reordered.csv", [moved], reordered),
                 write_csv(aflw / "bare.csv", [row("flickr/0/a.jpg")], header=None)):  # fmt: skip
        sample = read_dataset(f"aflw:{path}")[0]
        np.testing.assert_allclose(sample.keypoints, POINTS)
        np.testing.assert_allclose(sample.box, [0.0, 10.0, 40.0, 50.0])


@pytest.mark.parametrize(
    "bad, message",
    [
        (row("flickr/0/a.jpg", points=POINTS[:18]), "expected 38 coordinates after the 5 leading columns, got 36"),
        (row("flickr/0/a.jpg").replace("0.25", "x", 1), "expected numbers"),
        (row("flickr/0/a.jpg").replace("0.25", "inf", 1), "NaN or infinite"),
        (row("flickr/0/a.jpg", box_size=0.0), "box_size must be positive"),
        (row("flickr/0/missing.jpg"), "image .*missing.jpg not found"),
    ],
)
def test_bad_rows_raise_naming_file_and_line_or_are_skipped(aflw, bad, message):
    path = write_csv(aflw / "face_landmarks_aflw_test.csv", [row("flickr/0/a.jpg"), bad])
    with pytest.raises(DatasetError, match=f"face_landmarks_aflw_test.csv:3: {message}"):
        read_aflw(aflw, "test")
    dataset = read_aflw(aflw, "test", skip_bad=True)
    assert len(dataset) == 1 and dataset.skipped[0][0] == f"{path}:3"


def test_dataset_errors(aflw):
    with pytest.raises(DatasetError, match="no split; aflw needs one of: train, test, frontal"):
        read_aflw(aflw)
    with pytest.raises(DatasetError, match="split 'test' given for one AFLW CSV file"):
        read_aflw(aflw / "face_landmarks_aflw_test.csv", "test")
    with pytest.raises(DatasetError, match="header lacks the column.s. box_size"):
        read_aflw(write_csv(aflw / "odd.csv", [row("flickr/0/a.jpg")], HEADER.replace("box_size", "size")))
    with pytest.raises(DatasetError, match="empty CSV file"):
        read_aflw(write_csv(aflw / "empty.csv", [], header=None))
    (aflw / "face_landmarks_aflw_train.csv").unlink()
    with pytest.raises(DatasetError, match="no AFLW CSV file; looked for .*face_landmarks_aflw_train.csv"):
        read_aflw(aflw, "train")


def test_agrees_with_mmpose_conversion_of_real_faces(tmp_path):
    """mmpose's AFLW JSON copies HRNet's CSV: same points, and its box_size/center give the same box."""
    fixture = shared_path("fixtures", "mmpose", "aflw", "test_aflw.json")
    data = json.loads(fixture.read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    rows = [
        row(files[a["image_id"]], a["box_size"], a["center"], np.array(a["keypoints"]).reshape(-1, 3)[:, :2])
        for a in data["annotations"]
    ]
    (tmp_path / "images").symlink_to(fixture.parent)
    ours = read_aflw(write_csv(tmp_path / "face_landmarks_aflw_test.csv", rows))
    theirs = read_dataset(f"coco:{fixture}")
    assert len(ours) == len(theirs) == 2
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.keypoints, other.keypoints)
        np.testing.assert_allclose(mine.box, other.box)
        assert mine.image_path.name == other.image_path.name
