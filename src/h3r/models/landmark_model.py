"""A landmark network: a backbone and a heatmap head, built by name."""

import math

import torch
from torch import nn

from h3r._checks import check_shape
from h3r.models._fusion import OUTPUT_STRIDES
from h3r.models.heads import BinaryHead, HeatmapHead
from h3r.models.hrnet import HRNet
from h3r.models.mobilenetv2 import MobileNetV2

BACKBONES = ("mobilenetv2", "hrnet_w18", "hrnet_w32")
HEADS = {"binary": BinaryHead, "heatmap": HeatmapHead}
HRNET_WIDTHS = {"hrnet_w18": 18, "hrnet_w32": 32}


class LandmarkNet(nn.Module):
    """Backbone followed by a head.

    ``forward`` takes an ImageNet-normalised image batch (N, 3, H, W) and returns the head's output at
    ``output_stride``: (N, 2, K, H / s, W / s) background/foreground logits for the binary head,
    (N, K, H / s, W / s) for the heatmap head.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    @property
    def output_stride(self) -> int:
        return self.backbone.output_stride

    @property
    def num_landmarks(self) -> int:
        return self.head.num_landmarks

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 2, K, H / s, W / s) or (N, K, H / s, W / s), depending on the head."""
        check_shape("image", image, "N 3 H W")
        return self.head(self.backbone(image))


def build_model(
    backbone: str = "mobilenetv2",
    *,
    num_landmarks: int,
    head: str = "binary",
    output_stride: int = 4,
    width_mult: float = 1.0,
    head_channels: int | None = None,
) -> LandmarkNet:
    """Build a :class:`LandmarkNet` from names.

    Args:
        backbone: ``"mobilenetv2"`` (the released models), ``"hrnet_w18"`` or ``"hrnet_w32"``.
        num_landmarks: K, at least 1.
        head: ``"binary"`` (the paper's background/foreground logits) or ``"heatmap"`` (one map per
            landmark, for Gaussian and soft-argmax codecs).
        output_stride: 4, 8 or 16: the heatmap is ``input_size // output_stride`` for divisible inputs.
        width_mult: channel multiplier of MobileNetV2 (HRNet's width is in its name).
        head_channels: width of the head's projection; defaults to the backbone's output channels.

    Examples:
        >>> net = build_model(num_landmarks=98)
        >>> net(torch.zeros(1, 3, 128, 128)).shape
        torch.Size([1, 2, 98, 32, 32])
        >>> build_model("resnet50", num_landmarks=98)
        Traceback (most recent call last):
        ...
        ValueError: unknown backbone 'resnet50'; choose one of 'mobilenetv2', 'hrnet_w18', 'hrnet_w32'
    """
    _check_arguments(backbone, num_landmarks, head, output_stride, width_mult, head_channels)
    if backbone == "mobilenetv2":
        features = MobileNetV2(width_mult=width_mult, output_stride=output_stride)
    else:
        features = HRNet(width=HRNET_WIDTHS[backbone], output_stride=output_stride)
    return LandmarkNet(features, HEADS[head](features.out_channels, num_landmarks, head_channels))


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _choices(names) -> str:
    return ", ".join(repr(name) for name in names)


def _check_arguments(backbone, num_landmarks, head, output_stride, width_mult, head_channels) -> None:
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; choose one of {_choices(BACKBONES)}")
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {_choices(HEADS)}")
    if not _is_int(num_landmarks) or num_landmarks < 1:
        raise ValueError(f"num_landmarks must be an int >= 1, got {num_landmarks!r}")
    if not _is_int(output_stride) or output_stride not in OUTPUT_STRIDES:
        raise ValueError(f"output_stride must be one of {_choices(OUTPUT_STRIDES)}, got {output_stride!r}")
    is_number = isinstance(width_mult, (int, float)) and not isinstance(width_mult, bool)
    if not is_number or not math.isfinite(width_mult) or width_mult <= 0:
        raise ValueError(f"width_mult must be a positive finite number, got {width_mult!r}")
    if backbone != "mobilenetv2" and width_mult != 1.0:
        raise ValueError(f"width_mult applies to 'mobilenetv2' only; {backbone!r} needs width_mult=1.0")
    if head_channels is not None and (not _is_int(head_channels) or head_channels < 1):
        raise ValueError(f"head_channels must be None or an int >= 1, got {head_channels!r}")
