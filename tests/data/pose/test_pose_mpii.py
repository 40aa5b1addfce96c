import json
import re

import numpy as np
import pytest
from scipy.io import savemat
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_dataset
from h3r.data.pose import MPII_16, read_mpii


def fixture_file():
    return shared_path("fixtures", "mmpose", "mpii", "test_mpii.json")


def test_records_become_0_based_people_with_hrnet_boxes():
    records = json.loads(fixture_file().read_text())
    people = read_mpii(fixture_file())
    assert len(people) == 5 and people.scheme is MPII_16
    for record, sample in zip(records, people):
        visible = np.array(record["joints_vis"]) == 1
        np.testing.assert_array_equal(sample.visible, visible)
        np.testing.assert_allclose(sample.keypoints[visible], np.array(record["joints"])[visible] - 1)
        centre = np.array(record["center"]) - 1 + (0, 15 * record["scale"])
        half = 100 * record["scale"]
        np.testing.assert_allclose(sample.box, [*(centre - half), *(centre + half)])
        assert sample.image_path.name == record["image"] and sample.head_box is None
    assert people.samples[0].load_image().ndim == 3
    assert len(read_dataset(f"mpii:{fixture_file()}")) == 5


def ground_truth_mat(path, people, shift=0.0):
    """A gt_valid.mat-like file: head boxes, 1-based joints and missing flags of ``people``."""
    boxes = np.stack([[[10.0 + i, 20.0], [40.0 + i, 60.0]] for i in range(len(people))])  # (N, 2, 2), 1-based
    joints = np.stack([np.nan_to_num(p.keypoints, nan=-1.0) + 1 + shift for p in people])
    missing = np.stack([~p.visible for p in people])
    savemat(path, {"headboxes_src": boxes.transpose(1, 2, 0), "pos_gt_src": joints.transpose(1, 2, 0),
                   "jnt_missing": missing.T.astype(np.uint8)})  # fmt: skip
    return boxes - 1


def test_head_boxes_from_a_ground_truth_mat(tmp_path):
    people = read_mpii(fixture_file())
    boxes = ground_truth_mat(tmp_path / "gt_valid.mat", people)
    with_heads = read_mpii(fixture_file(), head_boxes=tmp_path / "gt_valid.mat")
    np.testing.assert_allclose(np.stack([p.head_box for p in with_heads]), boxes.reshape(-1, 4))
    ground_truth_mat(tmp_path / "other.mat", people, shift=0.5)
    with pytest.raises(DatasetError, match="record 0: joints differ from the head-box file's pos_gt_src by up to 0.5"):
        read_mpii(fixture_file(), head_boxes=tmp_path / "other.mat")
    savemat(tmp_path / "short.mat", {"headboxes_src": np.zeros((2, 2, 3))})
    with pytest.raises(DatasetError, match=re.escape("short.mat: headboxes_src must have shape (2, 2, 5)")):
        read_mpii(fixture_file(), head_boxes=tmp_path / "short.mat")


def write(tmp_path, records):
    (tmp_path / "a.jpg").write_bytes(shared_path("fixtures", "mmpose", "mpii", "052475643.jpg").read_bytes())
    path = tmp_path / "valid.json"
    path.write_text(json.dumps(records))
    return path


def record(**fields):
    joints = {"joints": [[5.0, 6.0]] * 16, "joints_vis": [1] * 16}
    return {"image": "a.jpg", **joints, "center": [20, 20], "scale": 0.2} | fields


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"joints": [[5.0, 6.0]] * 14}, "record 0: 14 joints, expected 16 (mpii-16)"),
        ({"joints_vis": [2] * 16}, "record 0: joints_vis must be 0 or 1, got [2.0]"),
        ({"joints": [[5.0, "x"]] * 16}, "record 0: joints must be numbers"),
        ({"joints": [[5.0, None]] * 16}, "record 0: NaN or infinite joint coordinates"),
        ({"image": "missing.jpg"}, "record 0: image missing.jpg not found in"),
        ({"center": [1, 2, 3]}, "record 0: center must have shape (2,)"),
    ],
)
def test_bad_records_name_the_file_and_the_record(tmp_path, fields, problem):
    path = write(tmp_path, [record(**fields)])
    with pytest.raises(DatasetError, match=re.escape(f"{path}: {problem}")):
        read_mpii(path)
    assert len(read_mpii(path, skip_bad=True).skipped) == 1


def test_test_records_without_joints_and_bad_files(tmp_path):
    path = write(tmp_path, [{"image": "a.jpg", "center": [20, 20], "scale": 0.2}])
    (sample,) = read_mpii(path)
    assert not sample.visible.any() and np.isnan(sample.keypoints).all()
    path.write_text(json.dumps({"image": "a.jpg"}))
    with pytest.raises(DatasetError, match=f"{path}: expected a JSON list, got dict"):
        read_mpii(path)
    with pytest.raises(DatasetError, match="MPII JSON files have no splits"):
        read_mpii(path, "valid")
