"""COCO-style keypoint JSON, as mmpose converts the face datasets (300-W, WFLW, COFW, AFLW, LaPa).

The file holds ``images`` (``id``, ``file_name``) and ``annotations`` (``image_id``, ``keypoints`` as a
flat ``[x, y, v] * K``, ``bbox`` as ``[x, y, w, h]``, and for AFLW ``center`` and ``box_size``). The
scheme follows from K (68, 98, 29, 19 or 106 points).

Conventions:
    - mmpose's converters copy each dataset's coordinates unchanged, so the JSON keeps its source's
      convention: 300-W and COFW are 1-based (checked for 300-W: mmpose's points equal the 300-W
      ``.pts`` values), the others 0-based. The reader subtracts 1 for ``300w-68`` and ``cofw-29``, so
      that both readers of a dataset agree.
    - ``v = 0``: not annotated (``visible`` False, coordinates NaN). If the file uses ``v = 2``
      anywhere, ``v = 1`` means annotated but occluded (COCO's "labelled, not visible", mmpose's COFW)
      and sets ``occluded``; files with only 0/1 (mmpose's 300-W, WFLW, AFLW) have no occlusion flags.
    - The box is ``bbox``, except when ``box_size`` and ``center`` are given (AFLW): then the square of
      side ``box_size`` centred there, whose sqrt(w · h) is AFLW's normaliser.

Images are looked for under the JSON's folder, its ``images/`` folder, then ``../images/`` (mmpose's
``data/<dataset>/{annotations,images}`` layout).
"""

import json
from pathlib import Path

import numpy as np

from h3r.data.datasets.base import DatasetError, FaceDataset, FaceSample, collect
from h3r.data.datasets.schemes import COFW_29, IBUG_68, LandmarkScheme, scheme_for_count

__all__ = ["read_coco"]

_ONE_BASED = (IBUG_68.name, COFW_29.name)


def read_coco(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
    """Read a COCO-style face keypoint JSON (see the module docstring); there are no splits.

    Raises:
        DatasetError: no or unreadable JSON, no ``images``/``annotations``, a point count of no known
            scheme, or (unless ``skip_bad``) an annotation with another point count, a bad ``v``, NaN or
            infinity, a malformed box, an unknown ``image_id`` or a missing image.
    """
    path = Path(path)
    if split is not None:
        raise DatasetError(str(path), f"coco files have no splits, got {split!r}")
    data = _load(path)
    annotations = data["annotations"]
    scheme = _scheme(path, annotations)
    offset = 1.0 if scheme.name in _ONE_BASED else 0.0
    files = {image.get("id"): image.get("file_name") for image in data["images"] if isinstance(image, dict)}
    has_occlusion = _marks_occlusion(annotations)
    folders = (path.parent, path.parent / "images", path.parent.parent / "images")
    records = [
        (
            f"{path}: annotation {a.get('id', i) if isinstance(a, dict) else i}",
            lambda a=a: _sample(a, scheme, offset, has_occlusion, files, folders),
        )
        for i, a in enumerate(annotations)
    ]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"coco:{path.stem}", scheme, samples, skipped)


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DatasetError(str(path), f"cannot read ({error.strerror or error})") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(str(path), f"not valid JSON ({error})") from error
    if not isinstance(data, dict) or not all(isinstance(data.get(key), list) for key in ("images", "annotations")):
        raise DatasetError(str(path), "expected a JSON object with lists 'images' and 'annotations'")
    if not data["annotations"]:
        raise DatasetError(str(path), "no annotations")
    return data


def _scheme(path: Path, annotations: list) -> LandmarkScheme:
    """The scheme of the first annotation's point count."""
    first = annotations[0].get("keypoints") if isinstance(annotations[0], dict) else None
    if not isinstance(first, list) or len(first) % 3:
        raise DatasetError(str(path), "the first annotation's 'keypoints' is not a flat [x, y, v] * K list")
    try:
        return scheme_for_count(len(first) // 3)
    except ValueError as error:
        raise DatasetError(str(path), str(error)) from error


def _marks_occlusion(annotations: list) -> bool:
    """Whether any annotation uses ``v = 2``, which makes ``v = 1`` mean annotated but occluded."""
    return any(
        isinstance(a, dict) and isinstance(a.get("keypoints"), list) and 2 in a["keypoints"][2::3] for a in annotations
    )


def _sample(annotation, scheme: LandmarkScheme, offset: float, has_occlusion: bool, files: dict, folders) -> FaceSample:
    if not isinstance(annotation, dict):
        raise ValueError("not a JSON object")
    values = _numbers(annotation.get("keypoints"), "keypoints")
    if len(values) != 3 * scheme.num_landmarks:
        expected = f"{scheme.num_landmarks} ({scheme.name}) like the file's first annotation"
        raise ValueError(f"{len(values) // 3} landmarks, expected {expected}")
    triples = values.reshape(-1, 3)
    flags = triples[:, 2]
    if not np.isin(flags, (0, 1, 2)).all():
        raise ValueError(f"visibility flags must be 0, 1 or 2, got {sorted(set(flags.tolist()))}")
    visible = flags > 0
    points = np.where(visible[:, None], triples[:, :2] - offset, np.nan)
    if not np.isfinite(points[visible]).all():
        raise ValueError("NaN or infinite landmark coordinates")
    file_name = files.get(annotation.get("image_id"))
    if not isinstance(file_name, str):
        raise ValueError(f"image_id {annotation.get('image_id')!r} is not among the file's images")
    image = next((folder / file_name for folder in folders if (folder / file_name).is_file()), None)
    if image is None:
        raise ValueError(f"image {file_name} not found in {', '.join(str(folder) for folder in folders)}")
    occluded = flags == 1 if has_occlusion else None
    return FaceSample(image, points, visible, _box(annotation, offset), occluded=occluded)


def _box(annotation: dict, offset: float) -> np.ndarray | None:
    if "box_size" in annotation and "center" in annotation:
        (size,), (x, y) = _numbers([annotation["box_size"]], "box_size"), _numbers(annotation["center"], "center", 2)
        return np.array([x - size / 2, y - size / 2, x + size / 2, y + size / 2]) - offset
    if "bbox" not in annotation:
        return None
    x, y, w, h = _numbers(annotation["bbox"], "bbox", 4)
    return np.array([x, y, x + w, y + h]) - offset


def _numbers(value, name: str, count: int | None = None) -> np.ndarray:
    """A finite float64 vector from a JSON list of numbers, of ``count`` entries if given."""
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be a list of numbers, got {str(value)[:80]}")
    array = np.array(value, dtype=np.float64)
    if count is not None and len(array) != count:
        raise ValueError(f"{name} must have {count} numbers, got {len(array)}")
    if name != "keypoints" and not np.isfinite(array).all():
        raise ValueError(f"NaN or infinite value in {name}: {value}")
    return array
