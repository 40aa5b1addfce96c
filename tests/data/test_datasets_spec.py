from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from h3r.data.datasets import DatasetError, read_dataset


def write_face(folder: Path) -> None:
    folder.mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(folder / "face.jpg")
    (folder / "face.pts").write_text("\n".join(["1 2"] * 68))


def test_unknown_reader_and_missing_path():
    with pytest.raises(DatasetError, match="unknown reader 'ibug'; known: 300w, wflw, wflw-68, cofw, aflw, mtfl, coco"):
        read_dataset("ibug:/data")
    with pytest.raises(DatasetError, match=r"no path; expected wflw:PATH\[:SPLIT\]"):
        read_dataset("wflw")


def test_split_is_the_text_after_the_last_colon_unless_the_whole_path_exists(tmp_path):
    write_face(tmp_path / "a:b" / "ibug")
    dataset = read_dataset(f"300w:{tmp_path / 'a:b'}")
    assert dataset.name == "300w" and len(dataset) == 1
    np.testing.assert_array_equal(dataset[0].keypoints[0], [0.0, 1.0])
    assert read_dataset(f"300w:{tmp_path / 'a:b'}:challenging").name == "300w:challenging"
    with pytest.raises(DatasetError, match="unknown split 'bogus'; 300w needs one of"):
        read_dataset(f"300w:{tmp_path / 'a:b'}:bogus")
