"""Properties every codec must have: round trips, batching, devices, dtypes, visibility, bad arguments."""

import math

import pytest
import torch

from h3r.codecs import CODECS, build_codec

# Round-trip tolerance on ideal heatmaps, in heatmap cells, for points at least 6 cells from the border
# (DARK's modulation blur, 3 sigma = 6 cells wide, feels a nearer border).
TOLERANCE = {
    "h3r": 1e-4,
    "vanilla-round": math.sqrt(2) / 2 + 1e-6,
    "vanilla-floor": math.sqrt(2) + 1e-6,
    "quarter-offset": math.sqrt(2) / 2 + 1e-6,
    "dark": 1e-3,
    "soft-argmax": 1e-3,
}


def make(name: str, **settings):
    settings.setdefault("input_size", 128)
    settings.setdefault("stride", 4)
    return build_codec(name, **settings)


def network_output(codec, keypoints: torch.Tensor) -> torch.Tensor:
    maps = codec.ideal_heatmaps(keypoints)
    return maps.clamp(min=1e-12).log() if codec.decodes_logits else maps


def interior_keypoints(n: int, k: int, codec, margin_cells: float = 6.0) -> torch.Tensor:
    side = codec.heatmap_size[0]
    cells = margin_cells + torch.rand(n, k, 2) * (side - 1 - 2 * margin_cells)
    return cells * codec.stride


def test_registry_holds_the_issue_names():
    assert set(CODECS) == {"h3r", "vanilla-round", "vanilla-floor", "quarter-offset", "dark", "soft-argmax"}


@pytest.mark.parametrize("name", list(CODECS))
def test_round_trip_within_the_stated_tolerance(name, device):
    codec = make(name)
    keypoints = interior_keypoints(64, 5, codec).to(device)
    decoded, scores = codec.decode(network_output(codec, keypoints))
    assert decoded.shape == keypoints.shape and scores.shape == keypoints.shape[:2]
    error_cells = (decoded - keypoints).norm(dim=-1).max() / codec.stride
    assert error_cells <= TOLERANCE[name]


@pytest.mark.parametrize("name", list(CODECS))
def test_batched_equals_one_by_one(name):
    codec = make(name)
    keypoints = interior_keypoints(6, 3, codec)
    heatmaps = network_output(codec, keypoints) + 0.01 * torch.rand(6, 3, 32, 32)
    batched, batched_scores = codec.decode(heatmaps)
    for i in range(6):
        single, single_scores = codec.decode(heatmaps[i : i + 1])
        torch.testing.assert_close(single[0], batched[i])
        torch.testing.assert_close(single_scores[0], batched_scores[i])


@pytest.mark.parametrize("name", [n for n in CODECS if n != "h3r"])
def test_deterministic_encoding_does_not_depend_on_the_batch(name):
    codec = make(name)
    keypoints = interior_keypoints(5, 4, codec)
    targets, weights = codec.encode(keypoints)
    for i in range(5):
        single_targets, single_weights = codec.encode(keypoints[i : i + 1])
        torch.testing.assert_close(single_targets[0], targets[i])
        torch.testing.assert_close(single_weights[0], weights[i])


@pytest.mark.parametrize("name", list(CODECS))
def test_float64_and_float32_agree(name):
    codec = make(name)
    keypoints = interior_keypoints(8, 2, codec).double()
    heatmaps = network_output(codec, keypoints)
    decoded64, _ = codec.decode(heatmaps)
    decoded32, _ = codec.decode(heatmaps.float())
    assert decoded64.dtype == torch.float64
    assert (decoded64 - decoded32.double()).abs().max() < 1e-3 * codec.stride


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", list(CODECS))
def test_cuda_matches_cpu(name):
    codec = make(name)
    keypoints = interior_keypoints(8, 4, codec)
    heatmaps = network_output(codec, keypoints)
    on_cpu, _ = codec.decode(heatmaps)
    on_gpu, _ = codec.decode(heatmaps.cuda())
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", list(CODECS))
def test_invisible_landmarks_get_zero_weight_even_with_nan_coordinates(name):
    codec = make(name)
    keypoints = interior_keypoints(2, 3, codec)
    keypoints[0, 1] = float("nan")
    visible = torch.tensor([[True, False, True], [False, True, True]])
    targets, weights = codec.encode(keypoints, visible)
    assert weights.tolist() == visible.float().tolist()
    assert torch.isfinite(targets).all()
    if targets.dim() == 4:  # heatmap targets are empty where the weight is 0
        assert (targets[~visible] == 0).all()


@pytest.mark.parametrize("name", list(CODECS))
def test_visible_nan_or_inf_keypoints_are_rejected(name):
    codec = make(name)
    for bad in (float("nan"), float("inf")):
        keypoints = torch.full((1, 2, 2), 8.0)
        keypoints[0, 1, 0] = bad
        with pytest.raises(ValueError, match=r"keypoints\[0, 1\]"):
            codec.encode(keypoints)


@pytest.mark.parametrize("name", list(CODECS))
def test_landmarks_off_the_heatmap_get_zero_weight(name):
    codec = make(name)  # 128-pixel input, 32x32 heatmap
    keypoints = torch.tensor([[[-40.0, 60.0], [60.0, 500.0], [60.0, 60.0]]])
    targets, weights = codec.encode(keypoints)
    assert weights.tolist() == [[0.0, 0.0, 1.0]]


@pytest.mark.parametrize("name", list(CODECS))
def test_bad_arguments_name_the_argument(name):
    with pytest.raises(ValueError, match="stride"):
        make(name, stride=0)
    with pytest.raises(ValueError, match="stride"):
        make(name, stride=-4)
    with pytest.raises(ValueError, match="stride"):
        make(name, input_size=130, stride=4)
    with pytest.raises(ValueError, match="input_size"):
        make(name, input_size=(128,))
    if name != "h3r":
        with pytest.raises(ValueError, match="sigma"):
            make(name, sigma=0)
    codec = make(name)
    with pytest.raises(ValueError, match=r"keypoints must have shape \(N, K, 2\)"):
        codec.encode(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"visible must have shape"):
        codec.encode(torch.zeros(3, 5, 2), torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"heatmaps must have shape \(N, K, 32, 32\)"):
        codec.decode(torch.zeros(1, 5, 16, 16))
    with pytest.raises(ValueError, match="NaN"):
        codec.decode(torch.full((1, 5, 32, 32), float("nan")))


def test_unknown_codec_lists_the_choices():
    with pytest.raises(ValueError, match="unknown codec 'argmax'.*h3r.*dark"):
        build_codec("argmax", input_size=64)
    with pytest.raises(ValueError, match="bad settings for codec 'dark'"):
        build_codec("dark", input_size=64, topk=3)


def test_dark_is_two_dimensional_only():
    with pytest.raises(ValueError, match="ndim"):
        build_codec("dark", input_size=32, ndim=3)


@pytest.mark.parametrize("name", ["h3r", "soft-argmax", "vanilla-round"])
def test_volumetric_round_trip(name):
    codec = build_codec(name, input_size=(16, 32, 24), stride=4, ndim=3)  # (D, H, W): 4x8x6 heatmaps
    cells = 1 + torch.rand(10, 2, 3) * torch.tensor([3.0, 5.0, 1.0])  # x < 5, y < 7, z < 3
    keypoints = cells * 4
    heatmaps = network_output(codec, keypoints)
    assert heatmaps.shape == (10, 2, 4, 8, 6)
    decoded, _ = codec.decode(heatmaps)
    tolerance = {"h3r": 1e-4, "soft-argmax": 0.5, "vanilla-round": math.sqrt(3) / 2}[name]
    assert (decoded - keypoints).norm(dim=-1).max() / 4 <= tolerance + 1e-6


ENCODE_DECODE_TOLERANCE = {  # cells: a random h3r draw lands on one of the 4 neighbours
    "h3r": math.sqrt(2) + 1e-6,
    "vanilla-round": TOLERANCE["vanilla-round"],
    "vanilla-floor": TOLERANCE["vanilla-floor"],
    "quarter-offset": TOLERANCE["quarter-offset"],
    "dark": TOLERANCE["dark"],
}


@pytest.mark.parametrize("name", list(ENCODE_DECODE_TOLERANCE))
def test_decoding_the_training_target_recovers_the_keypoint(name):
    settings = {"heatmap": "probabilities"} if name == "h3r" else {}
    codec = make(name, **settings)
    keypoints = interior_keypoints(16, 4, codec)
    targets, weights = codec.encode(keypoints)
    assert targets.shape == (16, 4, 32, 32) and weights.all()
    decoded, _ = codec.decode(targets)
    assert (decoded - keypoints).norm(dim=-1).max() / codec.stride <= ENCODE_DECODE_TOLERANCE[name]
