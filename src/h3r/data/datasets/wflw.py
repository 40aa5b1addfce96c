"""WFLW: ``list_98pt_rect_attr_{train,test}.txt``.

Each line holds 207 whitespace-separated fields: 196 coordinates ``x0 y0 … x97 y97``, the face box
``x1 y1 x2 y2``, six 0/1 attribute flags (pose, expression, illumination, make-up, occlusion, blur) and
the image path relative to ``WFLW_images``. The coordinates are taken as given: the released lists are
0-based pixel coordinates, as HRNet, mmpose and the authors' torchalign use them.

``path`` is the WFLW root (holding ``WFLW_annotations/list_98pt_rect_attr_train_test/`` and
``WFLW_images/``), that annotation folder, or a list file itself (then without a split); the images are
read from the nearest ``WFLW_images`` folder beside the list file or above it. Subset tags: the names of
the attributes flagged 1.
"""

from pathlib import Path

import numpy as np

from h3r.data.datasets.base import (
    DatasetError,
    FaceDataset,
    FaceSample,
    collect,
    existing_image,
    find_file,
    parse_floats,
    require_split,
)
from h3r.data.datasets.schemes import WFLW_98

__all__ = ["ATTRIBUTES", "SPLITS", "read_wflw"]

SPLITS = ("train", "test")
ATTRIBUTES = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
_LIST_FOLDER = "list_98pt_rect_attr_train_test"
_FIELDS = 2 * WFLW_98.num_landmarks + 4 + len(ATTRIBUTES) + 1


def read_wflw(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
    """Read a WFLW list (see the module docstring).

    Raises:
        DatasetError: no list file or ``WFLW_images`` folder, an unknown or missing split, or (unless
            ``skip_bad``) a line with the wrong number of fields, a non-number, NaN or infinity, an
            attribute flag other than 0/1, or a missing image; naming the file and line.
    """
    path = Path(path)
    if path.is_file():
        if split is not None:
            raise DatasetError(str(path), f"split {split!r} given with a list file; give the WFLW folder instead")
        list_file = path
    else:
        split = require_split("wflw", split, SPLITS, str(path))
        name = f"list_98pt_rect_attr_{split}.txt"
        candidates = (path / name, path / _LIST_FOLDER / name, path / "WFLW_annotations" / _LIST_FOLDER / name)
        list_file = find_file(candidates, "WFLW list file", str(path))
    images = _images_folder(list_file)
    lines = _read_lines(list_file)
    records = [
        (f"{list_file}:{number}", lambda number=number, line=line: _sample(list_file, number, line, images))
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"wflw:{split}" if split else f"wflw:{list_file.stem}", WFLW_98, samples, skipped)


def _read_lines(list_file: Path) -> list[str]:
    try:
        return list_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise DatasetError(str(list_file), f"cannot read ({error.strerror or error})") from error


def _images_folder(list_file: Path) -> Path:
    for folder in list(list_file.parents)[:4]:
        if (folder / "WFLW_images").is_dir():
            return folder / "WFLW_images"
    raise DatasetError(str(list_file), "no WFLW_images folder beside this list file or in the 3 folders above it")


def _sample(list_file: Path, number: int, line: str, images: Path) -> FaceSample:
    where = f"{list_file}:{number}"
    tokens = line.split()
    if len(tokens) != _FIELDS:
        layout = "196 coordinates, box, 6 attributes, image"
        raise DatasetError(where, f"expected {_FIELDS} fields ({layout}), got {len(tokens)}")
    values = parse_floats(tokens[:-1], where)
    points = values[: 2 * WFLW_98.num_landmarks].reshape(-1, 2)
    box = values[2 * WFLW_98.num_landmarks : -len(ATTRIBUTES)]
    flags = values[-len(ATTRIBUTES) :]
    if not np.isin(flags, (0, 1)).all():
        raise DatasetError(where, f"attribute flags must be 0 or 1, got {flags.tolist()}")
    subsets = frozenset(name for name, flag in zip(ATTRIBUTES, flags, strict=True) if flag == 1)
    image = existing_image(images / tokens[-1], where)
    return FaceSample(image, points, np.ones(len(points), bool), box, subsets)
