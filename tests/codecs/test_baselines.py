"""The quantizing baselines behave as the theory says; DARK and soft-argmax are sub-pixel accurate."""

import pytest
import torch

from h3r.codecs import DarkCodec, QuarterOffsetCodec, SoftArgmaxCodec, VanillaFloorCodec, VanillaRoundCodec

# For u uniform in a cell, E|(dx, dy)| with dx, dy ~ U(-1/2, 1/2) is (sqrt(2) + ln(1 + sqrt(2))) / 6.
MEAN_ROUNDING_ERROR = 0.38259785823


def uniform_keypoints(n: int, stride: int, side: int) -> torch.Tensor:
    return torch.rand(1, n, 2, dtype=torch.float64) * (side - 1) * stride


@pytest.mark.parametrize("stride", [2, 8])
@pytest.mark.parametrize("sigma", [None, 2.0])
def test_rounding_error_is_0383_stride(stride, sigma):
    codec = VanillaRoundCodec(input_size=32 * stride, stride=stride, sigma=sigma)
    keypoints = uniform_keypoints(20000, stride, 32)
    decoded, _ = codec.decode(codec.ideal_heatmaps(keypoints))
    error = (decoded - keypoints).norm(dim=-1)
    assert error.mean() == pytest.approx(MEAN_ROUNDING_ERROR * stride, rel=0.01)
    assert error.max() <= 2**0.5 / 2 * stride + 1e-9


def test_floor_is_biased_by_half_a_stride_per_axis():
    stride = 4
    codec = VanillaFloorCodec(input_size=128, stride=stride, sigma=None)
    keypoints = uniform_keypoints(20000, stride, 32)
    decoded, _ = codec.decode(codec.ideal_heatmaps(keypoints))
    bias = (decoded - keypoints).mean(dim=(0, 1))
    assert torch.allclose(bias, torch.full((2,), -stride / 2, dtype=torch.float64), atol=0.02 * stride)


def test_round_sends_halves_up():
    codec = VanillaRoundCodec(input_size=32, stride=4, sigma=None)
    decoded, _ = codec.decode(codec.encode(torch.tensor([[[6.0, 10.0]]]))[0])  # u = (1.5, 2.5)
    assert decoded.tolist() == [[[8.0, 12.0]]]


def test_quarter_offset_moves_towards_the_higher_neighbour():
    codec = QuarterOffsetCodec(input_size=32, stride=4)
    heatmaps = torch.zeros(1, 3, 8, 8)
    heatmaps[0, 0, 3, 3], heatmaps[0, 0, 3, 4], heatmaps[0, 0, 2, 3] = 1.0, 0.5, 0.2  # right and up
    heatmaps[0, 1, 5, 5] = 1.0  # equal neighbours
    heatmaps[0, 2, 0, 7], heatmaps[0, 2, 0, 6], heatmaps[0, 2, 1, 7] = 1.0, 0.5, 0.5  # on the corner
    decoded, _ = codec.decode(heatmaps)
    cells = (decoded / 4).tolist()[0]
    assert cells == [[3.25, 2.75], [5.0, 5.0], [7.0, 0.0]]


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_dark_recovers_sub_pixel_gaussian_centres(sigma):
    codec = DarkCodec(input_size=256, stride=4, sigma=sigma)
    keypoints = (12 + torch.rand(1, 500, 2) * 39) * 4
    decoded, _ = codec.decode(codec.encode(keypoints)[0])
    assert (decoded - keypoints).norm(dim=-1).max() / 4 < 2e-3


def test_dark_keeps_the_peak_where_the_map_has_no_maximum():
    codec = DarkCodec(input_size=32, stride=4)
    flat = torch.ones(1, 1, 8, 8)
    decoded, scores = codec.decode(flat)
    assert decoded.tolist() == [[[0.0, 0.0]]] and scores.item() == 1.0


def test_soft_argmax_targets_are_coordinates_and_decoding_is_differentiable():
    codec = SoftArgmaxCodec(input_size=32, stride=4)
    targets, weights = codec.encode(torch.tensor([[[10.0, 6.0], [40.0, 6.0]]]))
    assert targets.tolist() == [[[2.5, 1.5], [10.0, 1.5]]] and weights.tolist() == [[1.0, 0.0]]
    logits = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda h: codec.decode(h)[0], (logits,))


def test_soft_argmax_of_uniform_logits_is_the_centre():
    codec = SoftArgmaxCodec(input_size=32, stride=4)
    decoded, _ = codec.decode(torch.zeros(1, 1, 8, 8))
    assert decoded.tolist() == [[[14.0, 14.0]]]  # cell 3.5 times stride 4
