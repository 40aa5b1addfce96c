"""Human pose in whole images: a ``LandmarkDetector`` at the network's (H, W) input, with the joint scheme.

The detector does the top-down work, as for faces: the exact crop of each person box widened to the
input's aspect ratio W / H and scaled by ``crop_scale`` (``box_to_rectangle``, the crop training used),
the flip test (x → W − 1 − x and the scheme's joint permutation), and the map back to image pixels by the
inverse of the crop matrix. The scheme names the joints, draws the skeleton and checks that a dataset
has the joints the model predicts.
"""

from dataclasses import dataclass

import numpy as np

from h3r.data.pose.schemes import PoseScheme
from h3r.inference.detector import ImageSource, LandmarkDetector

__all__ = ["PoseEstimator"]


@dataclass(frozen=True)
class PoseEstimator:
    """A pose network's ``LandmarkDetector`` (person boxes in, joints in image pixels out) and its scheme.

    ``h3r.load.load_pose_estimator`` builds one from an h3r pose run, checkpoint or bundle.

    Attributes:
        detector: crops, runs and maps back; its ``flip_permutation`` is the scheme's.
        scheme: the joint layout (names, skeleton, mirror order).
    """

    detector: LandmarkDetector
    scheme: PoseScheme

    @property
    def flip(self) -> bool:
        """Whether ``predict`` runs the flip test by default."""
        return self.detector.flip

    def predict(self, image: ImageSource, boxes, *, flip: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The joints of every person box in an image: ``LandmarkDetector.predict``'s (P, K, 2) (x, y) image
        pixels and (P, K) scores, in ``scheme``'s order."""
        return self.detector.predict(image, boxes, flip=flip)
