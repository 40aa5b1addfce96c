"""Landmark schemes: the point layouts of the face datasets, with their mirror order and NME normalisers.

Indices are 0-based. "Left" and "right" below are the image's, for a face looking at the camera.

Sources of the layouts:
    - 300w-68: the iBUG 68-point scheme (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67).
    - wflw-98: WFLW's 98 points; the mirror order is torchalign's default (the authors' code).
    - cofw-29: COFW's 29 points (Burgos-Artizzu et al. 2013): brows 0-7, outer eye corners 8-9, inner
      corners 10-11, eyelids 12-15, pupils 16-17, nose 18-21, mouth 22-27, chin 28; the mirror pairs
      are HRNet's. COFW's own protocol normalises by the inter-pupil distance; HRNet and mmpose
      normalise by the outer eye corners (8, 9), reported here as the "inter-ocular" NME.
    - aflw-19: the AFLW-19 protocol's points (brows 0-5, eyes 6-11, nose 12-14, mouth 15-17, chin 18),
      normalised by the face box, sqrt(w · h).
    - lapa-106: LaPa's 106 points; the mirror pairs are mmpose's (the same order as the authors' LaPa
      models use) and the outer eye corners (66, 79) are mmpose's normaliser.
    - mtfl-5: the five points of MTFL (Zhang et al. 2014) and of Sun et al. 2013: the eye on the image's
      left, the other eye, the nose tip, the mouth corner on the image's left, the other; NME by the
      distance between the eye centres (0, 1), as those papers report it.

``h3r.data.datasets.conversion`` maps landmarks between these schemes.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["SCHEMES", "LandmarkScheme", "flip_keypoints", "get_scheme", "scheme_for_count"]

NORMALIZERS = ("inter-ocular", "inter-pupil", "box", "landmark-box")


@dataclass(frozen=True)
class LandmarkScheme:
    """A landmark layout.

    Attributes:
        name: e.g. ``"300w-68"``.
        num_landmarks: K.
        flip_permutation: landmark ``i`` of the mirrored face is landmark ``flip_permutation[i]`` of the
            face; an involution of ``range(K)``.
        normalizer: the default NME normaliser, one of ``NORMALIZERS``.
        eye_points: for each eye-based normaliser the scheme defines (``"inter-ocular"``,
            ``"inter-pupil"``), the landmarks of the two eyes: the normaliser is the distance between
            the centroids of the two index groups. Every normaliser listed here is reported.
        eye_point_names: for each key of ``eye_points``, what its points are in words (``"outer eye
            corners"``), shown beside the normaliser's name by ``normalizer_label``.
    """

    name: str
    num_landmarks: int
    flip_permutation: tuple[int, ...]
    normalizer: str
    eye_points: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict, hash=False)
    eye_point_names: dict[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        permutation = np.asarray(self.flip_permutation)
        if sorted(self.flip_permutation) != list(range(self.num_landmarks)):
            raise ValueError(f"{self.name}: flip_permutation must be a permutation of 0..{self.num_landmarks - 1}")
        if not (permutation[permutation] == np.arange(self.num_landmarks)).all():
            raise ValueError(f"{self.name}: flip_permutation must be an involution (mirroring twice is identity)")
        kinds = {"box", "landmark-box", *self.eye_points}
        if self.normalizer not in kinds:
            raise ValueError(f"{self.name}: normalizer {self.normalizer!r} must be one of {sorted(kinds)}")
        for kind, groups in self.eye_points.items():
            indices = [i for group in groups for i in group]
            if kind not in NORMALIZERS or not indices or not all(0 <= i < self.num_landmarks for i in indices):
                raise ValueError(f"{self.name}: bad eye_points {kind!r}: {groups}")
        if not set(self.eye_point_names) <= set(self.eye_points):
            raise ValueError(f"{self.name}: eye_point_names {sorted(self.eye_point_names)} name no eye_points")

    @property
    def normalizers(self) -> tuple[str, ...]:
        """The normalisers reported for this scheme: the default first, then the other eye-based ones."""
        return (self.normalizer, *(kind for kind in self.eye_points if kind != self.normalizer))

    def normalizer_label(self, kind: str | None = None) -> str:
        """A normaliser's name and, for an eye-based one, its points in words; default ``normalizer``.

        Examples:
            >>> get_scheme("mtfl-5").normalizer_label()
            'inter-ocular (eye centres)'
        """
        kind = self.normalizer if kind is None else kind
        return f"{kind} ({self.eye_point_names[kind]})" if kind in self.eye_point_names else kind


def _from_pairs(count: int, pairs: list[tuple[int, int]]) -> tuple[int, ...]:
    """The involution of ``range(count)`` swapping each pair; other landmarks map to themselves."""
    permutation = list(range(count))
    for a, b in pairs:
        permutation[a], permutation[b] = b, a
    return tuple(permutation)


# torchalign's default WFLW order.
_WFLW_FLIP = (
    *range(32, -1, -1),
    46, 45, 44, 43, 42, 50, 49, 48, 47,
    37, 36, 35, 34, 33, 41, 40, 39, 38,
    *range(51, 55),
    59, 58, 57, 56, 55,
    72, 71, 70, 69, 68, 75, 74, 73,
    64, 63, 62, 61, 60, 67, 66, 65,
    *range(82, 75, -1),
    *range(87, 82, -1),
    *range(92, 87, -1),
    95, 94, 93,
    97, 96,
)  # fmt: skip

# mmpose's LaPa mirror pairs, written out as a permutation.
_LAPA_FLIP = (
    *range(32, -1, -1),
    46, 45, 44, 43, 42, 50, 49, 48, 47,
    37, 36, 35, 34, 33, 41, 40, 39, 38,
    *range(51, 55),
    *range(65, 54, -1),
    79, 78, 77, 76, 75, 82, 81, 80, 83,
    70, 69, 68, 67, 66, 73, 72, 71, 74,
    *range(90, 83, -1),
    *range(95, 90, -1),
    *range(100, 95, -1),
    103, 102, 101,
    105, 104,
)  # fmt: skip


IBUG_68 = LandmarkScheme(
    name="300w-68",
    num_landmarks=68,
    flip_permutation=_from_pairs(
        68,
        [(i, 16 - i) for i in range(8)]  # jaw
        + [(17 + i, 26 - i) for i in range(5)]  # brows
        + [(31, 35), (32, 34)]  # nostrils; the nose ridge 27-30 and 33 stay
        # both eyes run clockwise in the image from their left corner, so the mirror pairs 37 with 44
        + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
        + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips; 51 and 57 stay
        + [(60, 64), (61, 63), (65, 67)],  # inner lips; 62 and 66 stay
    ),
    normalizer="inter-ocular",
    eye_points={"inter-ocular": ((36,), (45,)), "inter-pupil": (tuple(range(36, 42)), tuple(range(42, 48)))},
    eye_point_names={"inter-ocular": "outer eye corners", "inter-pupil": "eye-contour centres"},
)

WFLW_98 = LandmarkScheme(
    name="wflw-98",
    num_landmarks=98,
    flip_permutation=_WFLW_FLIP,
    normalizer="inter-ocular",
    eye_points={"inter-ocular": ((60,), (72,))},
    eye_point_names={"inter-ocular": "outer eye corners"},
)

COFW_29 = LandmarkScheme(
    name="cofw-29",
    num_landmarks=29,
    flip_permutation=_from_pairs(
        29, [(0, 1), (2, 3), (4, 6), (5, 7), (8, 9), (10, 11), (12, 14), (13, 15), (16, 17), (18, 19), (22, 23)]
    ),
    normalizer="inter-pupil",
    eye_points={"inter-pupil": ((16,), (17,)), "inter-ocular": ((8,), (9,))},
    eye_point_names={"inter-pupil": "pupils", "inter-ocular": "outer eye corners"},
)

AFLW_19 = LandmarkScheme(
    name="aflw-19",
    num_landmarks=19,
    flip_permutation=_from_pairs(19, [(0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9), (12, 14), (15, 17)]),
    normalizer="box",
)

LAPA_106 = LandmarkScheme(
    name="lapa-106",
    num_landmarks=106,
    flip_permutation=_LAPA_FLIP,
    normalizer="inter-ocular",
    eye_points={"inter-ocular": ((66,), (79,))},
    eye_point_names={"inter-ocular": "outer eye corners"},
)

MTFL_5 = LandmarkScheme(
    name="mtfl-5",
    num_landmarks=5,
    flip_permutation=_from_pairs(5, [(0, 1), (3, 4)]),
    normalizer="inter-ocular",
    eye_points={"inter-ocular": ((0,), (1,))},
    eye_point_names={"inter-ocular": "eye centres"},
)

SCHEMES = {scheme.name: scheme for scheme in (IBUG_68, WFLW_98, COFW_29, AFLW_19, LAPA_106, MTFL_5)}


def get_scheme(name: str) -> LandmarkScheme:
    """The scheme called ``name`` (a key of ``SCHEMES``)."""
    if name not in SCHEMES:
        raise ValueError(f"unknown landmark scheme {name!r}; known: {', '.join(SCHEMES)}")
    return SCHEMES[name]


def scheme_for_count(count: int) -> LandmarkScheme:
    """The scheme with ``count`` landmarks.

    Examples:
        >>> scheme_for_count(68).name
        '300w-68'
    """
    for scheme in SCHEMES.values():
        if scheme.num_landmarks == count:
            return scheme
    known = ", ".join(f"{s.num_landmarks} ({s.name})" for s in SCHEMES.values())
    raise ValueError(f"no landmark scheme has {count} points; known counts: {known}")


def flip_keypoints(keypoints: np.ndarray, width: int, scheme: LandmarkScheme) -> np.ndarray:
    """Landmarks of the horizontally mirrored image: ``x → width − 1 − x``, then reordered by the scheme.

    Args:
        keypoints: (..., K, 2) (x, y) image pixels.
        width: W of the image, pixels.

    Returns:
        (..., K, 2) float64, landmark ``i`` of the mirrored face at index ``i``.

    Examples:
        >>> flip_keypoints(np.zeros((19, 2)), 10, get_scheme("aflw-19"))[0]
        array([9., 0.])
    """
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim < 2 or keypoints.shape[-2:] != (scheme.num_landmarks, 2):
        raise ValueError(f"keypoints must be (..., {scheme.num_landmarks}, 2) for {scheme.name}, got {keypoints.shape}")
    mirrored = keypoints.copy()
    mirrored[..., 0] = width - 1 - mirrored[..., 0]
    return mirrored[..., list(scheme.flip_permutation), :]
