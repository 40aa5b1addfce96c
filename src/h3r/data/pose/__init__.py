"""Human pose datasets in their original formats, read into ``PoseDataset`` of ``PoseSample`` (one per person).

Dataset specs (``READER:PATH[:SPLIT]``, read by ``h3r.data.datasets.read_dataset`` like the face readers):

========== ========================================== ==============================================
reader     PATH                                       splits
========== ========================================== ==============================================
coco-pose  ``person_keypoints_*.json``                none (ground-truth person boxes)
mpii       HRNet's/mmpose's MPII JSON                 none
lsp        folder of ``joints.mat`` + ``images/``     train, val (every 4th image held out); none
========== ========================================== ==============================================

Detected person boxes (COCO) and MPII head boxes are arguments of ``read_coco_pose`` and ``read_mpii``.
"""

from collections.abc import Callable

from h3r.data.pose.base import PoseDataset, PoseSample, joint_box
from h3r.data.pose.coco import read_coco_pose
from h3r.data.pose.lsp import read_lsp
from h3r.data.pose.mpii import read_mpii
from h3r.data.pose.schemes import COCO_17, LSP_14, MPII_16, POSE_SCHEMES, PoseScheme, get_pose_scheme
from h3r.data.pose.training_set import PoseTrainingSet, half_body_box

__all__ = [
    "COCO_17",
    "LSP_14",
    "MPII_16",
    "POSE_READERS",
    "POSE_SCHEMES",
    "PoseDataset",
    "PoseSample",
    "PoseScheme",
    "PoseTrainingSet",
    "get_pose_scheme",
    "half_body_box",
    "joint_box",
    "read_coco_pose",
    "read_lsp",
    "read_mpii",
]

POSE_READERS: dict[str, Callable[..., PoseDataset]] = {"coco-pose": read_coco_pose, "mpii": read_mpii, "lsp": read_lsp}
