"""build_model arguments and the LandmarkNet wrapper."""

import pytest
import torch

from h3r._checks import ShapeError
from h3r.models import BinaryHead, HeatmapHead, HRNet, LandmarkNet, MobileNetV2, build_model


def test_default_is_the_released_architecture():
    net = build_model(num_landmarks=98)
    assert isinstance(net, LandmarkNet)
    assert isinstance(net.backbone, MobileNetV2) and isinstance(net.head, BinaryHead)
    assert net.output_stride == 4 and net.num_landmarks == 98
    assert net.head.project[0].out_channels == 152


def test_names_select_backbone_and_head():
    net = build_model("hrnet_w32", num_landmarks=4, head="heatmap", output_stride=8, head_channels=64)
    assert isinstance(net.backbone, HRNet) and isinstance(net.head, HeatmapHead)
    assert net.output_stride == 8
    assert net.head.project[0].out_channels == 64


def test_binary_channels_are_read_as_background_then_foreground():
    net = build_model(num_landmarks=3).eval()
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        flat = net.head.logits(net.head.project(net.backbone(image)))
        torch.testing.assert_close(net(image), flat.view(1, 2, 3, 8, 8), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backbone": "resnet50"}, "unknown backbone 'resnet50'; choose one of 'mobilenetv2', 'hrnet_w18', 'hrnet_w32"),
        ({"head": "gaussian"}, "unknown head 'gaussian'; choose one of 'binary', 'heatmap'"),
        ({"num_landmarks": 0}, "num_landmarks must be an int >= 1"),
        ({"num_landmarks": 2.0}, "num_landmarks must be an int >= 1"),
        ({"num_landmarks": True}, "num_landmarks must be an int >= 1"),
        ({"output_stride": 2}, "output_stride must be one of 4, 8, 16, got 2"),
        ({"output_stride": 32}, "output_stride must be one of 4, 8, 16"),
        ({"width_mult": 0}, "width_mult must be a positive finite number"),
        ({"width_mult": float("nan")}, "width_mult must be a positive finite number"),
        ({"backbone": "hrnet_w18", "width_mult": 0.5}, "width_mult applies to 'mobilenetv2' only"),
        ({"head_channels": 0}, "head_channels must be None or an int >= 1"),
    ],
)
def test_bad_arguments_raise_value_errors_that_name_them(kwargs, message):
    arguments = {"num_landmarks": 5, **kwargs}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model(**arguments)


def test_forward_rejects_images_without_three_channels():
    with pytest.raises(ShapeError, match=r"image must have shape \(N, 3, H, W\)"):
        build_model(num_landmarks=2)(torch.zeros(1, 1, 32, 32))
