"""Top-down pose training crops: ``FaceTrainingSet`` on person boxes, with half-body augmentation.

Each person is cropped from its box (``PoseSample.box``) widened to the input's aspect ratio W / H and
scaled by ``crop_scale`` (``box_to_rectangle``; HRNet's crop of a 256×192 input). Geometry, flip (with
the scheme's joint permutation), colour and codec targets are ``FaceTrainingSet``'s, unchanged.

Half-body augmentation (HRNet, Wang et al. 2019): with probability ``augment.half_body``, a person with
more than ``HALF_BODY_MIN_JOINTS`` labelled joints is cropped from the box of the labelled joints of one
body half instead (``half_body_box``): the upper half (``PoseScheme.upper_body``) or the lower, at even
odds, the other when the chosen half has fewer than three labelled joints.
"""

import numpy as np

from h3r.codecs.base import Codec
from h3r.data.augment import AugmentSettings
from h3r.data.pose.base import PoseDataset
from h3r.data.pose.schemes import PoseScheme
from h3r.data.training_set import FaceTrainingSet

__all__ = ["HALF_BODY_MIN_JOINTS", "HALF_BODY_SCALE", "PoseTrainingSet", "half_body_box"]

HALF_BODY_MIN_JOINTS = 8
"""People with at most this many labelled joints are always cropped whole (HRNet's ``num_joints_half_body``)."""
HALF_BODY_SCALE = 1.2
"""Side of a half-body box over the tight box of its joints; times the usual ``crop_scale`` 1.25 this is the
1.5 of HRNet's half-body crop."""


class PoseTrainingSet(FaceTrainingSet):
    """Augmented top-down crops of the people of a ``PoseDataset``, with their codec targets.

    Args:
        dataset: the people; each sample's ``box`` is its crop box.
        input_size: (H, W) of the network input, e.g. (256, 192), or one side for a square.
        codec, crop_scale, augment, seed, exif_transpose: as ``FaceTrainingSet``; ``augment.half_body`` is
            the probability of a half-body crop.

    Items are ``FaceTrainingSet``'s (``image`` (3, H, W), ``targets``, ``weights``, ``keypoints``,
    ``visible``, ``matrix``, ``index``).
    """

    def __init__(
        self,
        dataset: PoseDataset,
        input_size: int | tuple[int, int],
        codec: Codec,
        crop_scale: float = 1.25,
        augment: AugmentSettings | None = None,
        seed: int = 0,
        exif_transpose: bool = True,
    ):
        super().__init__(dataset, input_size, codec, crop_scale, augment, "dataset", seed, exif_transpose)

    def crop_box(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """The person's box, or with probability ``augment.half_body`` a half-body box (two draws either way)."""
        chance, coin = rng.random(), rng.random()
        if self.augment is None or chance >= self.augment.half_body:
            return self.boxes[index]
        sample = self.dataset.samples[index]
        half = half_body_box(sample.keypoints, sample.visible, self.dataset.scheme, upper_first=coin < 0.5)
        return self.boxes[index] if half is None else half

    def _check_augment(self, augment: AugmentSettings | None) -> None:
        """Every augmentation applies to people."""


def half_body_box(
    keypoints: np.ndarray, visible: np.ndarray, scheme: PoseScheme, upper_first: bool
) -> np.ndarray | None:
    """The box of one body half's labelled joints, ``HALF_BODY_SCALE`` × their tight box about their mean.

    Args:
        keypoints: (K, 2) image pixels; visible: (K,) bool, labelled joints.
        scheme: gives the halves (``upper_body``, ``lower_body``).
        upper_first: take the upper half unless it has fewer than three labelled joints (then the
            lower); otherwise the lower unless it has fewer than three (then the upper).

    Returns:
        (4,) float64 (x1, y1, x2, y2), or None when the person has at most ``HALF_BODY_MIN_JOINTS``
        labelled joints or the chosen joints span no area.

    Examples:
        >>> from h3r.data.pose.schemes import LSP_14
        >>> points = np.stack([np.arange(14.0), np.arange(14.0) * 2], axis=1)  # joints 6-13 are the upper half
        >>> half_body_box(points, np.ones(14, bool), LSP_14, upper_first=True)
        array([ 5.3, 10.6, 13.7, 27.4])
    """
    visible = np.asarray(visible, dtype=bool)
    if visible.sum() <= HALF_BODY_MIN_JOINTS:
        return None
    halves = [np.array(scheme.upper_body), np.array(scheme.lower_body)]
    labelled = [half[visible[half]] for half in (halves if upper_first else halves[::-1])]
    chosen = labelled[0] if len(labelled[0]) > 2 else labelled[1]
    points = np.asarray(keypoints, dtype=np.float64)[chosen]
    if len(chosen) < 2 or (np.ptp(points, axis=0) <= 0).any():
        return None
    half_extent = np.ptp(points, axis=0) * HALF_BODY_SCALE / 2
    centre = points.mean(axis=0)
    return np.concatenate([centre - half_extent, centre + half_extent])
