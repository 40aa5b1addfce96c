import re

import numpy as np
import pytest
from scipy.io import loadmat, savemat
from shared_data import shared_path

from h3r.data.datasets import DatasetError, read_dataset
from h3r.data.pose import LSP_14, joint_box, read_lsp
from h3r.data.pose.lsp import holdout_split


def test_lsp_extended_reads_0_based_joints_and_hides_unlabelled_ones():
    root = shared_path("lspet-400")
    joints = loadmat(root / "joints.mat")["joints"]  # (14, 3, 400): x, y 1-based, 1 = visible
    people = read_lsp(root)
    assert len(people) == 400 and people.scheme is LSP_14
    for index in (0, 57, 399):
        sample, table = people.samples[index], joints[:, :, index]
        visible = table[:, 2] == 1
        np.testing.assert_array_equal(sample.visible, visible)
        np.testing.assert_allclose(sample.keypoints[visible], table[visible, :2] - 1)
        assert np.isnan(sample.keypoints[~visible]).all() and sample.occluded is None
        np.testing.assert_allclose(sample.box, joint_box(sample.keypoints, sample.visible))
        assert sample.image_path.name == f"im{index + 1:05d}.jpg"
    assert people.samples[0].load_image().ndim == 3


def test_the_fixed_split_holds_out_every_4th_image():
    root = shared_path("lspet-400")
    train, val = read_dataset(f"lsp:{root}:train"), read_dataset(f"lsp:{root}:val")
    assert (len(train), len(val)) == (300, 100)
    assert [s.image_path.name for s in val][:3] == ["im00004.jpg", "im00008.jpg", "im00012.jpg"]
    assert not {s.image_path for s in train} & {s.image_path for s in val}
    assert holdout_split(8, "val") == [3, 7] and holdout_split(8, None) == list(range(8))


def lsp_folder(tmp_path, joints, name="im0001.jpg"):
    """A folder with ``joints.mat`` and one real image named ``name``."""
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / name).write_bytes(shared_path("lspet-400", "images", "im00001.jpg").read_bytes())
    savemat(tmp_path / "joints.mat", {"joints": joints})
    return tmp_path


def points(count=1):
    """(14, 2, count) distinct 1-based joints."""
    grid = np.stack([np.arange(14) * 3.0 + 10, np.arange(14) * 5.0 + 20], axis=1)
    return np.repeat(grid[:, :, None], count, axis=2)


def test_original_lsp_layout_flags_occlusion_not_labelling(tmp_path):
    xy = points(2)  # (14, 2, 2)
    flags = np.zeros((14, 1, 2))
    flags[3, 0, 0] = 1  # joint 3 of image 1 occluded
    joints = np.concatenate([xy, flags], axis=1).transpose(1, 0, 2)  # (3, 14, 2): the LSP layout
    folder = lsp_folder(tmp_path, joints)
    (folder / "images" / "im0002.jpg").write_bytes((folder / "images" / "im0001.jpg").read_bytes())
    first, second = read_lsp(folder)
    assert first.visible.all() and first.occluded.tolist() == [k == 3 for k in range(14)]
    np.testing.assert_allclose(first.keypoints, xy[:, :, 0] - 1)
    assert not second.occluded.any() and second.image_path.name == "im0002.jpg"


def test_extended_layout_of_one_image(tmp_path):
    flags = np.ones((14, 1, 1))
    flags[5] = 0
    joints = np.concatenate([points(), flags], axis=1)[:, :, 0]  # (14, 3): MATLAB drops the trailing 1
    (sample,) = read_lsp(lsp_folder(tmp_path, joints, "im00001.jpg") / "joints.mat")
    assert sample.visible.sum() == 13 and np.isnan(sample.keypoints[5]).all()


@pytest.mark.parametrize(
    ("joints", "problem"),
    [
        (np.zeros((14, 2, 1)), "joints has shape (14, 2, 1); expected (3, 14, N) (LSP) or (14, 3, N) (LSP-extended)"),
        (np.concatenate([points(), np.full((14, 1, 1), 2.0)], axis=1), "image 1: visibility flags must be 0 or 1"),
        (np.concatenate([points() * np.nan, np.ones((14, 1, 1))], axis=1), "image 1: NaN or infinite joint"),
    ],
)
def test_bad_joint_files_name_the_file_and_the_problem(tmp_path, joints, problem):
    folder = lsp_folder(tmp_path, joints, "im00001.jpg")
    with pytest.raises(DatasetError, match=re.escape(f"{folder / 'joints.mat'}: {problem}")):
        read_lsp(folder)


def test_missing_variables_images_and_files(tmp_path):
    folder = lsp_folder(tmp_path, np.concatenate([points(), np.ones((14, 1, 1))], axis=1), "other.jpg")
    with pytest.raises(DatasetError, match="image 1: image im00001.jpg not found in"):
        read_lsp(folder)
    savemat(folder / "joints.mat", {"pose": np.zeros(3)})
    with pytest.raises(DatasetError, match=re.escape("no variable 'joints'; found ['pose']")):
        read_lsp(folder)
    (folder / "joints.mat").write_text("not a mat file")
    with pytest.raises(DatasetError, match="cannot read as a MATLAB file"):
        read_lsp(folder)
    with pytest.raises(DatasetError, match="unknown split"):
        read_lsp(folder, "test")
