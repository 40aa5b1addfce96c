import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_cofw, read_dataset

savemat = pytest.importorskip("scipy.io").savemat
RNG = np.random.default_rng(0)


def cofw_arrays(count: int = 3) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Images (colour, gray, colour...), 1-based phis (N, 87) with some occlusion flags, boxes (N, 4)."""
    shapes = [(20 + i, 30, 3) if i % 2 == 0 else (20 + i, 30) for i in range(count)]
    images = [RNG.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
    points = RNG.uniform(1, 20, size=(count, 2, 29))
    occlusion = (RNG.uniform(size=(count, 29)) < 0.3).astype(np.float64)
    phis = np.concatenate([points[:, 0], points[:, 1], occlusion], axis=1)
    boxes = np.tile([2.0, 3.0, 15.0, 12.0], (count, 1))
    return images, phis, boxes


def write_v5(path: Path, images, phis, boxes, suffix: str = "T") -> Path:
    cells = np.empty((len(images), 1), dtype=object)
    for i, image in enumerate(images):
        cells[i, 0] = image
    savemat(path, {f"Is{suffix}": cells, f"phis{suffix}": phis, f"bboxes{suffix}": boxes})
    return path


def write_v73(path: Path, images, phis, boxes, suffix: str = "T") -> Path:
    """MATLAB v7.3 layout: HDF5 after a 512-byte header, arrays stored transposed, cells as references."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as file:
        refs = file.create_group("#refs#")
        cells = [refs.create_dataset(f"image{i}", data=np.transpose(image)).ref for i, image in enumerate(images)]
        file.create_dataset(f"Is{suffix}", data=np.array([cells], dtype=h5py.ref_dtype))
        file.create_dataset(f"phis{suffix}", data=phis.T)
        file.create_dataset(f"bboxes{suffix}", data=boxes.T)
    with path.open("r+b") as file:
        file.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116))
        file.write(bytes(8) + b"\x00\x02IM")
    return path


@pytest.mark.parametrize("write", [write_v5, write_v73], ids=["v5", "v7.3"])
def test_reads_both_mat_layouts(tmp_path, write):
    images, phis, boxes = cofw_arrays()
    dataset = read_cofw(write(tmp_path / "COFW_test_color.mat", images, phis, boxes))
    assert dataset.name == "cofw:test" and dataset.scheme.name == "cofw-29" and len(dataset) == 3
    for sample, image, phi in zip(dataset, images, phis, strict=True):
        np.testing.assert_allclose(sample.keypoints, np.stack([phi[:29], phi[29:58]], axis=1) - 1)
        np.testing.assert_array_equal(sample.occluded, phi[58:] == 1)
        assert sample.visible.all() and sample.image_path == tmp_path / "COFW_test_color.mat"
        np.testing.assert_array_equal(sample.image, image)
        np.testing.assert_array_equal(sample.load_image(), image if image.ndim == 3 else np.stack([image] * 3, 2))
        np.testing.assert_array_equal(sample.box, [1.0, 2.0, 16.0, 14.0])


def test_v73_without_h5py_says_what_is_missing(tmp_path, monkeypatch):
    path = write_v73(tmp_path / "COFW_test_color.mat", *cofw_arrays(1))
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(DatasetError, match=r"MATLAB v7.3 \(HDF5\) file, which needs h5py"):
        read_cofw(path)


def test_folder_and_split(tmp_path):
    images, phis, boxes = cofw_arrays(2)
    write_v5(tmp_path / "COFW_train_color.mat", images, phis, boxes, suffix="Tr")
    write_v5(tmp_path / "COFW_test_color.mat", images[:1], phis[:1], boxes[:1])
    assert len(read_dataset(f"cofw:{tmp_path}:train")) == 2 and len(read_dataset(f"cofw:{tmp_path}:test")) == 1
    with pytest.raises(DatasetError, match="no split; cofw needs one of: train, test"):
        read_cofw(tmp_path)
    with pytest.raises(DatasetError, match="no variable IsTr, phisTr, bboxesTr"):
        read_cofw(tmp_path / "COFW_test_color.mat", "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no COFW .mat file; looked for .*COFW_test_color.mat, .*COFW_test.mat"):
        read_cofw(tmp_path / "empty", "test")
    with pytest.raises(DatasetError, match="absent.mat: no such .mat file"):
        read_cofw(tmp_path / "absent.mat")


@pytest.mark.parametrize("write", [write_v5, write_v73], ids=["v5", "v7.3"])
def test_bad_samples_are_named_or_skipped(tmp_path, write):
    images, phis, boxes = cofw_arrays(3)
    phis[1, 5] = np.nan
    images[2] = images[2].astype(np.float64)
    path = write(tmp_path / "COFW_test_color.mat", images, phis, boxes)
    with pytest.raises(DatasetError, match=r"COFW_test_color.mat: sample 1: NaN or infinite"):
        read_cofw(path)
    dataset = read_cofw(path, skip_bad=True)
    assert len(dataset) == 1
    assert [why.split(",")[0] for _, why in dataset.skipped] == [
        "NaN or infinite value in the landmarks or the box",
        "image must be uint8 (H",
    ]


def test_file_errors(tmp_path):
    images, phis, boxes = cofw_arrays(2)
    with pytest.raises(DatasetError, match=r"2 images, 1 annotations and 2 boxes"):
        read_cofw(write_v5(tmp_path / "count.mat", images, phis[:1], boxes))
    with pytest.raises(DatasetError, match=r"phisT must be N × 87"):
        read_cofw(write_v5(tmp_path / "width.mat", images, phis[:, :58], boxes))
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a MATLAB file at all" * 10)
    with pytest.raises(DatasetError, match="junk.mat: cannot read as a MATLAB file"):
        read_cofw(junk)
    with pytest.raises(DatasetError, match="cannot tell the split"):
        savemat(tmp_path / "empty.mat", {"x": np.zeros(1)})
        read_cofw(tmp_path / "empty.mat")


def test_agrees_with_mmpose_conversion_of_real_faces(tmp_path):
    """A .mat built from mmpose's COFW faces (raw 1-based points, v = 1 for occluded) reads like the JSON."""
    fixture = shared_path("fixtures", "mmpose", "cofw", "test_cofw.json")
    data = json.loads(fixture.read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    images, phis, boxes = [], [], []
    for annotation in data["annotations"]:
        images.append(np.array(Image.open(fixture.parent / files[annotation["image_id"]])))
        x, y, v = np.array(annotation["keypoints"]).reshape(-1, 3).T
        phis.append(np.concatenate([x, y, (v == 1).astype(float)]))
        boxes.append(annotation["bbox"])
    ours = read_cofw(write_v73(tmp_path / "COFW_test_color.mat", images, np.array(phis), np.array(boxes)))
    theirs = read_dataset(f"coco:{fixture}")
    assert len(ours) == len(theirs) == 2
    for mine, other in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.keypoints, other.keypoints)
        np.testing.assert_array_equal(mine.occluded, other.occluded)
        np.testing.assert_allclose(mine.box, other.box)
        np.testing.assert_array_equal(mine.load_image(), other.load_image())
    assert ours[1].occluded.any() and not ours[1].occluded.all()
