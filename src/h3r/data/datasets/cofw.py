"""COFW: ``COFW_{train,test}_color.mat`` (Burgos-Artizzu et al. 2013), images inside the file.

Variables (``Tr`` for the training file, ``T`` for the test file):
    - ``IsTr``/``IsT``: a cell array of N uint8 images, gray (H, W) or colour (H, W, 3);
    - ``phisTr``/``phisT``: N × 87, the 29 x, the 29 y and 29 occlusion flags (1 = occluded);
    - ``bboxesTr``/``bboxesT``: N × 4 face boxes (x, y, w, h).

Coordinates are MATLAB's, 1-based: the reader subtracts 1 from points and box corners. Occluded
landmarks stay annotated (``visible`` True) and are flagged in ``FaceSample.occluded``. The images are
held in memory (``FaceSample.image``), with ``image_path`` the .mat file.

Both MAT layouts are read: v7.3 (HDF5, as released; needs h5py) and the older v5 (scipy). ``path`` is a
folder holding ``COFW_{split}_color.mat`` (or the grayscale ``COFW_{split}.mat``), or a .mat file.
"""

from pathlib import Path

import numpy as np

from h3r.data.datasets.base import DatasetError, FaceDataset, FaceSample, collect, find_file, require_split
from h3r.data.datasets.schemes import COFW_29

__all__ = ["SPLITS", "read_cofw"]

SPLITS = ("train", "test")
_SUFFIXES = {"train": "Tr", "test": "T"}
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def read_cofw(path: Path, split: str | None = None, skip_bad: bool = False) -> FaceDataset:
    """Read a COFW .mat file (see the module docstring).

    ``split`` is needed with a folder; with a file it is read from the variable names when omitted.

    Raises:
        DatasetError: no or unreadable .mat file, missing variables, counts that disagree, an unknown
            split, or (unless ``skip_bad``) a sample whose image is not uint8 (H, W) or (H, W, 3), or
            whose annotation holds NaN or infinity.
    """
    path = Path(path)
    if path.is_dir():
        split = require_split("cofw", split, SPLITS, str(path))
        mat = find_file((path / f"COFW_{split}_color.mat", path / f"COFW_{split}.mat"), "COFW .mat file", str(path))
    else:
        mat = path
        if split is not None:
            require_split("cofw", split, SPLITS, str(path))
    variables = _load(mat)
    split = split or _split_of(mat, variables)
    images, phis, boxes = (variables.get(f"{name}{_SUFFIXES[split]}") for name in ("Is", "phis", "bboxes"))
    _check_arrays(mat, split, images, phis, boxes)
    records = [
        (f"{mat}: sample {i}", lambda i=i: _sample(mat, images[i], phis[i], boxes[i])) for i in range(len(images))
    ]
    samples, skipped = collect(records, skip_bad)
    return FaceDataset(f"cofw:{split}", COFW_29, samples, skipped)


def _split_of(mat: Path, variables: dict) -> str:
    found = [split for split, suffix in _SUFFIXES.items() if f"phis{suffix}" in variables]
    if len(found) != 1:
        raise DatasetError(str(mat), "cannot tell the split: give it (cofw:PATH:train or cofw:PATH:test)")
    return found[0]


def _check_arrays(mat: Path, split: str, images, phis, boxes) -> None:
    suffix = _SUFFIXES[split]
    arrays = {f"Is{suffix}": images, f"phis{suffix}": phis, f"bboxes{suffix}": boxes}
    missing = [name for name, value in arrays.items() if value is None]
    if missing:
        raise DatasetError(str(mat), f"no variable {', '.join(missing)} (needed for the COFW {split} split)")
    count = 3 * COFW_29.num_landmarks
    if phis.ndim != 2 or phis.shape[1] != count or boxes.ndim != 2 or boxes.shape[1] != 4:
        shapes = f"got {phis.shape} and {boxes.shape}"
        raise DatasetError(str(mat), f"phis{suffix} must be N × {count} and bboxes{suffix} N × 4, {shapes}")
    if not len(images) == len(phis) == len(boxes):
        raise DatasetError(str(mat), f"{len(images)} images, {len(phis)} annotations and {len(boxes)} boxes")


def _sample(mat: Path, image: np.ndarray, phis: np.ndarray, box: np.ndarray) -> FaceSample:
    if image.dtype != np.uint8 or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or not image.size:
        raise ValueError(f"image must be uint8 (H, W) or (H, W, 3), got {image.dtype} {image.shape}")
    if not (np.isfinite(phis).all() and np.isfinite(box).all()):
        raise ValueError("NaN or infinite value in the landmarks or the box")
    count = COFW_29.num_landmarks
    points = np.stack([phis[:count], phis[count : 2 * count]], axis=1) - 1.0
    x, y, w, h = box
    return FaceSample(
        mat,
        points,
        np.ones(count, bool),
        np.array([x - 1.0, y - 1.0, x - 1.0 + w, y - 1.0 + h]),
        occluded=phis[2 * count :] > 0.5,
        image=image,
    )


def _load(mat: Path) -> dict[str, object]:
    """Variables of a .mat file: ``Is*`` as lists of (H, W[, 3]) arrays, the others as 2-D float64 arrays."""
    if not mat.is_file():
        raise DatasetError(str(mat), "no such .mat file")
    try:
        return _load_hdf5(mat) if _is_hdf5(mat) else _load_v5(mat)
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DatasetError(str(mat), f"cannot read as a MATLAB file ({error})") from error


def _is_hdf5(mat: Path) -> bool:
    """MATLAB v7.3 files are HDF5, whose signature sits at offset 0, 512, 1024 or 2048 (after a user block)."""
    with mat.open("rb") as file:
        for offset in (0, 512, 1024, 2048):
            file.seek(offset)
            if file.read(8) == _HDF5_SIGNATURE:
                return True
    return False


def _load_v5(mat: Path) -> dict[str, object]:
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        raw = loadmat(mat)
    except MatReadError as error:
        raise DatasetError(str(mat), f"cannot read as a MATLAB file ({error})") from error
    variables: dict[str, object] = {}
    for name, value in raw.items():
        if name.startswith("Is"):
            variables[name] = [np.asarray(cell) for cell in np.asarray(value, dtype=object).ravel()]
        elif not name.startswith("__"):
            variables[name] = np.atleast_2d(np.asarray(value, dtype=np.float64))
    return variables


def _load_hdf5(mat: Path) -> dict[str, object]:
    """MATLAB stores arrays column-major, so every HDF5 dataset is read transposed (all axes reversed)."""
    try:
        import h5py
    except ImportError as error:
        raise DatasetError(str(mat), "is a MATLAB v7.3 (HDF5) file, which needs h5py: pip install h5py") from error
    variables: dict[str, object] = {}
    with h5py.File(mat, "r") as file:
        for name, value in file.items():
            if not isinstance(value, h5py.Dataset):
                continue
            if name.startswith("Is"):
                variables[name] = [np.transpose(file[ref][()]) for ref in value[()].ravel()]
            else:
                variables[name] = np.atleast_2d(np.transpose(value[()]).astype(np.float64))
    return variables
