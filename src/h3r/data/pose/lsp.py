"""Leeds Sports Pose (LSP) and LSP-extended: ``joints.mat`` beside an ``images/`` folder.

``joints.mat`` holds one variable, ``joints``, in one of two layouts, told apart by its shape:

- LSP (``im0001.jpg`` …): (3, 14, N), rows x, y and a flag that is 1 where the joint is *occluded*:
  despite the name "visibility" in LSP's readme, 0 means visible. Every joint is labelled (occluded
  ones where the annotator estimated them), so ``visible`` is True throughout and the flag becomes
  ``occluded``.
- LSP-extended (``im00001.jpg`` …): (14, 3, N), columns x, y and a flag that is 1 where the joint is
  visible and 0 where it was not labelled; those joints carry meaningless coordinates (in the shared
  ``lspet-400`` all 734 lie outside their images) and are read as NaN, ``visible`` False.

Coordinates are MATLAB's, 1-based: the reader subtracts 1. Labelled joints may lie outside the image
(2 in ``lspet-400``). LSP has no person box; each sample's box is the padded box of its labelled
joints (``joint_box``). PCK on LSP is normalised by the torso (``PoseScheme.torso``).

Splits (``lsp:PATH:SPLIT``): none for every image; ``val`` holds out every 4th image in file order
(numbers 4, 8, 12, …: 100 of the 400 of ``lspet-400``), fixed, never random; ``train`` is the rest.
"""

from pathlib import Path

import numpy as np

from h3r.data.datasets.base import DatasetError, collect, find_file, require_split
from h3r.data.pose.base import PoseDataset, PoseSample, joint_box, load_mat
from h3r.data.pose.schemes import LSP_14

__all__ = ["HOLDOUT_EVERY", "SPLITS", "holdout_split", "read_lsp"]

SPLITS = ("train", "val")
HOLDOUT_EVERY = 4


def read_lsp(path: Path, split: str | None = None, skip_bad: bool = False) -> PoseDataset:
    """Read an LSP or LSP-extended ``joints.mat`` and its images (see the module docstring).

    Args:
        path: the folder holding ``joints.mat`` and ``images/``, or the .mat file.
        split: None (every image), ``"train"`` or ``"val"``.
        skip_bad: leave out bad samples, listed in ``PoseDataset.skipped``, instead of raising.

    Raises:
        DatasetError: naming the file (and image) and the problem: no or unreadable .mat, no
            ``joints`` variable, a shape of neither layout, an unknown split, or (unless ``skip_bad``)
            a flag other than 0/1, a non-finite labelled joint, fewer than two distinct labelled joints
            or a missing image.
    """
    path = Path(path)
    mat = find_file([path / "joints.mat"], "joints.mat", str(path)) if path.is_dir() else path
    if split is not None:
        require_split("lsp", split, SPLITS, str(path))
    points, flags, extended = _read_joints(mat)
    widths = (5, 4) if extended else (4, 5)  # the layout's own file names first
    folders = (mat.parent / "images", mat.parent)
    builds = [
        (
            f"{mat}: image {i + 1}",
            lambda i=i: _sample(points[i], flags[i], extended, [f"im{i + 1:0{w}d}.jpg" for w in widths], folders),
        )
        for i in holdout_split(len(points), split)
    ]
    samples, skipped = collect(builds, skip_bad)
    return PoseDataset(f"lsp:{split}" if split else f"lsp:{mat.parent.name}", LSP_14, samples, skipped)


def holdout_split(count: int, split: str | None) -> list[int]:
    """The indices of ``split`` among ``count`` images: every ``HOLDOUT_EVERY``-th is ``"val"``.

    Examples:
        >>> holdout_split(9, "val"), holdout_split(9, "train")
        ([3, 7], [0, 1, 2, 4, 5, 6, 8])
    """
    if split not in (None, *SPLITS):
        raise ValueError(f"split must be None or one of {SPLITS}, got {split!r}")
    if split is None:
        return list(range(count))
    return [i for i in range(count) if (i % HOLDOUT_EVERY == HOLDOUT_EVERY - 1) == (split == "val")]


def _read_joints(mat: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """(N, 14, 2) 1-based points, (N, 14) flags, and whether the file is in the LSP-extended layout."""
    variables = load_mat(mat, ".mat file")
    if "joints" not in variables:
        found = sorted(k for k in variables if not k.startswith("__"))
        raise DatasetError(str(mat), f"no variable 'joints'; found {found}")
    joints = np.asarray(variables["joints"])
    if joints.ndim == 2:  # MATLAB drops a trailing axis of length 1: a file of one image
        joints = joints[..., None]
    if not np.issubdtype(joints.dtype, np.number) or joints.ndim != 3:
        raise DatasetError(str(mat), f"joints must be a numeric 3-D array, got {joints.dtype} {joints.shape}")
    count = LSP_14.num_landmarks
    if joints.shape[:2] == (3, count):
        table, extended = joints.transpose(2, 1, 0), False
    elif joints.shape[:2] == (count, 3):
        table, extended = joints.transpose(2, 0, 1), True
    else:
        raise DatasetError(
            str(mat),
            f"joints has shape {joints.shape}; expected (3, {count}, N) (LSP) or ({count}, 3, N) (LSP-extended)",
        )
    table = table.astype(np.float64)
    return table[..., :2], table[..., 2], extended


def _sample(points: np.ndarray, flags: np.ndarray, extended: bool, names: list[str], folders) -> PoseSample:
    if not np.isin(flags, (0, 1)).all():
        raise ValueError(f"visibility flags must be 0 or 1, got {sorted(set(flags.tolist()))}")
    if extended:
        visible, occluded = flags == 1, None
    else:
        visible, occluded = np.ones(len(flags), bool), flags == 1
    if not np.isfinite(points[visible]).all():
        raise ValueError("NaN or infinite joint coordinates")
    keypoints = np.where(visible[:, None], points - 1.0, np.nan)
    image = _first_image(names, folders)
    return PoseSample(image, keypoints, visible, joint_box(keypoints, visible), occluded=occluded)


def _first_image(names: list[str], folders) -> Path:
    """The first of ``names`` found in ``folders``; the error names the first, the layout's own."""
    found = [folder / name for name in names for folder in folders if (folder / name).is_file()]
    if not found:
        raise ValueError(f"image {names[0]} not found in {', '.join(str(folder) for folder in folders)}")
    return found[0]
