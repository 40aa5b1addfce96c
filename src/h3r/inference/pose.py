"""Human pose in whole images: crop each person box top-down, run the network, map the joints back.

The crop is ``crop_exact`` at the network's (H, W): the person box widened to the aspect ratio W / H and
scaled by ``crop_scale`` (``box_to_rectangle``), the crop training used. Joints found at crop pixel u are
put back where that crop pixel came from, by the inverse of the crop matrix. The flip test runs the
mirrored crops in the same batch, mirrors their joints back (x → W − 1 − x, the scheme's joint
permutation) and averages them with the direct ones in crop pixels, scores likewise.

``LandmarkDetector`` does the same for square face crops; this class exists because that one takes square
inputs only.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from h3r.codecs import build_codec
from h3r.data import IMAGENET_MEAN, IMAGENET_STD, crop_exact, invert, load_image, normalize, transform_points
from h3r.data.pose.schemes import PoseScheme, get_pose_scheme
from h3r.engine.checkpoint import model_from_checkpoint, read_checkpoint, resolve_checkpoint
from h3r.inference.network import DecodingNetwork

__all__ = ["PoseEstimator"]


@dataclass(frozen=True)
class PoseEstimator:
    """A pose network with its preprocessing: person boxes in, joints in image pixels out.

    Attributes:
        network: (N, 3, H, W) normalised crops → (N, K, 2) joints in crop pixels and (N, K) scores.
        input_size: (H, W) of the network input, pixels.
        scheme: the joint layout (its ``flip_permutation`` serves the flip test, its skeleton drawing).
        crop_scale: crop side over the box side it keeps (see the module docstring).
        mean, std: per-channel (R, G, B) statistics of [0, 1] pixels that normalise the crops.
        flip: whether ``predict`` runs the flip test by default.
        batch_size: people per network call.
        device: where the crops are sent; the network must live there.
    """

    network: DecodingNetwork
    input_size: tuple[int, int]
    scheme: PoseScheme
    crop_scale: float = 1.25
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    flip: bool = True
    batch_size: int = 8
    device: torch.device | str = "cpu"

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: torch.device | str = "cpu", **settings) -> "PoseEstimator":
        """The estimator of an h3r pose checkpoint or run folder; ``settings`` override attributes (``flip``, ...).

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
        codec = build_codec(checkpoint["codec"]["name"], **checkpoint["codec"]["settings"])
        network = DecodingNetwork(model_from_checkpoint(checkpoint), codec).to(device).eval()
        preprocessing = checkpoint["preprocessing"]
        stored = {
            "crop_scale": preprocessing["crop_scale"],
            "mean": tuple(preprocessing["mean"]),
            "std": tuple(preprocessing["std"]),
        }
        return cls(network, tuple(codec.input_size), scheme, device=device, **{**stored, **settings})

    def predict(self, image, boxes, *, flip: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The joints of every person box in an image.

        Args:
            image: a file path, a numpy array or a PIL image (see ``h3r.data.load_image``).
            boxes: (P, 4+) rows x1, y1, x2, y2 in image pixels; further columns (a score) are ignored.
            flip: run the flip test; None means ``self.flip``.

        Returns:
            ``(joints, scores)``: (P, K, 2) float64 (x, y) image pixels and (P, K) float64 scores.

        Raises:
            ValueError: boxes not of shape (P, 4+), or a box that cannot be cropped (naming its index);
                ``h3r.data.ImageError`` for an image that cannot be read.
        """
        flip = self.flip if flip is None else flip
        pixels = load_image(image)
        rows = np.asarray(boxes, dtype=np.float64)
        rows = rows.reshape(0, 4) if rows.size == 0 else rows
        if rows.ndim != 2 or rows.shape[1] < 4:
            raise ValueError(f"boxes must be (P, 4+) rows x1, y1, x2, y2, ...; got shape {rows.shape}")
        joints = np.zeros((len(rows), self.scheme.num_landmarks, 2))
        scores = np.zeros((len(rows), self.scheme.num_landmarks))
        for start in range(0, len(rows), self.batch_size):
            crops, to_image = [], []
            for index, box in enumerate(rows[start : start + self.batch_size, :4], start=start):
                try:
                    crop, matrix = crop_exact(pixels, box, self.input_size, self.crop_scale)
                except ValueError as error:
                    raise ValueError(f"box {index}: {error}") from None
                crops.append(crop)
                to_image.append(invert(matrix))
            in_crops, scores[start : start + len(crops)] = self.joints_in_crops(np.stack(crops), flip)
            joints[start : start + len(crops)] = transform_points(np.stack(to_image), in_crops)
        return joints, scores

    @torch.no_grad()
    def joints_in_crops(self, crops: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """(B, H, W, 3) uint8 crops → (B, K, 2) float64 joints in crop pixels and (B, K) scores."""
        batch = normalize(crops, self.mean, self.std)
        if flip:
            batch = torch.cat([batch, batch.flip(-1)])
        joints, scores = (value.double().cpu().numpy() for value in self.network(batch.to(self.device)))
        if not flip:
            return joints, scores
        count, permutation = len(crops), list(self.scheme.flip_permutation)
        mirrored = joints[count:, permutation]
        mirrored[..., 0] = self.input_size[1] - 1 - mirrored[..., 0]
        return (joints[:count] + mirrored) / 2, (scores[:count] + scores[count:, permutation]) / 2
