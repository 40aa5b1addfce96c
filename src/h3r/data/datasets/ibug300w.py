"""300-W: folders of images with 68-point ``.pts`` files.

A ``.pts`` file is either the 300-W format::

    version: 1
    n_points: 68
    {
    x y
    ...
    }

or bare ``x y`` lines. Its coordinates are 1-based (the top-left pixel centred at (1, 1)), as in the
300-W release and menpo; the reader subtracts 1. The image is the file beside the ``.pts`` with the same
stem and a common image suffix. The format has no face box.

Splits (the standard protocol; folder names matched case-insensitively):
    - ``train``: ``afw``, ``helen/trainset``, ``lfpw/trainset``;
    - ``common``: ``helen/testset``, ``lfpw/testset``; ``challenging``: ``ibug``; ``full``: both;
    - ``test``: the 300-W competition set, folders whose name contains ``indoor`` or ``outdoor``;
    - no split: every ``.pts`` below the folder.

Subset tags: the source folder (``afw``, ``helen``, ``lfpw``, ``ibug``, ``indoor``, ``outdoor``), plus
``common`` or ``challenging`` for the faces of those test sets. Folders are those below ``path`` and the
last two of ``path`` itself, so that ``path`` may also be, e.g., ``.../helen/testset``.
"""

import os
from pathlib import Path

import numpy as np

from h3r.data.datasets.base import (
    IMAGE_SUFFIXES,
    DatasetError,
    FaceDataset,
    FaceSample,
    check_count,
    collect,
    parse_floats,
    read_lines,
    require_split,
)
from h3r.data.datasets.schemes import IBUG_68

__all__ = ["SPLITS", "read_300w", "read_pts"]

SPLITS = ("train", "common", "challenging", "full", "test")
_SOURCES = ("afw", "helen", "lfpw", "ibug")


def read_pts(path: Path) -> np.ndarray:
    """The points of a ``.pts`` file, as written (no change of convention): (K, 2) float64.

    Raises:
        DatasetError: naming the file and line: unreadable file, malformed header or line, a point
            count that disagrees with ``n_points``, NaN or infinity.
    """
    numbered = [(number, line.strip()) for number, line in enumerate(read_lines(path), start=1) if line.strip()]
    declared = None
    if numbered and numbered[0][1].lower().startswith("version"):
        declared, numbered = _header(path, numbered)
    points = _points(path, numbered)
    if declared is not None and len(points) != declared:
        raise DatasetError(str(path), f"n_points is {declared} but {len(points)} points follow")
    return points


def _header(path: Path, numbered: list[tuple[int, str]]) -> tuple[int, list[tuple[int, str]]]:
    """Parse ``version``/``n_points``/``{`` and the closing ``}``; returns the count and the point lines."""
    opening = next((index for index, (_, line) in enumerate(numbered) if line == "{"), None)
    if opening is None:
        raise DatasetError(str(path), "header without the opening '{'")
    declared = None
    for number, line in numbered[:opening]:
        key, _, value = line.partition(":")
        if key.strip().lower() == "n_points":
            if not value.strip().isdigit():
                raise DatasetError(f"{path}:{number}", f"n_points must be a whole number, got {value.strip()!r}")
            declared = int(value)
    if declared is None:
        raise DatasetError(str(path), "header without n_points")
    body = numbered[opening + 1 :]
    if not body or body[-1][1] != "}":
        raise DatasetError(str(path), "points are not closed by '}'")
    return declared, body[:-1]


def _points(path: Path, numbered: list[tuple[int, str]]) -> np.ndarray:
    """(K, 2) float64 from ``x y`` lines, converted at once; line by line only to name a bad line."""
    rows = [_pair(path, number, line) for number, line in numbered]
    try:
        points = np.array(rows, dtype=np.float64).reshape(-1, 2)
    except ValueError:
        points = None
    if points is None or not np.isfinite(points).all():
        points = np.array(
            [parse_floats(row, f"{path}:{number}") for (number, _), row in zip(numbered, rows, strict=True)]
        )
    return points


def _pair(path: Path, number: int, line: str) -> list[str]:
    tokens = line.split()
    if len(tokens) != 2:
        raise DatasetError(f"{path}:{number}", f"expected two numbers 'x y', got {line!r}")
    return tokens


def read_300w(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
    """Read the ``.pts`` files below ``path`` that belong to ``split`` (see the module docstring).

    Raises:
        DatasetError: ``path`` is not a folder, the split is unknown or has no ``.pts`` file, or (unless
            ``skip_bad``) a ``.pts`` file is malformed, has other than 68 points, or has no image.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(str(path), "not a folder of 300-W images and .pts files")
    if split is not None:
        require_split("300w", split, SPLITS, str(path))
    # PATH's own two last folders count too, so that e.g. 300w:.../helen/testset:common works.
    files = [(pts, _tags([path.parent.name, path.name, *pts.relative_to(path).parts[:-1]])) for pts in _pts_files(path)]
    files = [(pts, tags) for pts, tags in files if _in_split(tags, split)]
    if not files:
        raise DatasetError(str(path), f"no .pts files{'' if split is None else f' of split {split!r}'} below it")
    images = _ImageIndex()
    records = [(str(pts), lambda pts=pts, tags=tags: _sample(pts, tags, images)) for pts, tags in files]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"300w:{split}" if split else "300w", IBUG_68, samples, skipped)


def _pts_files(root: Path) -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders.sort()
        found += [Path(folder) / name for name in sorted(names) if name.lower().endswith(".pts")]
    return found


def _tags(folders: list[str]) -> frozenset[str]:
    """Subset tags of a ``.pts`` file from its folder names, plus ``trainset``/``testset`` for the split rules."""
    tags = set()
    for part in (folder.lower() for folder in folders):
        tags |= {source for source in _SOURCES if part == source}
        tags |= {place for place in ("indoor", "outdoor") if place in part}
        tags |= {part} & {"trainset", "testset"}
    if tags & {"helen", "lfpw"} and "testset" in tags:
        tags.add("common")
    if "ibug" in tags:
        tags.add("challenging")
    return frozenset(tags)


def _in_split(tags: frozenset[str], split: str | None) -> bool:
    if split is None:
        return True
    if split == "train":
        return "afw" in tags or (bool(tags & {"helen", "lfpw"}) and "trainset" in tags)
    if split == "full":
        return bool(tags & {"common", "challenging"})
    if split == "test":
        return bool(tags & {"indoor", "outdoor"})
    return split in tags


def _sample(pts: Path, tags: frozenset[str], images: "_ImageIndex") -> FaceSample:
    points = read_pts(pts)
    check_count(points, IBUG_68, str(pts))
    image = images.beside(pts)
    if image is None:
        raise DatasetError(str(pts), f"no image {pts.stem}.{{{','.join(s[1:] for s in IMAGE_SUFFIXES)}}} beside it")
    subsets = tags - {"trainset", "testset"}
    return FaceSample(image, points - 1.0, np.ones(len(points), bool), None, subsets)


class _ImageIndex:
    """Finds the image beside an annotation file, listing each folder once."""

    def __init__(self):
        self._folders: dict[Path, dict[str, Path]] = {}

    def beside(self, annotation: Path) -> Path | None:
        """The image with ``annotation``'s stem (suffixes in ``IMAGE_SUFFIXES`` order), or None."""
        folder = annotation.parent
        if folder not in self._folders:
            self._folders[folder] = _images_by_stem(folder)
        return self._folders[folder].get(annotation.stem)


def _images_by_stem(folder: Path) -> dict[str, Path]:
    rank = {suffix: i for i, suffix in enumerate(IMAGE_SUFFIXES)}
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in rank), key=lambda p: rank[p.suffix.lower()])
    found: dict[str, Path] = {}
    for path in files:
        found.setdefault(path.stem, path)
    return found
