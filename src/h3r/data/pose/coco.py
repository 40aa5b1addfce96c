"""COCO keypoints (``person_keypoints_*.json``), person boxes from the ground truth or from a detector.

The file holds ``images`` (``id``, ``file_name``, optionally ``width`` and ``height``) and ``annotations``
(``image_id``, ``keypoints`` as a flat ``[x, y, v] * 17``, ``bbox`` as ``[x, y, w, h]``, ``area``,
``iscrowd``). Detection results are COCO's results format: a JSON list of ``{image_id, category_id,
bbox, score}``.

Conventions:
    - Keypoints are integers in [0, W − 1], pixel indices: the centre of pixel i is i, which is our
      frame, so they are taken unchanged. (detectron2 reads them the same way and adds 0.5 to move to
      its corner-origin frame.)
    - Boxes are in COCO's continuous frame, whose origin is the image's top-left *corner* (pixel i
      spans [i, i + 1]), as for segmentations: ``bbox`` [x, y, w, h] becomes the corners
      (x − 0.5, y − 0.5, x + w − 0.5, y + h − 0.5), clipped to the image [−0.5, W − 0.5] ×
      [−0.5, H − 0.5] when the image entry gives its size (mmpose clips too). A bbox [0, 0, 640, 480]
      of a 640 × 480 image is the whole image, (−0.5, −0.5, 639.5, 479.5).
    - ``v = 0``: not labelled (``visible`` False, coordinates NaN); ``v = 1``: labelled but hidden
      (``visible`` and ``occluded``); ``v = 2``: labelled and seen.

Which people become samples:
    - Ground-truth boxes (the default): as in COCO/mmpose training, crowd regions (``iscrowd = 1``),
      people without a labelled joint (``num_keypoints = 0``, counted from ``v``) and boxes with no
      area inside the image are left out. ``all_annotations=True`` keeps every annotation, crowd
      regions flagged ``crowd``, as COCO's evaluation sees them (crowds are regions it ignores).
    - Detected boxes (``detections=FILE``): one sample per person detection (``category_id`` 1)
      scoring at least ``score_threshold``, with its ``score``; keypoints unknown (NaN, not visible).
      Boxes with no area inside the image are left out.

    Either way ``PoseDataset.image_ids`` lists every image of the annotation file.

Images are looked for beside the JSON, in its ``images/`` folder, in ``../images/``, and in ``../val2017/``
for ``annotations/person_keypoints_val2017.json`` (COCO's own layout; likewise for other splits).
"""

from pathlib import Path

import numpy as np

from h3r.data.datasets.base import DatasetError, collect
from h3r.data.pose.base import PoseDataset, PoseSample, find_image, load_json, numbers
from h3r.data.pose.schemes import COCO_17

__all__ = ["read_coco_pose"]

_PERSON = 1


def read_coco_pose(
    path: Path,
    split: str | None = None,
    skip_bad: bool = False,
    *,
    detections: Path | None = None,
    score_threshold: float = 0.0,
    all_annotations: bool = False,
) -> PoseDataset:
    """Read a COCO keypoint file, with ground-truth or detected person boxes (see the module docstring).

    Args:
        path: the ``person_keypoints_*.json`` file.
        split: must be None (one file is one split).
        skip_bad: leave out bad annotations or detections, listed in ``PoseDataset.skipped``, instead
            of raising.
        detections: a COCO results JSON of person boxes to use instead of the ground-truth boxes.
        score_threshold: the lowest detection score kept.
        all_annotations: keep crowd regions and people without labelled joints (ground truth only).

    Raises:
        DatasetError: naming the file (and annotation or detection) and the problem: unreadable or
            malformed JSON, no ``images`` or ``annotations`` list, or (unless ``skip_bad``) a joint
            count other than 17, a ``v`` outside {0, 1, 2}, a non-finite or malformed value, an unknown
            ``image_id`` or a missing image file.
        ValueError: a bad argument.
    """
    path = Path(path)
    if split is not None:
        raise DatasetError(str(path), f"COCO keypoint files have no splits, got {split!r}")
    if not (isinstance(score_threshold, (int, float)) and 0 <= score_threshold <= 1):
        raise ValueError(f"score_threshold must be a number in [0, 1], got {score_threshold!r}")
    if detections is not None and all_annotations:
        raise ValueError("all_annotations keeps ground-truth annotations; it cannot be combined with detections")
    data = load_json(path, dict)
    images = _images(path, data)
    folders = _image_folders(path)
    if detections is None:
        annotations = data.get("annotations")
        if not isinstance(annotations, list):
            raise DatasetError(str(path), "expected a list 'annotations'")
        records = [
            (f"{path}: annotation {_label(a, i)}", lambda a=a: _annotation(a, images, folders, all_annotations))
            for i, a in enumerate(annotations)
        ]
        name = f"coco:{path.stem}"
    else:
        results = load_json(Path(detections), list)
        records = [
            (f"{detections}: detection {i}", lambda d=d: _detection(d, images, folders, score_threshold))
            for i, d in enumerate(results)
        ]
        name = f"coco:{path.stem}[{Path(detections).stem}, score >= {score_threshold:g}]"
    samples, skipped = collect(records, skip_bad)
    people = [sample for sample in samples if sample is not None]
    return PoseDataset(name, COCO_17, people, skipped, image_ids=tuple(images), annotation_file=path)


def _images(path: Path, data: dict) -> dict[int, tuple[str, tuple[int, int] | None]]:
    """Image id → (file name, (H, W) or None) for every entry of ``images``."""
    entries = data.get("images")
    if not isinstance(entries, list):
        raise DatasetError(str(path), "expected a list 'images'")
    images = {}
    for i, entry in enumerate(entries):
        named = isinstance(entry, dict) and isinstance(entry.get("file_name"), str)
        if not (named and isinstance(entry.get("id"), int)):
            raise DatasetError(str(path), f"images[{i}] needs an integer 'id' and a string 'file_name'")
        size = (entry.get("height"), entry.get("width"))
        known = all(isinstance(side, int) and side > 0 for side in size)
        images[entry["id"]] = (entry["file_name"], size if known else None)
    return images


def _image_folders(path: Path) -> list[Path]:
    folders = [path.parent, path.parent / "images", path.parent.parent / "images"]
    if "_" in path.stem:
        folders.append(path.parent.parent / path.stem.rsplit("_", 1)[1])
    return folders


def _label(annotation, index: int):
    return annotation.get("id", index) if isinstance(annotation, dict) else index


def _annotation(annotation, images: dict, folders: list[Path], keep_all: bool) -> PoseSample | None:
    """The person of a ground-truth annotation, or None for one left out (see the module docstring)."""
    if not isinstance(annotation, dict):
        raise ValueError("not a JSON object")
    flat = annotation.get("keypoints")
    count = COCO_17.num_landmarks
    if isinstance(flat, list) and len(flat) != 3 * count:
        raise ValueError(f"{len(flat) / 3:g} joints ({len(flat)} numbers), expected {count} ({COCO_17.name})")
    triples = numbers(flat, "keypoints", (3 * count,)).reshape(count, 3)
    flags = triples[:, 2]
    if not np.isin(flags, (0, 1, 2)).all():
        raise ValueError(f"visibility flags v must be 0, 1 or 2, got {sorted(set(flags.tolist()))}")
    labelled = flags > 0
    crowd = annotation.get("iscrowd", 0) == 1
    if not keep_all and (crowd or not labelled.any()):
        return None
    name, size = _image(annotation, images)
    box = _box(annotation.get("bbox"), size)
    if not keep_all and not _has_area(box):
        return None
    if not np.isfinite(triples[labelled, :2]).all():
        raise ValueError("NaN or infinite joint coordinates")
    area = annotation.get("area")
    return PoseSample(
        find_image(name, folders),
        np.where(labelled[:, None], triples[:, :2], np.nan),
        labelled,
        box,
        occluded=flags == 1,
        image_id=annotation["image_id"],
        area=None if area is None else float(numbers(area, "area", ())),
        crowd=crowd,
    )


def _detection(detection, images: dict, folders: list[Path], threshold: float) -> PoseSample | None:
    """The person of a detection, or None for another category, a lower score or a box with no area."""
    if not isinstance(detection, dict):
        raise ValueError("not a JSON object")
    if detection.get("category_id", _PERSON) != _PERSON:
        return None
    score = float(numbers(detection.get("score"), "score", ()))
    if not np.isfinite(score):
        raise ValueError(f"score must be finite, got {score}")
    if score < threshold:
        return None
    name, size = _image(detection, images)
    box = _box(detection.get("bbox"), size)
    if not _has_area(box):
        return None
    count = COCO_17.num_landmarks
    return PoseSample(
        find_image(name, folders),
        np.full((count, 2), np.nan),
        np.zeros(count, bool),
        box,
        image_id=detection["image_id"],
        score=score,
    )


def _image(record: dict, images: dict) -> tuple[str, tuple[int, int] | None]:
    image = images.get(record.get("image_id"))
    if image is None:
        raise ValueError(f"image_id {record.get('image_id')!r} is not among the annotation file's images")
    return image


def _box(bbox, size: tuple[int, int] | None) -> np.ndarray:
    """COCO's ``[x, y, w, h]`` as corners in our frame, clipped to an image of ``size`` = (H, W) if known."""
    x, y, w, h = numbers(bbox, "bbox", (4,))
    if not np.isfinite([x, y, w, h]).all() or w < 0 or h < 0:
        raise ValueError(f"bbox must be 4 finite numbers [x, y, w, h] with w, h >= 0, got {bbox}")
    box = np.array([x, y, x + w, y + h]) - 0.5
    if size is None:
        return box
    height, width = size
    return np.clip(box, -0.5, (width - 0.5, height - 0.5, width - 0.5, height - 0.5))


def _has_area(box: np.ndarray) -> bool:
    return bool((box[2:] > box[:2]).all())
