"""Heads turning backbone features (N, C, H, W) into per-landmark heatmaps at the same resolution."""

import torch
from torch import nn


def projection(in_channels: int, hidden_channels: int) -> nn.Sequential:
    """Bias-free 1x1 convolution, batch norm, ReLU: (N, in_channels, H, W) -> (N, hidden_channels, H, W)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden_channels, 1, bias=False),
        nn.BatchNorm2d(hidden_channels),
        nn.ReLU(inplace=True),
    )


class BinaryHead(nn.Module):
    """The released head: background/foreground logits per landmark and cell.

    A projection (1x1 conv, BN, ReLU) then a bias-free 1x1 convolution to ``2 * K`` channels, read as
    (N, 2, K, H, W): index 0 of dim 1 is background, 1 foreground. Channel ``c * K + k`` holds class ``c``
    of landmark ``k``.

    Args:
        in_channels: C of the features.
        num_landmarks: K.
        hidden_channels: width of the projection; defaults to ``in_channels`` (as released).

    Examples:
        >>> BinaryHead(152, num_landmarks=98)(torch.zeros(2, 152, 32, 32)).shape
        torch.Size([2, 2, 98, 32, 32])
    """

    def __init__(self, in_channels: int, num_landmarks: int, hidden_channels: int | None = None):
        super().__init__()
        hidden_channels = in_channels if hidden_channels is None else hidden_channels
        self.num_landmarks = num_landmarks
        self.project = projection(in_channels, hidden_channels)
        self.logits = nn.Conv2d(hidden_channels, 2 * num_landmarks, 1, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, 2, K, H, W) logits."""
        return self.logits(self.project(features)).unflatten(1, (2, self.num_landmarks))


class HeatmapHead(nn.Module):
    """One map per landmark, for Gaussian-target and soft-argmax codecs.

    The same projection as :class:`BinaryHead`, then a 1x1 convolution (with bias) to ``K`` channels.

    Args:
        in_channels: C of the features.
        num_landmarks: K.
        hidden_channels: width of the projection; defaults to ``in_channels``.

    Examples:
        >>> HeatmapHead(152, num_landmarks=68)(torch.zeros(2, 152, 16, 16)).shape
        torch.Size([2, 68, 16, 16])
    """

    def __init__(self, in_channels: int, num_landmarks: int, hidden_channels: int | None = None):
        super().__init__()
        hidden_channels = in_channels if hidden_channels is None else hidden_channels
        self.num_landmarks = num_landmarks
        self.project = projection(in_channels, hidden_channels)
        self.heatmaps = nn.Conv2d(hidden_channels, num_landmarks, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, K, H, W)."""
        return self.heatmaps(self.project(features))
