"""Backbone and head shapes, channel counts and output strides on synthetic input."""

import io
import math
import warnings

import pytest
import torch

from h3r.models import BACKBONES, BinaryHead, HeatmapHead, HRNet, MobileNetV2, build_model
from h3r.models.mobilenetv2 import scale_channels

STRIDES = (4, 8, 16)


@pytest.fixture(scope="module")
def backbones() -> dict:
    torch.manual_seed(0)
    return {
        (name, stride): build_model(name, num_landmarks=5, output_stride=stride).backbone.eval()
        for name in BACKBONES
        for stride in STRIDES
    }


@pytest.mark.parametrize("stride", STRIDES)
@pytest.mark.parametrize(("name", "channels"), [("mobilenetv2", 152), ("hrnet_w18", 270), ("hrnet_w32", 480)])
def test_every_backbone_and_head_at_every_stride(backbones, name, channels, stride):
    backbone = backbones[name, stride]
    assert backbone.out_channels == channels
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 64, 96))
        assert features.shape == (2, channels, 64 // stride, 96 // stride)
        assert BinaryHead(channels, 7)(features).shape == (2, 2, 7, 64 // stride, 96 // stride)
        assert HeatmapHead(channels, 7)(features).shape == (2, 7, 64 // stride, 96 // stride)


@pytest.mark.parametrize(
    ("name", "size"),
    [("mobilenetv2", (36, 44)), ("mobilenetv2", (40, 56)), ("mobilenetv2", (50, 70)), ("hrnet_w18", (50, 70))],
)
def test_heatmap_size_is_the_input_size_over_the_stride_rounded_up(backbones, name, size):
    for stride in STRIDES:
        with torch.no_grad():
            features = backbones[name, stride](torch.randn(1, 3, *size))
        assert features.shape[-2:] == (math.ceil(size[0] / stride), math.ceil(size[1] / stride))


def test_onnx_export_matches_torch():
    onnxruntime = pytest.importorskip("onnxruntime")
    net = build_model(num_landmarks=3, output_stride=8).eval()
    image = torch.randn(1, 3, 48, 64)
    exported = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (image,), exported, dynamo=False)
    session = onnxruntime.InferenceSession(exported.getvalue())
    (logits,) = session.run(None, {session.get_inputs()[0].name: image.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(logits), net(image), rtol=1e-4, atol=1e-5)


def test_hrnet_widths():
    assert HRNet(width=18).out_channels == 18 + 36 + 72 + 144
    assert HRNet(width=32).out_channels == 32 + 64 + 128 + 256


@pytest.mark.parametrize(("width_mult", "channels"), [(0.5, 16 + 16 + 48), (0.75, 24 + 24 + 72), (1.4, 32 + 48 + 136)])
def test_width_multiplier_scales_channels(width_mult, channels):
    net = build_model(num_landmarks=3, width_mult=width_mult).eval()
    assert net.backbone.out_channels == channels
    assert net.head.project[0].in_channels == channels
    with torch.no_grad():
        assert net(torch.randn(1, 3, 32, 32)).shape == (1, 2, 3, 8, 8)


def test_scale_channels_rounds_to_multiples_of_8_losing_at_most_10_percent():
    for channels in (16, 24, 32, 64, 96):
        for width_mult in (0.35, 0.5, 0.75, 1.0, 1.3):
            scaled = scale_channels(channels, width_mult)
            assert scaled % 8 == 0 and scaled >= 0.9 * channels * width_mult


def test_stride_4_matches_the_highest_resolution_level_unresized():
    torch.manual_seed(0)
    net = MobileNetV2().eval()
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        level4 = net.levels[0](net.stem(image))
        assert torch.equal(net(image)[:, :24], level4)


def test_coarser_strides_average_the_finer_levels():
    torch.manual_seed(0)
    net4, net8 = MobileNetV2(output_stride=4).eval(), MobileNetV2(output_stride=8).eval()
    net8.load_state_dict(net4.state_dict())
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        level4 = net4(image)[:, :24]
        pooled = torch.nn.functional.avg_pool2d(level4, 2)
        torch.testing.assert_close(net8(image)[:, :24], pooled)


def test_gradients_reach_the_first_layer():
    net = build_model("hrnet_w18", num_landmarks=2, head="heatmap")
    net(torch.randn(2, 3, 64, 64)).square().mean().backward()
    assert net.backbone.stem[0][0].weight.grad.abs().sum() > 0
