"""The in-memory form every dataset reader returns, and the error handling the readers share.

Coordinates follow ``h3r.codecs.coords``: points are (x, y) in image pixels, the centre of the top-left
pixel is (0, 0). Each reader converts its format's own convention (1-based for MATLAB-made and 300-W
files) to this one. A face box is (x1, y1, x2, y2), its corners taken as points in the format's frame and
shifted like the landmarks, as in ``h3r.data.crop``.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from h3r.data.datasets.schemes import LandmarkScheme
from h3r.data.image import load_image

__all__ = ["DatasetError", "FaceDataset", "FaceSample"]

# Image files looked for beside an annotation, in this order of preference; matched case-insensitively.
IMAGE_SUFFIXES = (".jpg", ".png", ".jpeg", ".bmp", ".ppm")


class DatasetError(ValueError):
    """A dataset file, line or sample that cannot be read: ``where`` names it, ``why`` says what is wrong."""

    def __init__(self, where: str, why: str):
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


@dataclass
class FaceSample:
    """One annotated face.

    Attributes:
        image_path: the image file; for formats that store pixels inside the annotation file (COFW's
            .mat), that file, with the pixels in ``image``.
        keypoints: (K, 2) float64, (x, y) image pixels; NaN only where ``visible`` is False.
        visible: (K,) bool, whether each landmark is annotated.
        box: (4,) float64 (x1, y1, x2, y2) image pixels, the dataset's own face box, or None.
        subsets: the tags the dataset gives this face (source database, test subset, attributes).
        occluded: (K,) bool, landmarks annotated but marked occluded (COFW), or None where the format
            has no such flag.
        image: (H, W) or (H, W, 3) uint8 pixels held in memory, or None to read ``image_path``.
    """

    image_path: Path
    keypoints: np.ndarray
    visible: np.ndarray
    box: np.ndarray | None = None
    subsets: frozenset[str] = frozenset()
    occluded: np.ndarray | None = None
    image: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, dtype=np.float64)
        self.visible = np.asarray(self.visible, dtype=bool)
        count = len(self.keypoints)
        if self.keypoints.shape != (count, 2) or self.visible.shape != (count,):
            raise ValueError(
                f"keypoints must be (K, 2) and visible (K,), got {self.keypoints.shape} and {self.visible.shape}"
            )
        bad = np.flatnonzero(self.visible & ~np.isfinite(self.keypoints).all(axis=1))
        if bad.size:
            raise ValueError(f"landmarks {bad.tolist()} are visible but not finite: {self.keypoints[bad].tolist()}")
        if self.box is not None:
            self.box = np.asarray(self.box, dtype=np.float64)
            if self.box.shape != (4,) or not np.isfinite(self.box).all():
                raise ValueError(f"box must be 4 finite numbers (x1, y1, x2, y2), got {self.box.tolist()}")
        if self.occluded is not None:
            self.occluded = np.asarray(self.occluded, dtype=bool)
            if self.occluded.shape != (count,):
                raise ValueError(f"occluded must be ({count},), got {self.occluded.shape}")

    @property
    def image_source(self) -> Path | np.ndarray:
        """What ``load_image`` reads: the pixels held in memory, else the image file."""
        return self.image_path if self.image is None else self.image

    def load_image(self, exif_transpose: bool = True) -> np.ndarray:
        """The face's image as an (H, W, 3) uint8 RGB array (see ``h3r.data.image.load_image``)."""
        return load_image(self.image_source, exif_transpose=exif_transpose)


@dataclass
class FaceDataset:
    """A list of faces in one landmark scheme, and the samples left out by ``skip_bad`` as (where, why)."""

    name: str
    scheme: LandmarkScheme
    samples: list[FaceSample]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> FaceSample:
        return self.samples[index]

    def __iter__(self) -> Iterator[FaceSample]:
        return iter(self.samples)


def collect(
    records: Iterable[tuple[str, Callable[[], FaceSample]]], skip_bad: bool
) -> tuple[list[FaceSample], list[tuple[str, str]]]:
    """Build each record's sample; a ``ValueError`` becomes a ``DatasetError`` naming the record's ``where``.

    With ``skip_bad`` the bad records are returned as (where, why) instead of raised.
    """
    samples, skipped = [], []
    for where, build in records:
        try:
            samples.append(build())
        except ValueError as error:
            problem = error if isinstance(error, DatasetError) else DatasetError(where, str(error))
            if not skip_bad:
                raise problem from error
            skipped.append((problem.where, problem.why))
    return samples, skipped


def read_lines(path: Path) -> list[str]:
    """The lines of a text annotation file (undecodable bytes replaced); ``DatasetError`` if unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as error:
        raise DatasetError(str(path), f"cannot read ({error.strerror or error})") from error


def parse_floats(tokens: list[str], where: str) -> np.ndarray:
    """Numbers from text tokens, float64; raises ``DatasetError`` on a non-number, NaN or infinity."""
    try:
        values = np.array([float(token) for token in tokens], dtype=np.float64)
    except ValueError:
        raise DatasetError(where, f"expected numbers, got {' '.join(tokens)!r}") from None
    if not np.isfinite(values).all():
        raise DatasetError(where, f"NaN or infinite value in {' '.join(tokens)!r}")
    return values


def check_count(keypoints: np.ndarray, scheme: LandmarkScheme, where: str) -> None:
    if len(keypoints) != scheme.num_landmarks:
        raise DatasetError(where, f"{len(keypoints)} landmarks, expected {scheme.num_landmarks} ({scheme.name})")


def existing_image(path: Path, where: str) -> Path:
    """``path`` if it is a file, else a ``DatasetError``; decoding is checked later, by ``load_image``."""
    if not path.is_file():
        raise DatasetError(where, f"image {path} not found")
    return path


def find_file(candidates: Iterable[Path], what: str, where: str) -> Path:
    """The first existing file of ``candidates``, or a ``DatasetError`` listing them."""
    candidates = list(candidates)
    for path in candidates:
        if path.is_file():
            return path
    raise DatasetError(where, f"no {what}; looked for {', '.join(str(p) for p in candidates)}")


def annotation_file(
    path: Path,
    split: str | None,
    reader: str,
    splits: tuple[str, ...],
    candidates: Callable[[str], list[Path]],
    what: str,
) -> Path:
    """The annotation file a reader's ``path`` names: ``path`` if it is a file (then without a split), else
    the first existing file of ``candidates(split)`` for ``split``, one of ``splits``; ``what`` names it."""
    if path.is_file():
        if split is not None:
            raise DatasetError(str(path), f"split {split!r} given for one {what}; give the folder instead")
        return path
    return find_file(candidates(require_split(reader, split, splits, str(path))), what, str(path))


def require_split(reader: str, split: str | None, splits: tuple[str, ...], where: str) -> str:
    if split not in splits:
        given = "no split" if split is None else f"unknown split {split!r}"
        raise DatasetError(where, f"{given}; {reader} needs one of: {', '.join(splits)}")
    return split
