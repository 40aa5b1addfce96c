import numpy as np
import torch
from torch import nn

from h3r.data.pose import LSP_14
from h3r.inference.detector import LandmarkDetector
from h3r.inference.pose import PoseEstimator

SIZE = (64, 48)  # H, W


class MirrorAwareNetwork(nn.Module):
    """Puts joint k at the image's brightness centroid, shifted 5 px towards the person's own side of joint k:
    a network that sees left and right correctly, so the flip test must agree with the direct prediction."""

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        weights = crops[:, 0] - crops[:, 0].amin(dim=(1, 2), keepdim=True)  # (N, H, W)
        y, x = torch.meshgrid(torch.arange(SIZE[0]), torch.arange(SIZE[1]), indexing="ij")
        total = weights.sum((1, 2))[:, None]  # (N, 1)
        centroid = torch.stack([(weights * x).sum((1, 2)), (weights * y).sum((1, 2))], -1) / total  # (N, 2)
        side = torch.tensor([5.0 if j.startswith("left_") else -5.0 if j.startswith("right_") else 0.0
                             for j in LSP_14.joints])  # fmt: skip
        joints = centroid[:, None, :] + torch.stack([side, torch.zeros(14)], -1)  # (N, 14, 2) crop pixels
        return joints, torch.ones(joints.shape[:2])


def test_the_flip_test_mirrors_back_and_swaps_sides():
    image = np.zeros((120, 100, 3), np.uint8)
    image[30:50, 20:35] = 255  # an off-centre bright patch
    detector = LandmarkDetector(MirrorAwareNetwork(), SIZE, 14, flip_permutation=LSP_14.flip_permutation)
    estimator = PoseEstimator(detector, LSP_14)
    direct, _ = estimator.predict(image, [[10, 10, 80, 110]], flip=False)
    flipped, _ = estimator.predict(image, [[10, 10, 80, 110]], flip=True)
    np.testing.assert_allclose(flipped, direct, atol=0.05)  # 0.05 px: bilinear edges of the warp
    left, right = LSP_14.index("left_wrist"), LSP_14.index("right_wrist")
    assert direct[0, left, 0] > direct[0, right, 0]
    assert direct.shape == (1, 14, 2)
