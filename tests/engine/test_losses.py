"""Losses on hand-computed values; non-negative and smallest at the target; the codec → head/loss rule."""

import math

import pytest
import torch

from h3r.codecs import build_codec
from h3r.engine.losses import (
    binary_cross_entropy,
    build_loss,
    coordinate_l1,
    head_and_loss,
    heatmap_mse,
)


def binary_logits(p_fg: torch.Tensor) -> torch.Tensor:
    """(N, 2, K, h, w) logits whose 2-class softmax gives foreground probability ``p_fg`` (N, K, h, w)."""
    return torch.stack([torch.zeros_like(p_fg), torch.logit(p_fg)], dim=1)


def test_binary_cross_entropy_matches_the_formula_by_hand():
    p_fg = torch.tensor([[[[0.75, 0.5]]]])  # (1, 1, 1, 2)
    t = torch.tensor([[[[1.0, 0.25]]]])
    # pixel 1: -log 0.75; pixel 2: -(0.25 log 0.5 + 0.75 log 0.5) = log 2; mean over the 2 pixels
    expected = (-math.log(0.75) + math.log(2)) / 2
    loss = binary_cross_entropy(binary_logits(p_fg), t, torch.ones(1, 1))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_binary_cross_entropy_averages_over_weighted_landmarks_only():
    p_fg = torch.tensor([0.9, 0.2]).view(1, 2, 1, 1)
    t = torch.ones(1, 2, 1, 1)
    both = binary_cross_entropy(binary_logits(p_fg), t, torch.ones(1, 2))
    first = binary_cross_entropy(binary_logits(p_fg), t, torch.tensor([[1.0, 0.0]]))
    assert both.item() == pytest.approx((-math.log(0.9) - math.log(0.2)) / 2, rel=1e-6)
    assert first.item() == pytest.approx(-math.log(0.9), rel=1e-6)
    assert binary_cross_entropy(binary_logits(p_fg), t, torch.zeros(1, 2)).item() == 0


def test_binary_cross_entropy_is_smallest_at_the_soft_target():
    torch.manual_seed(0)
    t = torch.rand(2, 3, 4, 4) * 0.98 + 0.01
    weights = torch.ones(2, 3)
    logits = binary_logits(t).requires_grad_()
    at_target = binary_cross_entropy(logits, t, weights)
    at_target.backward()
    entropy = -(t * t.log() + (1 - t) * (1 - t).log()).mean()
    assert at_target.item() == pytest.approx(entropy.item(), rel=1e-5)
    assert logits.grad.abs().max() < 1e-6
    for _ in range(5):
        moved = binary_cross_entropy(binary_logits(t).detach() + 0.3 * torch.randn(2, 2, 3, 4, 4), t, weights)
        assert moved > at_target >= 0


def test_heatmap_mse_by_hand_and_zero_at_the_target():
    heatmaps = torch.tensor([[[[0.0, 1.0]], [[2.0, 2.0]]]])  # (1, 2, 1, 2)
    targets = torch.tensor([[[[1.0, 1.0]], [[0.0, 0.0]]]])
    assert heatmap_mse(heatmaps, targets, torch.ones(1, 2)).item() == pytest.approx((0.5 + 4.0) / 2)
    assert heatmap_mse(heatmaps, targets, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(0.5)
    assert heatmap_mse(targets, targets, torch.ones(1, 2)).item() == 0


def test_coordinate_l1_by_hand_and_zero_at_the_target():
    logits = torch.full((1, 1, 3, 3), -1e4)
    logits[0, 0, 1, 2] = 0.0  # all mass on x = 2, y = 1
    loss = coordinate_l1(logits, torch.tensor([[[1.0, 3.0]]]), torch.ones(1, 1))
    assert loss.item() == pytest.approx((1.0 + 2.0) / 2)
    assert coordinate_l1(logits, torch.tensor([[[2.0, 1.0]]]), torch.ones(1, 1)).item() == pytest.approx(0, abs=1e-6)


def test_coordinate_l1_trains_through_the_soft_argmax():
    logits = torch.zeros(1, 1, 8, 8, requires_grad=True)
    coordinate_l1(logits, torch.tensor([[[6.0, 1.0]]]), torch.ones(1, 1)).backward()
    # the gradient lowers the loss by raising the logits near the target
    assert logits.grad[0, 0, 1, 6] < 0 < logits.grad[0, 0, 6, 1]


def test_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="targets"):
        binary_cross_entropy(torch.zeros(1, 2, 3, 4, 4), torch.zeros(1, 3, 4, 5), torch.ones(1, 3))
    with pytest.raises(ValueError, match="weights"):
        heatmap_mse(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), torch.ones(3))


@pytest.mark.parametrize(
    ("codec", "settings", "expected"),
    [
        ("h3r", {}, ("binary", "binary-ce")),
        ("h3r", {"sigma": 1.0, "heatmap": "probabilities"}, ("heatmap", "mse")),
        ("vanilla-round", {}, ("heatmap", "mse")),
        ("vanilla-floor", {}, ("heatmap", "mse")),
        ("quarter-offset", {}, ("heatmap", "mse")),
        ("dark", {}, ("heatmap", "mse")),
        ("soft-argmax", {}, ("heatmap", "l1")),
    ],
)
def test_each_codec_has_a_default_head_and_loss(codec, settings, expected):
    assert head_and_loss(codec, settings) == expected


def test_explicit_losses_that_fit_are_accepted():
    assert head_and_loss("vanilla-round", {}, "binary-ce") == ("binary", "binary-ce")
    assert head_and_loss("h3r", {"heatmap": "probabilities"}, "mse") == ("heatmap", "mse")


@pytest.mark.parametrize(
    ("codec", "settings", "loss", "message"),
    [
        ("h3r", {"sigma": 1.0}, "auto", "heatmap: probabilities"),
        ("h3r", {}, "mse", "heatmap: probabilities"),
        ("h3r", {"heatmap": "probabilities"}, "binary-ce", "drop codec.settings.heatmap"),
        ("dark", {}, "binary-ce", "use loss mse"),
        ("soft-argmax", {}, "mse", "use loss l1"),
        ("vanilla-round", {}, "l1", "soft-argmax codec"),
        ("h3r", {}, "focal", "unknown loss 'focal'"),
    ],
)
def test_impossible_combinations_say_what_would_work(codec, settings, loss, message):
    with pytest.raises(ValueError, match=message):
        head_and_loss(codec, settings, loss)


def test_build_loss_passes_the_codec_temperature_to_l1():
    codec = build_codec("soft-argmax", input_size=16, stride=4, beta=5.0)
    logits = torch.randn(1, 2, 4, 4)
    targets, weights = torch.rand(1, 2, 2) * 3, torch.ones(1, 2)
    assert torch.equal(build_loss("l1", codec)(logits, targets, weights), coordinate_l1(logits, targets, weights, 5.0))
    assert build_loss("binary-ce", codec) is binary_cross_entropy
