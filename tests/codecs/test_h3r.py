"""The paper's theorems for the randomized-rounding codec: unbiased and lossless, in 2-D and 3-D."""

import math

import pytest
import torch

from h3r.codecs import H3RCodec
from h3r.codecs.functional import bilinear_corners, randomized_round


def interior_points(n: int, codec: H3RCodec, generator=None) -> torch.Tensor:
    """(n, 1, d) input pixels whose whole 2^d neighbourhood lies on the heatmap."""
    extent = torch.tensor(codec.heatmap_size[::-1], dtype=torch.float64) - 1
    cells = torch.rand(n, 1, codec.ndim, generator=generator, dtype=torch.float64) * extent
    return cells * codec.stride


def drawn_cells(targets: torch.Tensor) -> torch.Tensor:
    """The cell holding the single 1 of each one-hot target: (N, K, d) in (x, y[, z]) order."""
    nonzero = torch.nonzero(targets)  # rows (n, k, [z,] y, x)
    return nonzero[:, 2:].flip(-1).view(*targets.shape[:2], -1)


@pytest.mark.parametrize("ndim", [2, 3])
def test_randomized_rounding_is_unbiased(ndim, device):
    """Mean of M draws equals u within 5 standard errors, the variance of a draw being frac(1 - frac)."""
    generator = torch.Generator(device).manual_seed(1)
    codec = H3RCodec(input_size=32, stride=4, ndim=ndim, generator=generator)
    points = interior_points(16, codec).to(device).float()  # (16, 1, d)
    draws = 4000
    batch = points.expand(16, draws, ndim).contiguous()  # each point drawn `draws` times
    targets, weights = codec.encode(batch)
    assert weights.all()
    mean = drawn_cells(targets).double().mean(dim=1)  # (16, d)
    u = points[:, 0].double() / codec.stride
    frac = u - u.floor()
    bound = 5 * torch.sqrt(frac * (1 - frac) / draws) + 1e-9
    assert ((mean - u).abs() <= bound).all()


def test_corner_frequencies_are_bilinear_weights():
    generator = torch.Generator().manual_seed(2)
    u = torch.tensor([[[2.3, 5.8]]], dtype=torch.float64).expand(1, 20000, 2)
    counts = {}
    for cell in randomized_round(u, generator)[0].tolist():
        counts[tuple(cell)] = counts.get(tuple(cell), 0) + 1
    corners, weights = bilinear_corners(u[:, :1])
    for corner, weight in zip(corners[0, 0].tolist(), weights[0, 0].tolist()):
        frequency = counts.get(tuple(corner), 0) / 20000
        assert abs(frequency - weight) <= 5 * math.sqrt(weight * (1 - weight) / 20000) + 1e-12


def test_mean_of_random_targets_is_the_expected_target():
    generator = torch.Generator().manual_seed(3)
    random_codec = H3RCodec(input_size=16, stride=4, generator=generator)
    expected_codec = H3RCodec(input_size=16, stride=4, expected=True)
    points = torch.tensor([[[5.0, 9.4]]]).expand(1, 5000, 2)
    mean_target = random_codec.encode(points)[0].mean(dim=1)
    expected = expected_codec.encode(points[:, :1])[0][:, 0]
    bound = 5 * torch.sqrt(expected * (1 - expected) / 5000) + 1e-6
    assert ((mean_target - expected).abs() <= bound).all()


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("heatmap", ["probabilities", "logits"])
def test_decoding_the_expected_target_is_lossless(ndim, heatmap, device):
    codec = H3RCodec(input_size=24 if ndim == 3 else 64, stride=4, ndim=ndim, expected=True, heatmap=heatmap)
    points = interior_points(2000, codec, torch.Generator().manual_seed(4))
    # include exact integers and the far edge, where one neighbour has weight 0 and lies off the map
    edge = torch.tensor(codec.heatmap_size[::-1], dtype=torch.float64) - 1
    points[:3, 0] = torch.stack([torch.zeros(ndim), edge, torch.full((ndim,), 3.0)]).double() * codec.stride
    points = points.float().to(device)
    targets, weights = codec.encode(points)
    assert weights.all()
    if heatmap == "logits":
        targets = targets.clamp(min=1e-12).log()
    decoded, _ = codec.decode(targets)
    error_cells = (decoded - points).abs().max() / codec.stride
    assert error_cells <= 1e-4


def test_decoding_averages_topk_with_softmax_weights():
    codec = H3RCodec(input_size=8, stride=2, topk=2)
    logits = torch.full((1, 1, 4, 4), -10.0)
    logits[0, 0, 1, 1] = math.log(3.0)
    logits[0, 0, 1, 2] = 0.0  # softmax weights 3/4 at x=1 and 1/4 at x=2
    keypoints, scores = codec.decode(logits)
    assert torch.allclose(keypoints, torch.tensor([[[1.25 * 2, 1.0 * 2]]]))
    assert scores.item() == pytest.approx(math.log(3.0))


def test_gaussian_target_is_centred_on_the_drawn_cell():
    codec = H3RCodec(input_size=32, stride=4, sigma=1.5, generator=torch.Generator().manual_seed(5))
    targets, _ = codec.encode(torch.tensor([[[10.0, 13.0]]]).expand(1, 200, 2))
    peaks = targets.flatten(2).argmax(-1)
    assert targets.flatten(2).amax(-1).eq(1).all()
    assert set(peaks[0].tolist()) <= {3 * 8 + 2, 3 * 8 + 3, 4 * 8 + 2, 4 * 8 + 3}


def test_expected_gaussian_target_is_the_mixture_of_corner_gaussians():
    codec = H3RCodec(input_size=32, stride=4, sigma=1.0, expected=True)
    targets, _ = codec.encode(torch.tensor([[[10.0, 12.0]]]))  # u = (2.5, 3): corners x=2 and x=3
    grid_x, grid_y = torch.arange(8.0), torch.arange(8.0)
    gaussian = lambda cx, cy: torch.exp(-((grid_x - cx) ** 2)[None] / 2 - ((grid_y - cy) ** 2)[:, None] / 2)
    assert torch.allclose(targets[0, 0], 0.5 * gaussian(2, 3) + 0.5 * gaussian(3, 3), atol=1e-6)


@pytest.mark.parametrize("expected", [False, True])
def test_off_map_landmarks_get_zero_weight_and_empty_targets(expected):
    codec = H3RCodec(input_size=16, stride=4, expected=expected)
    # u = (-0.25, 1): the lower neighbour x=-1 is off the map; u = (1, 3.5): the upper y=4 is off
    keypoints = torch.tensor([[[-1.0, 4.0], [4.0, 14.0], [40.0, 4.0], [4.0, 4.0]]])
    targets, weights = codec.encode(keypoints.expand(500, 4, 2))
    assert (weights[:, 2] == 0).all() and (weights[:, 3] == 1).all()
    if expected:
        assert (weights[:, :2] == 0).all()
    else:  # drawn inside with probability 0.75 and 0.5
        assert 0.65 < weights[:, 0].mean() < 0.85 and 0.4 < weights[:, 1].mean() < 0.6
    assert (targets.flatten(2).sum(-1) == weights).all()


def test_topk_must_fit_the_heatmap():
    with pytest.raises(ValueError, match="topk"):
        H3RCodec(input_size=8, stride=4, topk=5)
    with pytest.raises(ValueError, match="heatmap"):
        H3RCodec(input_size=8, stride=4, topk=4, heatmap="probs")
