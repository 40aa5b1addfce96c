"""Human pose schemes: joint names, mirror order, skeleton, body halves, torso and COCO's OKS sigmas.

Indices are 0-based. Unlike the face schemes, "left" and "right" are the person's own sides, as every
pose dataset names them: a person facing the camera has the right shoulder on the image's left. A
mirrored image shows a person whose left is the original's right, so each ``left_*`` joint swaps with
its ``right_*`` counterpart; the mirror order is derived from the names, never written by hand.

Layouts:
    - coco-17: COCO keypoints (the order of ``categories[0].keypoints`` in ``person_keypoints_*.json``),
      with COCO's skeleton and its per-joint OKS sigmas (pycocotools' ``kpt_oks_sigmas``).
    - mpii-16: MPII Human Pose as HRNet and mmpose number it (0 right ankle … 15 left wrist).
    - lsp-14: Leeds Sports Pose and LSP-extended (``joints.mat`` order).

Body halves (for half-body augmentation) are HRNet's for MPII and COCO; for LSP the arms, shoulders,
neck and head are the upper half, the legs and hips the lower.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["COCO_17", "LSP_14", "MPII_16", "POSE_SCHEMES", "PoseScheme", "get_pose_scheme"]

_SIDES = (("left_", "right_"), ("right_", "left_"))


@dataclass(frozen=True)
class PoseScheme:
    """A body joint layout.

    Attributes:
        name: e.g. ``"coco-17"``.
        joints: the K joint names, ``left_*``/``right_*`` for paired joints (the person's sides).
        skeleton: (a, b) joint index pairs, the limbs to draw.
        upper_body: indices of the upper half (half-body augmentation); the other joints are
            ``lower_body``.
        torso: (left shoulder, right hip), whose distance is the torso size of PCK on LSP.
        normalizer: what the dataset's metric divides distances by: ``"torso"`` (LSP's PCK), ``"head"``
            (MPII's PCKh), ``"oks-area"`` (COCO's OKS); the face schemes' attribute of the same name.
        sigmas: COCO's per-joint OKS sigmas (K floats), or None where the dataset defines none.
        flip_permutation: derived from the names: joint ``i`` of the mirrored person is joint
            ``flip_permutation[i]`` of the person; an involution of ``range(K)``.
        lower_body: the joints not in ``upper_body``.
    """

    name: str
    joints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    upper_body: tuple[int, ...]
    torso: tuple[int, int]
    normalizer: str
    sigmas: tuple[float, ...] | None = None
    flip_permutation: tuple[int, ...] = field(init=False)
    lower_body: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        count = len(self.joints)
        if len(set(self.joints)) != count:
            raise ValueError(f"{self.name}: joint names must be unique, got {self.joints}")
        indices = [i for pair in self.skeleton for i in pair] + [*self.upper_body, *self.torso]
        if not all(isinstance(i, int) and 0 <= i < count for i in indices):
            raise ValueError(f"{self.name}: joint indices must lie in 0..{count - 1}")
        if self.sigmas is not None and (len(self.sigmas) != count or min(self.sigmas) <= 0):
            raise ValueError(f"{self.name}: sigmas must be {count} positive numbers, got {self.sigmas}")
        permutation = tuple(self.joints.index(_mirror_name(name, self.joints, self.name)) for name in self.joints)
        if not (np.array(permutation)[list(permutation)] == np.arange(count)).all():
            raise ValueError(f"{self.name}: the mirror order {permutation} is not an involution")
        object.__setattr__(self, "flip_permutation", permutation)
        object.__setattr__(self, "lower_body", tuple(i for i in range(count) if i not in self.upper_body))

    @property
    def num_landmarks(self) -> int:
        """K, under the name the face schemes use, so that code written for both reads either."""
        return len(self.joints)

    def index(self, joint: str) -> int:
        """The index of the joint called ``joint``.

        Examples:
            >>> LSP_14.index("head_top")
            13
        """
        if joint not in self.joints:
            raise ValueError(f"{self.name} has no joint {joint!r}; its joints: {', '.join(self.joints)}")
        return self.joints.index(joint)


def _mirror_name(name: str, joints: Sequence[str], scheme: str) -> str:
    """The name of the joint that ``name`` becomes in a mirrored image (itself for central joints)."""
    for side, other in _SIDES:
        if name.startswith(side):
            mirrored = other + name[len(side) :]
            if mirrored not in joints:
                raise ValueError(f"{scheme}: joint {name!r} has no mirror counterpart {mirrored!r}")
            return mirrored
    return name


def _build(
    name: str,
    joints: Sequence[str],
    limbs: Sequence[tuple[str, str]],
    upper_body: Sequence[str],
    normalizer: str,
    sigmas: Sequence[float] | None = None,
) -> PoseScheme:
    """A scheme from names: ``limbs`` and ``upper_body`` name joints, turned into indices here."""
    joints = tuple(joints)
    unknown = ({joint for limb in limbs for joint in limb} | set(upper_body)) - set(joints)
    if unknown:
        raise ValueError(f"{name}: unknown joint names {sorted(unknown)}")
    return PoseScheme(
        name=name,
        joints=joints,
        skeleton=tuple((joints.index(a), joints.index(b)) for a, b in limbs),
        upper_body=tuple(joints.index(joint) for joint in upper_body),
        torso=(joints.index("left_shoulder"), joints.index("right_hip")),
        normalizer=normalizer,
        sigmas=None if sigmas is None else tuple(sigmas),
    )


def _sided(*parts: str) -> list[str]:
    return [f"{side}_{part}" for part in parts for side in ("left", "right")]


_COCO_JOINTS = ("nose", *_sided("eye", "ear", "shoulder", "elbow", "wrist", "hip", "knee", "ankle"))

COCO_17 = _build(
    "coco-17",
    _COCO_JOINTS,
    limbs=[
        ("left_ankle", "left_knee"),
        ("left_knee", "left_hip"),
        ("right_ankle", "right_knee"),
        ("right_knee", "right_hip"),
        ("left_hip", "right_hip"),
        ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"),
        ("left_shoulder", "right_shoulder"),
        ("left_shoulder", "left_elbow"),
        ("right_shoulder", "right_elbow"),
        ("left_elbow", "left_wrist"),
        ("right_elbow", "right_wrist"),
        ("left_eye", "right_eye"),
        ("nose", "left_eye"),
        ("nose", "right_eye"),
        ("left_eye", "left_ear"),
        ("right_eye", "right_ear"),
        ("left_ear", "left_shoulder"),
        ("right_ear", "right_shoulder"),
    ],
    upper_body=_COCO_JOINTS[:11],
    normalizer="oks-area",
    # pycocotools' kpt_oks_sigmas, computed as it computes them (the same float64 numbers)
    sigmas=tuple((np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89])
                  / 10.0).tolist()),
)  # fmt: skip

# MPII and LSP number the legs alike, from the right ankle up and the left hip down; likewise the arms.
_LEGS = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle")
_ARMS = ("right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")
_LEG_LIMBS = [("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("left_ankle", "left_knee"),
              ("left_knee", "left_hip")]  # fmt: skip
_ARM_LIMBS = [("right_wrist", "right_elbow"), ("right_elbow", "right_shoulder"), ("left_wrist", "left_elbow"),
              ("left_elbow", "left_shoulder")]  # fmt: skip

_MPII_JOINTS = (
    *_LEGS,
    "pelvis",
    "thorax",
    "upper_neck",
    "head_top",
    *_ARMS,
)

MPII_16 = _build(
    "mpii-16",
    _MPII_JOINTS,
    limbs=[
        *_LEG_LIMBS,
        ("right_hip", "pelvis"),
        ("left_hip", "pelvis"),
        ("pelvis", "thorax"),
        ("thorax", "upper_neck"),
        ("upper_neck", "head_top"),
        *_ARM_LIMBS,
        ("right_shoulder", "thorax"),
        ("left_shoulder", "thorax"),
    ],
    upper_body=_MPII_JOINTS[7:],
    normalizer="head",
)

_LSP_JOINTS = (*_LEGS, *_ARMS, "neck", "head_top")

LSP_14 = _build(
    "lsp-14",
    _LSP_JOINTS,
    limbs=[
        *_LEG_LIMBS,
        ("right_hip", "left_hip"),
        ("right_shoulder", "right_hip"),
        ("left_shoulder", "left_hip"),
        *_ARM_LIMBS,
        ("right_shoulder", "neck"),
        ("left_shoulder", "neck"),
        ("neck", "head_top"),
    ],
    upper_body=_LSP_JOINTS[6:],
    normalizer="torso",
)

POSE_SCHEMES = {scheme.name: scheme for scheme in (COCO_17, MPII_16, LSP_14)}


def get_pose_scheme(name: str) -> PoseScheme:
    """The pose scheme called ``name`` (a key of ``POSE_SCHEMES``).

    Examples:
        >>> get_pose_scheme("mpii-16").flip_permutation
        (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10)
    """
    if name not in POSE_SCHEMES:
        raise ValueError(f"unknown pose scheme {name!r}; known: {', '.join(POSE_SCHEMES)}")
    return POSE_SCHEMES[name]
