"""Human pose in whole images: a ``LandmarkDetector`` at the network's (H, W) input, with the joint scheme.

The detector does the top-down work, as for faces: the exact crop of each person box widened to the
input's aspect ratio W / H and scaled by ``crop_scale`` (``box_to_rectangle``, the crop training used),
the flip test (x → W − 1 − x and the scheme's joint permutation), and the map back to image pixels by the
inverse of the crop matrix. The scheme names the joints, draws the skeleton and checks that a dataset
has the joints the model predicts.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from h3r.data.pose.schemes import PoseScheme, get_pose_scheme
from h3r.engine.checkpoint import detector_from_description, model_from_checkpoint, read_checkpoint, resolve_checkpoint
from h3r.inference.detector import ImageSource, LandmarkDetector

__all__ = ["PoseEstimator"]


@dataclass(frozen=True)
class PoseEstimator:
    """A pose network's ``LandmarkDetector`` (person boxes in, joints in image pixels out) and its scheme.

    Attributes:
        detector: crops, runs and maps back; its ``flip_permutation`` is the scheme's.
        scheme: the joint layout (names, skeleton, mirror order).
    """

    detector: LandmarkDetector
    scheme: PoseScheme

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: torch.device | str = "cpu", **settings) -> "PoseEstimator":
        """The estimator of an h3r pose checkpoint or run folder; ``settings`` override the detector's
        attributes (``flip``, ``batch_size``, ...); the flip test is on by default.

        Raises:
            CheckpointError: an unreadable or foreign checkpoint.
            ValueError: a checkpoint of a face model, naming it.
        """
        checkpoint = read_checkpoint(path)
        name = checkpoint["scheme"]["name"]
        try:
            scheme = get_pose_scheme(name)
        except ValueError:
            raise ValueError(f"{resolve_checkpoint(path)}: a {name} face model, not a pose model") from None
        model = model_from_checkpoint(checkpoint)
        detector = detector_from_description(checkpoint, model, device=device, **{"batch_size": 8, **settings})
        return cls(detector, scheme)

    @property
    def flip(self) -> bool:
        """Whether ``predict`` runs the flip test by default."""
        return self.detector.flip

    def predict(self, image: ImageSource, boxes, *, flip: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The joints of every person box in an image: ``LandmarkDetector.predict``'s (P, K, 2) (x, y) image
        pixels and (P, K) scores, in ``scheme``'s order."""
        return self.detector.predict(image, boxes, flip=flip)
