"""MTFL: five points on face crops, ``new_training.txt`` and ``new_testing.txt``.

Each line holds 11 whitespace-separated fields: the image path relative to the list file's folder
(``/`` or ``\\`` separated), then ``x1 x2 x3 x4 x5 y1 y2 y3 y4 y5``, all x before all y, for the
``mtfl-5`` points: the eye on the image's left, the other eye, the nose tip, the mouth corner on the
image's left, the other corner.

``path`` is the folder holding the lists and the image folders (split ``train``: ``new_training.txt``,
``test``: ``new_testing.txt``), or a list file itself (then without a split). Subset tags: the path's top
folder (``lfw_5590``, ``net_7876``, ``AFLW``).

Box: the whole crop, ``(-0.5, -0.5, W - 0.5, H - 0.5)``: its outer edges in pixel-centre coordinates,
the corners-as-points convention of every reader's box (``h3r.data.datasets.base``), whose side is the
crop's W pixels. The crops are face boxes themselves: the AFLW test faces fill theirs, while the LFW
training faces sit in the middle half of a looser crop (the whole 250-pixel LFW image).

Coordinates: taken as given, as 0-based pixel centres; no source we could read states their convention,
and the crops were resized from larger images (the LFW values are all 80/250 times quarter-pixel values,
the 250-pixel LFW images brought to 80), which may have moved the points by a fraction of a pixel
either way. Two models trained on 0-based data (``face68`` and the authors' WFLW model, flip test on, so
their own left-right bias cancels) place MTFL's points, on average, within a third of a pixel of where
the training lists put them on the LFW and web crops, but about 1.4 pixels left and 0.6 to 0.9 pixels
above where ``new_testing.txt`` puts them on the AFLW crops, frontal faces included: the test points sit
right of and below the faces' features by about a pixel, as if 1-based, which adds several percent of
the eye distance to a model's NME there.

Faulty faces: the 2,350 rotated copies among the web faces (``net_7876/_ANGLE_ID_FLAG.jpg``) carry points
that miss their faces (tens of pixels off, it seems not rotated with the image); the other faces' points
sit on their features.
"""

from pathlib import Path, PureWindowsPath

import numpy as np
from PIL import Image

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
from h3r.data.datasets.schemes import MTFL_5

__all__ = ["SPLITS", "read_mtfl"]

SPLITS = ("train", "test")
_FILES = {"train": "new_training.txt", "test": "new_testing.txt"}
_FIELDS = 1 + 2 * MTFL_5.num_landmarks


def read_mtfl(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
    """Read an MTFL list (see the module docstring).

    Raises:
        DatasetError: no list file, an unknown or missing split, or (unless ``skip_bad``) a line with
            the wrong number of fields, a non-number, NaN or infinity, or a missing or unreadable image;
            naming the file and line.
    """
    path = Path(path)
    list_file = annotation_file(path, split, "mtfl", SPLITS, lambda split: [path / _FILES[split]], "MTFL list file")
    records = [
        (f"{list_file}:{number}", lambda number=number, line=line: _sample(list_file, number, line))
        for number, line in enumerate(read_lines(list_file), start=1)
        if line.strip()
    ]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"mtfl:{split or list_file.stem}", MTFL_5, samples, skipped)


def _sample(list_file: Path, number: int, line: str) -> FaceSample:
    where = f"{list_file}:{number}"
    tokens = line.split()
    if len(tokens) != _FIELDS:
        raise DatasetError(where, f"expected {_FIELDS} fields (image, x1 … x5, y1 … y5), got {len(tokens)}")
    x, y = parse_floats(tokens[1:], where).reshape(2, -1)
    relative = PureWindowsPath(tokens[0]).as_posix()  # reads both / and \ as separators
    image = existing_image(list_file.parent / relative, where)
    subsets = frozenset([relative.split("/")[0]]) if "/" in relative else frozenset()
    return FaceSample(image, np.stack([x, y], axis=1), np.ones(len(x), bool), _whole_image_box(image, where), subsets)


def _whole_image_box(image: Path, where: str) -> np.ndarray:
    """(4,) the image's outer edges (x1, y1, x2, y2), pixel-centre coordinates."""
    try:
        with Image.open(image) as opened:
            width, height = opened.size
    except OSError as error:
        raise DatasetError(where, f"cannot read image {image} ({error})") from None
    return np.array([-0.5, -0.5, width - 0.5, height - 0.5])
