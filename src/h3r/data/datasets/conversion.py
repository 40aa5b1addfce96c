"""Landmark scheme conversion: the points of one scheme computed from those of another.

Each known conversion is linear: target point ``t`` is the mean of a group of source points, so a
conversion is a (K_target, K_source) matrix of non-negative weights whose rows sum to 1. Conversions
compose along a path of known ones (the matrix product), so any two schemes that the registry connects
convert, by the shortest path; the registry takes each step in one direction only.

Known conversions (0-based indices):
    - wflw-98 → 300w-68: jaw = even points 0-32, brows = the upper brow contours 33-37 and 42-46, nose
      51-59, eye corners 60, 64, 68, 72, each eyelid point the midpoint of an eye corner and the middle
      of that lid (mean of 60 and 62 for 37, of 62 and 64 for 38, ...), mouth 76-95. This is the
      mapping of the 68-point WFLW lists (``list_68pt_rect_attr_*.txt``), which it reproduces exactly.
      300-W's jaw and eyelid points sit somewhat differently, so a 300-W model keeps a small
      systematic error on them.
    - 300w-68 → mtfl-5: eye centres = means of the eye contours 36-41 and 42-47, nose tip 30, mouth
      corners 48 and 54.
    - wflw-98 → mtfl-5: eye centres = the pupils 96 and 97, nose tip 54, mouth corners 76 and 82. Both
      datasets mark the pupil as the eye's centre, and the authors' WFLW model's pupils lie closer to
      MTFL's eye centres than its eye-contour means do; a 68-point scheme has no pupil, so 300w-68 →
      mtfl-5 takes the contour means, and the path through 300w-68 gives other eye centres than this one.
    - aflw-19 → mtfl-5: eye centres 7 and 10, nose tip 13, mouth corners 15 and 17: MTFL's AFLW faces
      are AFLW's own annotations of these points.

Not registered: cofw-29 → mtfl-5, as no source we could check says which of COFW's two middle nose
points (20, 21) is the tip.
"""

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from h3r.data.datasets.base import FaceDataset
from h3r.data.datasets.schemes import LandmarkScheme, get_scheme

__all__ = [
    "CONVERSIONS",
    "Conversion",
    "convert_dataset",
    "convert_landmarks",
    "convert_visibility",
    "find_conversion",
    "known_conversions",
]


def _means(source_count: int, groups: list[tuple[int, ...]]) -> np.ndarray:
    """(len(groups), source_count) weights: row ``t`` averages the source points ``groups[t]``."""
    weights = np.zeros((len(groups), source_count))
    for target, group in enumerate(groups):
        weights[target, list(group)] = 1 / len(group)
    return weights


def _wflw_98_to_300w_68() -> np.ndarray:
    jaw = [(i,) for i in range(0, 33, 2)]
    brows = [(i,) for i in (*range(33, 38), *range(42, 47))]
    nose = [(i,) for i in range(51, 60)]
    # 300-W runs each eye from its left corner over the upper lid, then back along the lower one.
    left_eye = [(60,), (60, 62), (62, 64), (64,), (64, 66), (66, 60)]
    right_eye = [(68,), (68, 70), (70, 72), (72,), (72, 74), (74, 68)]
    mouth = [(i,) for i in range(76, 96)]
    return _means(98, jaw + brows + nose + left_eye + right_eye + mouth)


CONVERSIONS: dict[tuple[str, str], np.ndarray] = {
    ("wflw-98", "300w-68"): _wflw_98_to_300w_68(),
    ("300w-68", "mtfl-5"): _means(68, [tuple(range(36, 42)), tuple(range(42, 48)), (30,), (48,), (54,)]),
    ("wflw-98", "mtfl-5"): _means(98, [(96,), (97,), (54,), (76,), (82,)]),
    ("aflw-19", "mtfl-5"): _means(19, [(7,), (10,), (13,), (15,), (17,)]),
}
"""(source, target) scheme names → (K_target, K_source) weights; see the module docstring."""


@dataclass(frozen=True)
class Conversion:
    """A linear map from one scheme's landmarks to another's.

    Attributes:
        path: the scheme names it passes through, source first and target last.
        weights: (K_target, K_source) non-negative; target point ``t`` is ``Σ_s weights[t, s] · point s``.
    """

    path: tuple[str, ...]
    weights: np.ndarray

    @property
    def name(self) -> str:
        """e.g. ``"wflw-98 -> 300w-68 -> mtfl-5"``."""
        return " -> ".join(self.path)

    def points(self, points: np.ndarray) -> np.ndarray:
        """(..., K_source, D) values per landmark (coordinates, scores) → (..., K_target, D) float64.

        A target value is NaN where one of its source points (with nonzero weight) has a NaN.
        """
        points = np.asarray(points, dtype=np.float64)
        self._check(points.shape[-2:-1], "points", "(..., K_source, D)")
        missing = np.isnan(points).any(axis=-1)
        converted = np.einsum("ts,...sd->...td", self.weights, np.where(np.isnan(points), 0.0, points))
        converted[self.any_flagged(missing)] = np.nan
        return converted

    def any_flagged(self, flags: np.ndarray) -> np.ndarray:
        """(..., K_source) bool → (..., K_target) bool: whether any source point of each target is flagged."""
        flags = np.asarray(flags, dtype=bool)
        self._check(flags.shape[-1:], "flags", "(..., K_source)")
        return flags.astype(np.int64) @ (self.weights != 0).T.astype(np.int64) > 0

    def visibility(self, visible: np.ndarray) -> np.ndarray:
        """(..., K_source) bool → (..., K_target) bool: a target point is visible if all its sources are."""
        return ~self.any_flagged(~np.asarray(visible, dtype=bool))

    def _check(self, count: tuple[int, ...], name: str, pattern: str) -> None:
        if count != self.weights.shape[1:]:
            raise ValueError(f"{name} must be {pattern} with K_source = {self.weights.shape[1]} for {self.name}")


def find_conversion(source: LandmarkScheme | str, target: LandmarkScheme | str) -> Conversion:
    """The conversion from ``source`` to ``target`` along the shortest path of known ones.

    Raises:
        ValueError: an unknown scheme, or no path between the two; the message lists the known conversions.

    Examples:
        >>> find_conversion("wflw-98", "mtfl-5").weights.shape
        (5, 98)
        >>> find_conversion("300w-68", "wflw-98")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: no landmark conversion from 300w-68 to wflw-98; known: wflw-98 -> 300w-68, ...
    """
    start, goal = (get_scheme(s).name if isinstance(s, str) else s.name for s in (source, target))
    path = _shortest_path(start, goal)
    if path is None:
        raise ValueError(f"no landmark conversion from {start} to {goal}; known: {', '.join(known_conversions())}")
    weights = np.eye(get_scheme(start).num_landmarks)
    for step in zip(path, path[1:]):
        weights = CONVERSIONS[step] @ weights
    return Conversion(path, weights)


def known_conversions() -> list[str]:
    """The registered conversions as ``"source -> target"``."""
    return [f"{source} -> {target}" for source, target in CONVERSIONS]


def _shortest_path(start: str, goal: str) -> tuple[str, ...] | None:
    """Scheme names from ``start`` to ``goal`` along ``CONVERSIONS`` (breadth first), or None."""
    paths = {start: (start,)}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        if name == goal:
            return paths[name]
        for source, target in CONVERSIONS:
            if source == name and target not in paths:
                paths[target] = (*paths[name], target)
                queue.append(target)
    return None


def convert_landmarks(points, source: LandmarkScheme | str, target: LandmarkScheme | str) -> np.ndarray:
    """(..., K_source, 2) landmarks, (x, y) pixels → (..., K_target, 2) (see ``Conversion.points``).

    Examples:
        >>> points = np.zeros((68, 2)); points[30] = (5.0, 7.0)
        >>> convert_landmarks(points, "300w-68", "mtfl-5")[2]
        array([5., 7.])
    """
    return find_conversion(source, target).points(points)


def convert_visibility(visible, source: LandmarkScheme | str, target: LandmarkScheme | str) -> np.ndarray:
    """(..., K_source) bool → (..., K_target) bool: visible where every source point it uses is visible."""
    return find_conversion(source, target).visibility(visible)


def convert_dataset(faces: FaceDataset, target: LandmarkScheme | str) -> FaceDataset:
    """``faces`` with every face's landmarks, visibility and occlusion flags in the ``target`` scheme.

    A target point is occluded where any of its source points is; boxes, images and tags are kept.
    """
    conversion = find_conversion(faces.scheme, target)
    samples = [
        replace(
            sample,
            keypoints=conversion.points(sample.keypoints),
            visible=conversion.visibility(sample.visible),
            occluded=None if sample.occluded is None else conversion.any_flagged(sample.occluded),
        )
        for sample in faces
    ]
    target = get_scheme(conversion.path[-1])
    return FaceDataset(f"{faces.name} as {target.name}", target, samples, faces.skipped)
