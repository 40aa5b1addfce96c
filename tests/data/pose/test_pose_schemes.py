import numpy as np
import pytest
from pycocotools.cocoeval import Params

from h3r.data.pose import COCO_17, LSP_14, MPII_16, PoseScheme, get_pose_scheme


@pytest.mark.parametrize("scheme", [COCO_17, MPII_16, LSP_14])
def test_the_mirror_order_swaps_left_and_right_names(scheme):
    for joint, mirrored in zip(scheme.joints, np.array(scheme.joints)[list(scheme.flip_permutation)]):
        assert mirrored == joint.replace("left_", "@").replace("right_", "left_").replace("@", "right_")
    assert sorted(scheme.upper_body + scheme.lower_body) == list(range(scheme.num_landmarks))


def test_known_layouts():
    assert COCO_17.flip_permutation == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    assert LSP_14.flip_permutation == (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13)
    np.testing.assert_allclose(COCO_17.sigmas, Params(iouType="keypoints").kpt_oks_sigmas)
    assert LSP_14.torso == (9, 2) and MPII_16.torso == (13, 2)
    assert get_pose_scheme("lsp-14") is LSP_14


def test_bad_schemes_are_refused():
    with pytest.raises(ValueError, match="unknown pose scheme 'body-25'"):
        get_pose_scheme("body-25")
    with pytest.raises(ValueError, match="joint 'left_eye' has no mirror counterpart 'right_eye'"):
        PoseScheme("x", ("left_eye", "left_shoulder", "right_shoulder", "right_hip"), (), (1,), (1, 3), "torso")
    with pytest.raises(ValueError, match="has no joint 'tail'"):
        LSP_14.index("tail")
