"""MobileNetV2 backbone as in the authors' released landmark models.

The network is MobileNetV2 (Sandler et al., 2018) cut after its 96-channel stage. Features are taken
at strides 4, 8 and 16 (24, 32 and 96 channels at width 1), brought to the output stride and
concatenated: 152 channels. Layout at width 1 (t: expansion, c: channels, n: blocks, s: first stride):

=======  ===========================  ======
stride   blocks (t, c, n, s)          output
=======  ===========================  ======
2        stem conv3x3 (32 channels)
4        (1, 16, 1, 1), (6, 24, 2, 2) 24
8        (6, 32, 3, 2)                32
16       (6, 64, 4, 2), (6, 96, 3, 1) 96
=======  ===========================  ======
"""

import torch
from torch import nn

from h3r.models._fusion import fuse_at_stride

STEM_CHANNELS = 32
LEVEL_BLOCKS = (
    ((1, 16, 1, 1), (6, 24, 2, 2)),
    ((6, 32, 3, 2),),
    ((6, 64, 4, 2), (6, 96, 3, 1)),
)
LEVEL_STRIDES = (4, 8, 16)


def scale_channels(channels: int, width_mult: float, divisor: int = 8) -> int:
    """Scale a channel count by ``width_mult``, rounded to a multiple of ``divisor``, losing at most 10 %.

    Examples:
        >>> scale_channels(24, 1.0), scale_channels(24, 0.5), scale_channels(96, 0.75)
        (24, 16, 72)
    """
    scaled = channels * width_mult
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def conv_bn(
    in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1, activation: bool = True
) -> nn.Sequential:
    """Bias-free convolution ("same" padding), batch norm and, optionally, ReLU6."""
    layers = [
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
    ]
    if activation:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """1x1 expansion (skipped when ``expansion`` is 1), 3x3 depthwise, linear 1x1 projection.

    The input is added back when the block keeps both resolution and channel count.
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int):
        super().__init__()
        hidden = in_channels * expansion
        self.expand = nn.Identity() if expansion == 1 else conv_bn(in_channels, hidden, 1)
        self.depthwise = conv_bn(hidden, hidden, 3, stride, groups=hidden)
        self.project = conv_bn(hidden, out_channels, 1, activation=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, C_out, H / stride, W / stride)."""
        out = self.project(self.depthwise(self.expand(x)))
        return x + out if self.residual else out


def _level(
    in_channels: int, blocks: tuple[tuple[int, int, int, int], ...], width_mult: float
) -> tuple[nn.Sequential, int]:
    """The inverted residual blocks of one feature level and their output channels."""
    layers = []
    for expansion, channels, repeats, first_stride in blocks:
        out_channels = scale_channels(channels, width_mult)
        for index in range(repeats):
            layers.append(InvertedResidual(in_channels, out_channels, expansion, first_stride if index == 0 else 1))
            in_channels = out_channels
    return nn.Sequential(*layers), in_channels


class MobileNetV2(nn.Module):
    """Truncated MobileNetV2 returning strides 4, 8 and 16 fused at ``output_stride``.

    Args:
        width_mult: multiplier of every channel count (rounded to multiples of 8).
        output_stride: 4, 8 or 16; the three feature levels are resized to this stride (see
            :func:`~h3r.models._fusion.fuse_at_stride`).

    Examples:
        >>> net = MobileNetV2()
        >>> net.out_channels
        152
        >>> net(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 152, 16, 16])
    """

    def __init__(self, width_mult: float = 1.0, output_stride: int = 4):
        super().__init__()
        self.output_stride = output_stride
        stem_channels = scale_channels(STEM_CHANNELS, width_mult)
        self.stem = conv_bn(3, stem_channels, 3, stride=2)
        levels, level_channels = [], [stem_channels]
        for blocks in LEVEL_BLOCKS:
            level, channels = _level(level_channels[-1], blocks, width_mult)
            levels.append(level)
            level_channels.append(channels)
        self.levels = nn.ModuleList(levels)
        self.out_channels = sum(level_channels[1:])

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, out_channels, H / output_stride, W / output_stride)."""
        features, x = [], self.stem(image)
        for level in self.levels:
            x = level(x)
            features.append(x)
        return fuse_at_stride(features, LEVEL_STRIDES, self.output_stride)
