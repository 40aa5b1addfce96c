"""HRNetV2 backbone (Wang et al., 2020): four parallel branches, all brought to one stride and concatenated.

Layout for width ``w`` (18 or 32): a stem of two stride-2 3x3 convolutions (64 channels, stride 4),
four bottlenecks (256 channels), then stages 2, 3 and 4 with 1, 4 and 3 modules of 2, 3 and 4
branches. Branch ``b`` has stride ``4 * 2**b`` and ``w * 2**b`` channels, each branch runs four basic
blocks per module, and every module ends by exchanging information between all branches. The output
concatenates the four branches: ``15 * w`` channels (270 for W18, 480 for W32).
"""

import torch
import torch.nn.functional as F
from torch import nn

from h3r.models._fusion import fuse_at_stride

BRANCH_STRIDES = (4, 8, 16, 32)
STAGE_MODULES = (1, 4, 3)
BLOCKS_PER_BRANCH = 4
STEM_CHANNELS = 64
BOTTLENECK_EXPANSION = 4


def conv_bn(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    """Bias-free convolution ("same" padding) followed by batch norm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(*conv_bn(in_channels, out_channels, kernel_size, stride), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut: (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels, 3), conv_bn(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) with a projected shortcut when channels change."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        out_channels = channels * BOTTLENECK_EXPANSION
        self.body = nn.Sequential(
            conv_bn_relu(in_channels, channels, 1),
            conv_bn_relu(channels, channels, 3),
            conv_bn(channels, out_channels, 1),
        )
        self.shortcut = nn.Identity() if in_channels == out_channels else conv_bn(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C_in, H, W) -> (N, 4 * channels, H, W)."""
        return F.relu(self.shortcut(x) + self.body(x))


def _downsampler(in_channels: int, out_channels: int, steps: int) -> nn.Sequential:
    """``steps`` stride-2 3x3 convolutions; ReLU between them, none after the last."""
    layers = [conv_bn_relu(in_channels, in_channels, 3, stride=2) for _ in range(steps - 1)]
    return nn.Sequential(*layers, conv_bn(in_channels, out_channels, 3, stride=2))


class Exchange(nn.Module):
    """Every output branch sums all input branches brought to its resolution and channels, then ReLU.

    Coarser inputs pass a 1x1 convolution and nearest-neighbour upsampling, finer ones strided 3x3
    convolutions.
    """

    def __init__(self, channels: list[int]):
        super().__init__()
        self.paths = nn.ModuleList(
            nn.ModuleList(self._path(channels, source, target) for source in range(len(channels)))
            for target in range(len(channels))
        )

    @staticmethod
    def _path(channels: list[int], source: int, target: int) -> nn.Module:
        if source == target:
            return nn.Identity()
        if source > target:
            return conv_bn(channels[source], channels[target], 1)
        return _downsampler(channels[source], channels[target], target - source)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        """Branches (N, C_b, H_b, W_b) -> the same shapes."""
        outputs = []
        for target, paths in zip(branches, self.paths):
            total = 0
            for source, path in zip(branches, paths):
                moved = path(source)
                if moved.shape[-2:] != target.shape[-2:]:
                    moved = F.interpolate(moved, size=target.shape[-2:], mode="nearest")
                total = total + moved
            outputs.append(F.relu(total))
        return outputs


class ParallelModule(nn.Module):
    """Basic blocks run on each branch separately, followed by an :class:`Exchange`."""

    def __init__(self, channels: list[int]):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(width) for _ in range(BLOCKS_PER_BRANCH))) for width in channels
        )
        self.exchange = Exchange(channels)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.exchange([blocks(x) for blocks, x in zip(self.branches, branches)])


class Transition(nn.Module):
    """Adapt the channels of existing branches and open one new branch at half the coarsest resolution."""

    def __init__(self, in_channels: list[int], out_channels: list[int]):
        super().__init__()
        self.adapt = nn.ModuleList(
            nn.Identity() if source == target else conv_bn_relu(source, target, 3)
            for source, target in zip(in_channels, out_channels)
        )
        self.new_branch = conv_bn_relu(in_channels[-1], out_channels[-1], 3, stride=2)

    def forward(self, branches: list[torch.Tensor]) -> list[torch.Tensor]:
        """B branches -> B + 1 branches."""
        adapted = [adapt(x) for adapt, x in zip(self.adapt, branches)]
        return adapted + [self.new_branch(branches[-1])]


class HRNet(nn.Module):
    """HRNetV2-W``width`` returning its four branches fused at ``output_stride``.

    Args:
        width: channels of the highest-resolution branch (18 for W18, 32 for W32).
        output_stride: 4, 8 or 16; the four branches are resized to this stride (see
            :func:`~h3r.models._fusion.fuse_at_stride`).

    Examples:
        >>> net = HRNet(width=18, output_stride=8)
        >>> net.out_channels
        270
        >>> net(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 270, 8, 8])
    """

    def __init__(self, width: int = 18, output_stride: int = 4):
        super().__init__()
        self.output_stride = output_stride
        widths = [width * 2**branch for branch in range(len(BRANCH_STRIDES))]
        self.stem = nn.Sequential(
            conv_bn_relu(3, STEM_CHANNELS, 3, stride=2), conv_bn_relu(STEM_CHANNELS, STEM_CHANNELS, 3, stride=2)
        )
        stem_out = STEM_CHANNELS * BOTTLENECK_EXPANSION
        self.layer1 = nn.Sequential(
            Bottleneck(STEM_CHANNELS, STEM_CHANNELS),
            *(Bottleneck(stem_out, STEM_CHANNELS) for _ in range(BLOCKS_PER_BRANCH - 1)),
        )
        transitions, stages, channels = [], [], [stem_out]
        for num_modules in STAGE_MODULES:
            next_channels = widths[: len(channels) + 1]
            transitions.append(Transition(channels, next_channels))
            stages.append(nn.Sequential(*(ParallelModule(next_channels) for _ in range(num_modules))))
            channels = next_channels
        self.transitions = nn.ModuleList(transitions)
        self.stages = nn.ModuleList(stages)
        self.out_channels = sum(widths)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 15 * width, H / output_stride, W / output_stride)."""
        branches = [self.layer1(self.stem(image))]
        for transition, stage in zip(self.transitions, self.stages):
            branches = stage(transition(branches))
        return fuse_at_stride(branches, BRANCH_STRIDES, self.output_stride)
