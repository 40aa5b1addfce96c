"""Face landmark datasets in their original formats, read into one form (``FaceDataset`` of ``FaceSample``).

A dataset is named by a spec ``READER:PATH[:SPLIT]``:

======== ============================================ ======================================
reader   PATH                                         splits
======== ============================================ ======================================
300w     folder of images + ``.pts`` files            train, common, challenging, full,
                                                      test; none = every ``.pts`` below PATH
wflw     WFLW root, or a ``list_98pt_rect_attr`` or   train, test (none with a file)
         ``list_68pt_rect_attr`` file (98 or 68
         points, told by its field count)
wflw-68  WFLW root with the 68-point lists, or one    train, test (none with a file)
cofw     folder of ``COFW_*_color.mat``, or a .mat    train, test (optional with a file)
aflw     folder of HRNet's AFLW CSVs, or a CSV        train, test, frontal (none with a file)
mtfl     MTFL folder (``new_training.txt``, ...), or  train, test (none with a file)
         one of its list files
coco     an mmpose COCO-style JSON                    none
======== ============================================ ======================================

and the human pose readers ``coco-pose``, ``mpii`` and ``lsp`` of ``h3r.data.pose``, which return
``PoseDataset`` (a ``FaceDataset`` of people).

Every reader returns 0-based pixel-centre coordinates (``h3r.codecs.coords``); each module's docstring
says how its format is converted. ``conversion`` maps landmarks from one scheme to another
(``convert_landmarks``, ``convert_dataset``).
"""

from collections.abc import Callable
from functools import partial
from pathlib import Path

from h3r.data.datasets.aflw import read_aflw
from h3r.data.datasets.base import DatasetError, FaceDataset, FaceSample
from h3r.data.datasets.coco import read_coco
from h3r.data.datasets.cofw import read_cofw
from h3r.data.datasets.conversion import (
    Conversion,
    convert_dataset,
    convert_landmarks,
    convert_visibility,
    find_conversion,
    known_conversions,
)
from h3r.data.datasets.ibug300w import read_300w, read_pts
from h3r.data.datasets.mtfl import read_mtfl
from h3r.data.datasets.schemes import SCHEMES, LandmarkScheme, flip_keypoints, get_scheme, scheme_for_count
from h3r.data.datasets.wflw import read_wflw

__all__ = [
    "READERS",
    "SCHEMES",
    "Conversion",
    "DatasetError",
    "FaceDataset",
    "FaceSample",
    "LandmarkScheme",
    "convert_dataset",
    "convert_landmarks",
    "convert_visibility",
    "find_conversion",
    "flip_keypoints",
    "get_scheme",
    "known_conversions",
    "read_300w",
    "read_aflw",
    "read_coco",
    "read_cofw",
    "read_dataset",
    "read_mtfl",
    "read_pts",
    "read_wflw",
    "scheme_for_count",
]


def _pose_reader(name: str) -> Callable[..., FaceDataset]:
    """The ``h3r.data.pose`` reader ``name``, imported at its first call (that package builds on this one)."""

    def read(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
        from h3r.data.pose import POSE_READERS

        return POSE_READERS[name](path, split, skip_bad=skip_bad)

    return read


READERS: dict[str, Callable[..., FaceDataset]] = {
    "300w": read_300w,
    "wflw": read_wflw,
    "wflw-68": partial(read_wflw, points=68),
    "cofw": read_cofw,
    "aflw": read_aflw,
    "mtfl": read_mtfl,
    "coco": read_coco,
    **{name: _pose_reader(name) for name in ("coco-pose", "mpii", "lsp")},
}


def read_dataset(spec: str, skip_bad: bool = False) -> FaceDataset:
    """Read the dataset named by ``spec``, ``READER:PATH[:SPLIT]`` (see the module docstring).

    The text after the last ``:`` is the split unless the whole text after ``READER:`` is an existing
    path. With ``skip_bad``, bad samples (malformed line, wrong point count, NaN or infinity, missing
    image) are left out and listed in ``FaceDataset.skipped``; problems with the whole dataset (unknown
    reader or split, missing annotation file) still raise.

    Raises:
        DatasetError: naming the file (and line or sample) and the problem.

    Examples:
        >>> read_dataset("pts:/data")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        h3r.data.datasets.base.DatasetError: pts:/data: unknown reader 'pts'; known: 300w, wflw, wflw-68, cofw, aflw, ...
    """
    reader, _, rest = spec.partition(":")
    if reader not in READERS:
        raise DatasetError(spec, f"unknown reader {reader!r}; known: {', '.join(READERS)}")
    if not rest:
        raise DatasetError(spec, f"no path; expected {reader}:PATH[:SPLIT]")
    path, split = rest, None
    if ":" in rest and not Path(rest).exists():
        path, split = rest.rsplit(":", 1)
    return READERS[reader](Path(path), split or None, skip_bad=skip_bad)
