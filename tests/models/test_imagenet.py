"""The ImageNet MobileNetV2 weights: torchvision's key layout mapped onto ours, proven on a real photograph."""

import pytest
import torch
from matplotlib import cbook
from PIL import Image

from h3r.engine.config import ConfigError, validate_config
from h3r.models import MobileNetV2, build_model
from h3r.models.imagenet import (
    MobileNetV2Classifier,
    classifier_input,
    find_torchvision_mobilenetv2,
    imagenet_backbone_state,
    initialise_from_imagenet,
    mobilenetv2_backbone_state,
)


@pytest.fixture(scope="module")
def torchvision_weights() -> dict[str, torch.Tensor]:
    try:
        path = find_torchvision_mobilenetv2()
    except FileNotFoundError as error:
        pytest.skip(str(error))
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def grace_hopper() -> torch.Tensor:
    return classifier_input(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))


def test_the_whole_network_classifies_the_example_photograph(torchvision_weights, grace_hopper):
    classifier = MobileNetV2Classifier().load_torchvision(torchvision_weights).eval()
    with torch.no_grad():
        probabilities = classifier(grace_hopper).softmax(dim=1)[0]
    scores, classes = probabilities.topk(2)
    assert classes.tolist() == [457, 652]  # bow tie, military uniform
    assert scores.tolist() == pytest.approx([0.51, 0.18], abs=0.02)


def test_the_truncated_backbone_is_the_classifiers_first_layers(torchvision_weights, grace_hopper):
    classifier = MobileNetV2Classifier().load_torchvision(torchvision_weights).eval()
    backbone = MobileNetV2(output_stride=16).eval()
    backbone.load_state_dict(mobilenetv2_backbone_state(torchvision_weights))
    with torch.no_grad():
        deepest = classifier.stem(grace_hopper)
        for level in classifier.levels:
            deepest = level(deepest)
        fused = backbone(grace_hopper)  # (1, 24 + 32 + 96, 14, 14): the last 96 channels are the deepest level
    torch.testing.assert_close(fused[:, -96:], deepest, rtol=0, atol=0)


def test_the_shipped_weights_are_the_wheels(torchvision_weights):
    shipped, mapped = imagenet_backbone_state("mobilenetv2"), mobilenetv2_backbone_state(torchvision_weights)
    assert shipped.keys() == mapped.keys() and len(shipped) == 234
    for name in shipped:
        assert torch.equal(shipped[name], mapped[name]), name


def test_a_tensor_missing_from_the_weights_is_named(torchvision_weights):
    broken = {name: value for name, value in torchvision_weights.items() if name != "features.5.conv.1.0.weight"}
    with pytest.raises(ValueError, match=r"no tensor for levels\.1\.1\.depthwise\.0\.weight"):
        mobilenetv2_backbone_state(broken)


def test_imagenet_init_loads_the_backbone_and_leaves_the_head_fresh():
    model = build_model("mobilenetv2", num_landmarks=68, head="binary", output_stride=8)
    head_before = {name: value.clone() for name, value in model.head.state_dict().items()}
    copied, fresh = initialise_from_imagenet(model, "mobilenetv2")
    shipped = imagenet_backbone_state("mobilenetv2")
    assert copied == len(shipped) and fresh and all(name.startswith("head.") for name in fresh)
    assert all(torch.equal(model.backbone.state_dict()[name], value) for name, value in shipped.items())
    assert all(torch.equal(model.head.state_dict()[name], value) for name, value in head_before.items())


@pytest.mark.parametrize("model", [{"backbone": "hrnet_w18"}, {"width_mult": 0.5}])
def test_imagenet_init_is_refused_where_no_weights_ship(model):
    raw = {"data": {"train": "300w:x", "val_split": "every_10th"}, "model": {"init": "imagenet", **model}}
    with pytest.raises(ConfigError, match="ImageNet weights ship for mobilenetv2 at width_mult 1.0 only"):
        validate_config(raw)
