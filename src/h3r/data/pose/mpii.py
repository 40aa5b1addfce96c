"""MPII Human Pose in its common JSON form (HRNet's ``annot/{train,valid}.json``, mmpose's ``mpii_*.json``).

The file is a list of records, one per person: ``image`` (file name), ``joints`` (16 × [x, y]),
``joints_vis`` (16 × 0/1), ``center`` ([x, y]) and ``scale`` (person height / 200 px: ``200 · scale`` is
the side of the person's square box). Test files may lack ``joints`` and ``joints_vis``.

Conventions:
    - The JSON keeps MPII's MATLAB coordinates, 1-based: HRNet, which wrote these files, subtracts 1
      from joints and centre, and its PCKh evaluation adds 1 to predictions before comparing them with
      ``gt_valid.mat``. The reader subtracts 1 from both. (mmpose 1.x subtracts 1 from the centre only,
      so its joints sit one pixel right of and below ours; mmpose's fixture cannot tell the two apart.)
    - ``joints_vis``: 1 = labelled, 0 = not (coordinates −1 there; NaN here). MPII's own occlusion
      flag is not in this format, so ``occluded`` is None.
    - Box: the square of side ``200 · scale`` about the centre moved down by ``15 · scale`` pixels,
      as HRNet and mmpose move it "to avoid cropping limbs". A record without a centre (−1) gets the
      padded box of its joints (``joint_box``).
    - Head boxes for PCKh: the JSON has none. ``head_boxes=`` an MPII ground-truth .mat shaped like
      HRNet's ``gt_valid.mat`` (``headboxes_src`` (2, 2, N): [top-left, bottom-right] × [x, y] ×
      person, 1-based) gives person i head box i, 1 subtracted; the official PCKh head size is 0.6 ×
      its diagonal (``h3r.metrics.pose.mpii_head_sizes``). When the .mat also holds ``pos_gt_src`` (16, 2, N) and ``jnt_missing`` (16, N), its
      joints must match the JSON's within 0.01 px, which catches a .mat of another split or order.
      Without it, ``h3r.metrics.pose.mpii_head_sizes_from_joints`` approximates the head size by the
      head segment.

Images are looked for beside the JSON, in its ``images/`` folder, then in ``../images/``.
"""

from pathlib import Path

import numpy as np

from h3r.data.datasets.base import DatasetError, collect
from h3r.data.pose.base import PoseDataset, PoseSample, find_image, joint_box, load_json, load_mat, numbers
from h3r.data.pose.schemes import MPII_16

__all__ = ["read_mpii"]

_PIXELS_PER_SCALE = 200.0
_CENTRE_SHIFT = 15.0  # pixels per unit of scale, downwards
_MATCH_TOLERANCE = 0.01  # pixels; the JSON prints joints with 4 decimals


def read_mpii(
    path: Path, split: str | None = None, skip_bad: bool = False, *, head_boxes: Path | None = None
) -> PoseDataset:
    """Read an MPII JSON file (see the module docstring); one file is one split.

    Args:
        path: the JSON file.
        split: must be None.
        skip_bad: leave out bad records, listed in ``PoseDataset.skipped``, instead of raising.
        head_boxes: an MPII ground-truth .mat with ``headboxes_src`` for the same records in the same
            order, e.g. ``gt_valid.mat`` for ``valid.json``.

    Raises:
        DatasetError: naming the file (and record) and the problem: unreadable or malformed JSON, not
            a list, a head-box file of another length, or (unless ``skip_bad``) a record with a joint
            count other than 16, a flag outside {0, 1}, a malformed or non-finite value, a missing
            image, or joints that disagree with the head-box file's.
    """
    path = Path(path)
    if split is not None:
        raise DatasetError(str(path), f"MPII JSON files have no splits, got {split!r}")
    records = load_json(path, list)
    heads = [None] * len(records) if head_boxes is None else _read_head_boxes(Path(head_boxes), len(records))
    folders = (path.parent, path.parent / "images", path.parent.parent / "images")
    builds = [
        (f"{path}: record {i}", lambda record=record, head=head: _sample(record, folders, head))
        for i, (record, head) in enumerate(zip(records, heads))
    ]
    samples, skipped = collect(builds, skip_bad)
    return PoseDataset(f"mpii:{path.stem}", MPII_16, samples, skipped)


def _sample(record, folders, head: tuple | None) -> PoseSample:
    """One person; ``head``: None, or its head box and the .mat's (16, 2) joints and (16,) missing flags or Nones."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    if not isinstance(record.get("image"), str):
        raise ValueError(f"image must be a file name, got {record.get('image')!r}")
    keypoints, visible = _joints(record)
    box = _person_box(record, keypoints, visible)
    head_box = None
    if head is not None:
        head_box, reference, missing = head
        if reference is not None:
            _check_match(keypoints, visible, reference, missing)
    return PoseSample(find_image(record["image"], folders), keypoints, visible, box, head_box=head_box)


def _joints(record: dict) -> tuple[np.ndarray, np.ndarray]:
    count = MPII_16.num_landmarks
    if "joints" not in record and "joints_vis" not in record:
        return np.full((count, 2), np.nan), np.zeros(count, bool)
    joints = record.get("joints")
    if isinstance(joints, list) and len(joints) != count:
        raise ValueError(f"{len(joints)} joints, expected {count} ({MPII_16.name})")
    points = numbers(joints, "joints", (count, 2))
    flags = numbers(record.get("joints_vis"), "joints_vis", (count,))
    if not np.isin(flags, (0, 1)).all():
        raise ValueError(f"joints_vis must be 0 or 1, got {sorted(set(flags.tolist()))}")
    visible = flags == 1
    if not np.isfinite(points[visible]).all():
        raise ValueError("NaN or infinite joint coordinates")
    return np.where(visible[:, None], points - 1.0, np.nan), visible


def _person_box(record: dict, keypoints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    centre = numbers(record.get("center"), "center", (2,))
    scale = float(numbers(record.get("scale"), "scale", ()))
    if not np.isfinite([*centre, scale]).all():
        raise ValueError(f"center and scale must be finite, got {centre.tolist()} and {scale}")
    if centre[0] == -1 or scale <= 0:
        return joint_box(keypoints, visible)
    middle = centre - 1.0 + (0.0, _CENTRE_SHIFT * scale)
    half_side = _PIXELS_PER_SCALE * scale / 2
    return np.concatenate([middle - half_side, middle + half_side])


def _check_match(keypoints: np.ndarray, visible: np.ndarray, reference: np.ndarray, missing: np.ndarray) -> None:
    both = visible & ~missing
    if both.any():
        gap = float(np.abs(keypoints[both] - reference[both]).max())
        if gap > _MATCH_TOLERANCE:
            raise ValueError(
                f"joints differ from the head-box file's pos_gt_src by up to {gap:.3g} px: "
                "that file is of another split or order"
            )


def _read_head_boxes(mat: Path, count: int) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray | None]]:
    """Per person: the (4,) 0-based head box, and its (16, 2) 0-based joints and (16,) missing flags if given."""
    variables = load_mat(mat, "head-box file")
    boxes = np.asarray(variables.get("headboxes_src", np.empty(0)), dtype=np.float64)
    if boxes.shape != (2, 2, count):
        raise DatasetError(
            str(mat), f"headboxes_src must have shape (2, 2, {count}) for the JSON's {count} records, got {boxes.shape}"
        )
    heads = boxes.transpose(2, 0, 1).reshape(count, 4) - 1.0
    if "pos_gt_src" not in variables or "jnt_missing" not in variables:
        return [(head, None, None) for head in heads]
    joints = np.asarray(variables["pos_gt_src"], dtype=np.float64)
    missing = np.asarray(variables["jnt_missing"])
    shape = (MPII_16.num_landmarks, 2, count)
    if joints.shape != shape or missing.shape != shape[::2]:
        raise DatasetError(str(mat), f"pos_gt_src must be {shape} and jnt_missing {shape[::2]}")
    return list(zip(heads, joints.transpose(2, 0, 1) - 1.0, missing.T.astype(bool)))
