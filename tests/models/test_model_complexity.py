"""Parameter and MAC counts against the authors' published figures."""

import pytest
import torch
from torch import nn

from h3r.models import build_model, count_macs, count_parameters


def test_released_mobilenetv2_has_060m_parameters_and_013g_macs_at_128():
    net = build_model("mobilenetv2", num_landmarks=98)
    assert round(count_parameters(net) / 1e6, 2) == 0.60
    assert round(count_macs(net, 128) / 1e9, 2) == 0.13


@pytest.mark.parametrize(
    ("num_landmarks", "size", "giga_macs"),
    [(98, 160, 0.20), (98, 256, 0.51), (106, 256, 0.52), (106, 128, 0.13)],
)
def test_mobilenetv2_macs_match_the_published_table(num_landmarks, size, giga_macs):
    assert round(count_macs(build_model(num_landmarks=num_landmarks), size) / 1e9, 2) == giga_macs


def test_hrnet_w18_matches_the_published_table():
    net = build_model("hrnet_w18", num_landmarks=98)
    assert round(count_parameters(net) / 1e6, 2) == 9.69
    assert round(count_macs(net, 256) / 1e9, 2) == 4.84


def test_convolutions_alone_are_available():
    net = build_model(num_landmarks=98)
    assert count_macs(net, 128, batch_norm=False) < count_macs(net, 128)
    assert round(count_macs(net, 128, batch_norm=False) / 1e9, 2) == 0.12


def test_counts_for_known_layers():
    conv = nn.Conv2d(4, 6, 3, padding=1)
    assert count_parameters(conv) == 6 * 4 * 9 + 6
    assert count_macs(nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6)), (8, 10)) == 80 * (6 * 27 + 12)


def test_trainable_only_skips_frozen_parameters():
    net = build_model(num_landmarks=3)
    net.backbone.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == count_parameters(net.head)


def test_counting_macs_leaves_modes_and_statistics_untouched():
    net = build_model(num_landmarks=3).train()
    net.head.eval()
    before = {key: value.clone() for key, value in net.state_dict().items()}
    count_macs(net, (32, 48))
    assert net.training and net.backbone.training and not net.head.training
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_bad_input_size():
    with pytest.raises(ValueError, match="input_size"):
        count_macs(build_model(num_landmarks=3), (0, 32))
