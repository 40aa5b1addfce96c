"""WFLW: ``list_98pt_rect_attr_{train,test}.txt``, and the 68-point lists ``list_68pt_rect_attr_*.txt``.

Each line of a 98-point list holds 207 whitespace-separated fields: 196 coordinates ``x0 y0 … x97 y97``,
the face box ``x1 y1 x2 y2``, six 0/1 attribute flags (pose, expression, illumination, make-up,
occlusion, blur) and the image path relative to ``WFLW_images``. A 68-point list has the same layout
with 136 coordinates (147 fields): the 300-W scheme (``300w-68``) derived from the 98 points (see
``h3r.data.datasets.conversion``, whose wflw-98 → 300w-68 map reproduces these lists). The coordinates
are taken as given: the released lists are 0-based pixel coordinates, as HRNet, mmpose and the authors'
torchalign use them.

``path`` is the WFLW root (holding ``WFLW_annotations/list_98pt_rect_attr_train_test/`` or, for
``points=68``, ``list_68pt_rect_attr_train_test/``, and ``WFLW_images/``), that annotation folder, or a
list file itself (then without a split), whose point count is that of its first line with 207 or 147
fields unless ``points`` says it; the images are read from the nearest ``WFLW_images`` folder beside the
list file or above it. Subset tags: the names of the attributes flagged 1.
"""

from functools import partial
from pathlib import Path

import numpy as np

from h3r.data.datasets.base import (
    DatasetError,
    FaceDataset,
    FaceSample,
    annotation_file,
    collect,
    existing_image,
    parse_floats,
    read_lines,
)
from h3r.data.datasets.schemes import IBUG_68, WFLW_98, LandmarkScheme

__all__ = ["ATTRIBUTES", "SPLITS", "read_wflw"]

SPLITS = ("train", "test")
ATTRIBUTES = ("pose", "expression", "illumination", "makeup", "occlusion", "blur")
_SCHEMES = {98: WFLW_98, 68: IBUG_68}
"""The point counts of WFLW's lists → the scheme of their points."""


def read_wflw(path: Path, split: str | None = None, skip_bad: bool = False, points: int | None = None) -> FaceDataset:
    """Read a WFLW list (see the module docstring).

    Args:
        points: 98 or 68, which lists to read; default 98 for a folder, the file's own for a list file.

    Raises:
        DatasetError: no list file or ``WFLW_images`` folder, an unknown or missing split, or (unless
            ``skip_bad``) a line with the wrong number of fields, a non-number, NaN or infinity, an
            attribute flag other than 0/1, or a missing image; naming the file and line.
    """
    if points not in (None, *_SCHEMES):
        raise ValueError(f"points must be one of {', '.join(map(str, _SCHEMES))}, got {points!r}")
    reader = "wflw" if points in (None, 98) else f"wflw-{points}"
    path = Path(path)
    candidates = partial(_list_candidates, path, points=points or 98)
    list_file = annotation_file(path, split, reader, SPLITS, candidates, "WFLW list file")
    images = _images_folder(list_file)
    lines = read_lines(list_file)
    scheme = _SCHEMES[points] if points else _scheme_of(lines)
    records = [
        (f"{list_file}:{number}", lambda number=number, line=line: _sample(list_file, number, line, images, scheme))
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"{reader}:{split}" if split else f"{reader}:{list_file.stem}", scheme, samples, skipped)


def _list_candidates(path: Path, split: str, points: int) -> list[Path]:
    """Where the ``points`` list of ``split`` may lie: in ``path``, its list folder, or the WFLW root's."""
    folder = f"list_{points}pt_rect_attr_train_test"
    name = f"list_{points}pt_rect_attr_{split}.txt"
    return [path / name, path / folder / name, path / "WFLW_annotations" / folder / name]


def _field_count(scheme: LandmarkScheme) -> int:
    return 2 * scheme.num_landmarks + 4 + len(ATTRIBUTES) + 1


def _scheme_of(lines: list[str]) -> LandmarkScheme:
    """The scheme of the first line with the field count of a known list; 98 points if none has."""
    by_fields = {_field_count(scheme): scheme for scheme in _SCHEMES.values()}
    for line in lines:
        if len(line.split()) in by_fields:
            return by_fields[len(line.split())]
    return WFLW_98


def _images_folder(list_file: Path) -> Path:
    for folder in list(list_file.parents)[:4]:
        if (folder / "WFLW_images").is_dir():
            return folder / "WFLW_images"
    raise DatasetError(str(list_file), "no WFLW_images folder beside this list file or in the 3 folders above it")


def _sample(list_file: Path, number: int, line: str, images: Path, scheme: LandmarkScheme) -> FaceSample:
    where = f"{list_file}:{number}"
    tokens = line.split()
    coordinates = 2 * scheme.num_landmarks
    if len(tokens) != _field_count(scheme):
        layout = f"{scheme.num_landmarks} points: {coordinates} coordinates, box, 6 attributes, image"
        raise DatasetError(where, f"expected {_field_count(scheme)} fields ({layout}), got {len(tokens)}")
    values = parse_floats(tokens[:-1], where)
    points = values[:coordinates].reshape(-1, 2)
    box = values[coordinates : -len(ATTRIBUTES)]
    flags = values[-len(ATTRIBUTES) :]
    if not np.isin(flags, (0, 1)).all():
        raise DatasetError(where, f"attribute flags must be 0 or 1, got {flags.tolist()}")
    subsets = frozenset(name for name, flag in zip(ATTRIBUTES, flags, strict=True) if flag == 1)
    image = existing_image(images / tokens[-1], where)
    return FaceSample(image, points, np.ones(len(points), bool), box, subsets)
