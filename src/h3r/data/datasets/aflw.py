"""AFLW-19: HRNet's CSV files ``face_landmarks_aflw_{train,test,test_frontal}.csv``.

Columns: ``image_name, scale, box_size, center_w, center_h`` and the 38 coordinates ``x1, y1, …, x19,
y19`` (HRNet reads them in this order). With a header row the five leading columns are found by name,
in any order, and the coordinates are the remaining columns in order. ``box_size`` is the AFLW-19
protocol's face size, sqrt(w · h) of its face box, and the NME normaliser; the CSV keeps no other box,
so ``FaceSample.box`` is the square of side ``box_size`` centred on (``center_w``, ``center_h``), whose
sqrt(w · h) is ``box_size`` again. The coordinates are taken as given: HRNet and mmpose use them
unchanged, as 0-based pixel coordinates.

``path`` is the folder holding the CSV files, or one CSV file (then without a split). Images are read
from ``images/`` beside the CSV (HRNet's layout), else beside it. Splits: ``train``, ``test`` (AFLW-full)
and ``frontal`` (its frontal faces); faces of the frontal file get the subset tag ``frontal``, also when
read from ``test`` with ``..._test_frontal.csv`` beside it.
"""

import csv
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
)
from h3r.data.datasets.schemes import AFLW_19

__all__ = ["SPLITS", "read_aflw"]

SPLITS = ("train", "test", "frontal")
_FILES = {
    "train": "face_landmarks_aflw_train.csv",
    "test": "face_landmarks_aflw_test.csv",
    "frontal": "face_landmarks_aflw_test_frontal.csv",
}
_LEADING = ("image_name", "scale", "box_size", "center_w", "center_h")


def read_aflw(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
    """Read an AFLW-19 CSV (see the module docstring).

    Raises:
        DatasetError: no CSV file, an unknown or missing split, a header without the named columns, or
            (unless ``skip_bad``) a row with the wrong number of columns, a non-number, NaN or
            infinity, or a missing image; naming the file and line.
    """
    path = Path(path)
    table = annotation_file(path, split, "aflw", SPLITS, lambda split: [path / _FILES[split]], "AFLW CSV file")
    frontal_file = table.with_name(_FILES["frontal"])
    frontal = {_key(row) for _, row in _rows(frontal_file)} if frontal_file.is_file() else set()
    images = table.parent / "images" if (table.parent / "images").is_dir() else table.parent
    records = [
        (f"{table}:{number}", lambda number=number, row=row: _sample(f"{table}:{number}", row, images, frontal))
        for number, row in _rows(table)
    ]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"aflw:{split}" if split else f"aflw:{table.stem}", AFLW_19, samples, skipped)


def _rows(table: Path) -> list[tuple[int, dict[str, object]]]:
    """(line number, row) pairs; a row maps the leading column names to text and ``"points"`` to the rest."""
    try:
        with table.open(newline="", encoding="utf-8", errors="replace") as file:
            lines = [(reader.line_num, row) for reader in [csv.reader(file)] for row in reader if row]
    except (OSError, csv.Error) as error:
        raise DatasetError(str(table), f"cannot read as CSV ({error})") from error
    if not lines:
        raise DatasetError(str(table), "empty CSV file")
    order = list(range(len(_LEADING)))
    if _is_header(lines[0][1]):
        header = [name.strip() for name in lines.pop(0)[1]]
        missing = [name for name in _LEADING if name not in header]
        if missing:
            raise DatasetError(f"{table}:1", f"header lacks the column(s) {', '.join(missing)}")
        order = [header.index(name) for name in _LEADING]
    return [(number, _split_row(row, order)) for number, row in lines]


def _is_header(row: list[str]) -> bool:
    try:
        float(row[1])
    except (ValueError, IndexError):
        return True
    return False


def _split_row(row: list[str], order: list[int]) -> dict[str, object]:
    leading = {name: row[index] if index < len(row) else "" for name, index in zip(_LEADING, order, strict=True)}
    return {**leading, "points": [value for index, value in enumerate(row) if index not in order]}


def _key(row: dict[str, object]) -> tuple:
    """Identifies a face across the test and frontal files: its image and box, whatever the number format."""
    try:
        return (row["image_name"], *(round(float(row[name]), 3) for name in ("box_size", "center_w", "center_h")))
    except ValueError:
        return (row["image_name"],)


def _sample(where: str, row: dict[str, object], images: Path, frontal: set[tuple]) -> FaceSample:
    expected, got = 2 * AFLW_19.num_landmarks, len(row["points"])
    if got != expected:
        raise DatasetError(where, f"expected {expected} coordinates after the 5 leading columns, got {got}")
    box_size, center_w, center_h = parse_floats([row["box_size"], row["center_w"], row["center_h"]], where)
    if box_size <= 0:
        raise DatasetError(where, f"box_size must be positive, got {box_size}")
    points = parse_floats(row["points"], where).reshape(-1, 2)
    half = box_size / 2
    box = np.array([center_w - half, center_h - half, center_w + half, center_h + half])
    image = existing_image(images / row["image_name"], where)
    subsets = frozenset({"frontal"}) if _key(row) in frontal else frozenset()
    return FaceSample(image, points, np.ones(len(points), bool), box, subsets)
