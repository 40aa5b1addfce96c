"""Landmark networks: MobileNetV2 and HRNetV2 backbones, binary and heatmap heads, the released models.

Examples:
    >>> import torch
    >>> net = build_model("mobilenetv2", num_landmarks=98, head="binary", output_stride=4)
    >>> net(torch.zeros(1, 3, 128, 128)).shape
    torch.Size([1, 2, 98, 32, 32])
    >>> count_parameters(net)
    595728
"""

from h3r.models.complexity import count_macs, count_parameters
from h3r.models.heads import BinaryHead, HeatmapHead
from h3r.models.hrnet import HRNet
from h3r.models.landmark_model import BACKBONES, HEADS, LandmarkNet, build_model
from h3r.models.mobilenetv2 import MobileNetV2
from h3r.models.official import OfficialCheckpointError, OfficialModel, load_official

__all__ = [
    "BACKBONES",
    "HEADS",
    "BinaryHead",
    "HRNet",
    "HeatmapHead",
    "LandmarkNet",
    "MobileNetV2",
    "OfficialCheckpointError",
    "OfficialModel",
    "build_model",
    "count_macs",
    "count_parameters",
    "load_official",
]
