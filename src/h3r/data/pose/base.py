"""The in-memory form of a pose dataset: one ``PoseSample`` per person, in a ``PoseDataset``.

These extend the face records (``h3r.data.datasets.base``), so samples load their images and check their
keypoints the same way. Coordinates follow ``h3r.codecs.coords``: (x, y) image pixels, the centre of the
top-left pixel at (0, 0); each reader's docstring says how its format is converted. Boxes are
(x1, y1, x2, y2), their corners points in that frame.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from h3r.data.datasets.base import DatasetError, FaceDataset, FaceSample
from h3r.data.pose.schemes import PoseScheme
from h3r.data.training_set import landmark_box

__all__ = ["PoseDataset", "PoseSample", "joint_box"]


@dataclass
class PoseSample(FaceSample):
    """One annotated person: a ``FaceSample`` (image, (K, 2) keypoints, (K,) ``visible``, ``occluded``)
    whose ``box`` is required, with the fields pose benchmarks need.

    ``visible`` means *labelled* (the joint has a position to train on and score), as for faces;
    ``occluded`` marks labelled joints the format flags as hidden (COCO ``v = 1``, LSP's flag), or is
    None where the format has no such flag.

    Attributes:
        head_box: (4,) float64 (x1, y1, x2, y2), MPII's head rectangle (PCKh), or None.
        image_id: COCO's image id, or None.
        area: COCO's segment area (the OKS scale), or None.
        score: the person detector's confidence for detected boxes, or None for ground-truth boxes.
        crowd: COCO ``iscrowd = 1``: a region of many people, not one person.
    """

    head_box: np.ndarray | None = None
    image_id: int | None = None
    area: float | None = None
    score: float | None = None
    crowd: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.box is None:
            raise ValueError("a person needs a box (x1, y1, x2, y2)")
        if self.head_box is not None:
            self.head_box = np.asarray(self.head_box, dtype=np.float64)
            if self.head_box.shape != (4,) or not np.isfinite(self.head_box).all():
                raise ValueError(f"head_box must be 4 finite numbers (x1, y1, x2, y2), got {self.head_box.tolist()}")


@dataclass
class PoseDataset(FaceDataset):
    """People in one pose scheme; ``image_ids`` lists every image of a COCO file, annotated or not, for
    evaluations that must cover all images (empty for the other formats), and ``annotation_file`` is that
    file, the ground truth of COCO's evaluation (None for the other formats)."""

    scheme: PoseScheme
    image_ids: tuple[int, ...] = ()
    annotation_file: Path | None = None


def joint_box(keypoints: np.ndarray, visible: np.ndarray, padding: float = 0.1) -> np.ndarray:
    """Bounding box of the labelled joints, widened by ``padding`` × its width (height) on each side.

    Joints are the centres of limbs, so their tight box cuts hands, feet and the head's sides; 10 % per
    side makes the usual 1.25 crop of it 1.5 × the tight box, the margin HRNet's half-body crop uses.

    Args:
        keypoints: (K, 2) image pixels; visible: (K,) bool.

    Returns:
        (4,) float64 (x1, y1, x2, y2). Raises ``ValueError`` when the joints span no area.

    Examples:
        >>> joint_box(np.array([[10.0, 0.0], [30.0, 40.0]]), np.array([True, True]))
        array([ 8., -4., 32., 44.])
    """
    box = landmark_box(keypoints, visible)
    margin = np.tile(box[2:] - box[:2], 2) * padding
    return box + margin * (-1, -1, 1, 1)


def load_json(path: Path, kind: type) -> dict | list:
    """The JSON document in ``path``, which must be a ``kind`` (dict or list), or a ``DatasetError``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise DatasetError(str(path), f"cannot read ({error.strerror or error})") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(str(path), f"not valid JSON ({error})") from error
    if not isinstance(data, kind):
        expected = "object" if kind is dict else "list"
        raise DatasetError(str(path), f"expected a JSON {expected}, got {type(data).__name__}")
    return data


def load_mat(path: Path, what: str) -> dict:
    """The variables of the MATLAB file ``path`` (``what`` it is, for the message), or a ``DatasetError``."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    if not path.is_file():
        raise DatasetError(str(path), f"no such {what}")
    try:
        return loadmat(path)
    except (MatReadError, OSError, ValueError) as error:
        raise DatasetError(str(path), f"cannot read as a MATLAB file ({error})") from error


def find_image(name: str, folders: Sequence[Path]) -> Path:
    """The first ``folder / name`` that is a file, or a ``ValueError`` listing where it was looked for."""
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise ValueError(f"image {name} not found in {', '.join(str(folder) for folder in folders)}")


def numbers(value, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A float64 array of ``shape`` from JSON numbers (nested lists), or a ``ValueError`` naming ``name``."""
    if value is None:
        raise ValueError(f"{name} is missing")
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {str(value)[:80]}") from None
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {str(value)[:80]}")
    return array
