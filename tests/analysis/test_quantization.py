import pytest
import torch

from h3r.analysis.quantization import perturb, quantization_study, round_trip_errors, sample_points
from h3r.codecs import build_codec


def test_study_meets_the_paper_claims_on_ideal_heatmaps():
    results = quantization_study(["h3r", "vanilla-round", "vanilla-floor"], strides=[2, 8], n_points=20000)
    for stride in ("2", "8"):
        assert results["codecs"]["h3r"][stride]["mean_px"] <= 1e-3
        rounding = results["codecs"]["vanilla-round"][stride]["mean_px"]
        assert rounding == pytest.approx(0.383 * int(stride), rel=0.03)
        assert results["codecs"]["vanilla-floor"][stride]["mean_px"] > 1.9 * rounding


def test_points_leave_room_for_every_neighbour_at_the_largest_stride():
    points = sample_points(5000, 256, [1, 16], margin=0.0, generator=torch.Generator().manual_seed(0))
    assert points.min() >= 0 and points.max() <= 240
    inner = sample_points(5000, 256, [1, 16], margin=20.0, generator=torch.Generator().manual_seed(0))
    assert inner.min() >= 20 and inner.max() <= 220
    with pytest.raises(ValueError, match="margin"):
        sample_points(10, 256, [16], margin=130.0, generator=torch.Generator())


def test_imperfect_heatmaps_cost_accuracy():
    codec = build_codec("h3r", input_size=128, stride=4)
    points = sample_points(2000, 128, [4], 16.0, torch.Generator().manual_seed(1))
    ideal = round_trip_errors(codec, points)
    noisy = round_trip_errors(codec, points, blur=1.0, noise=0.05, generator=torch.Generator().manual_seed(2))
    assert ideal.max() < 1e-3 < noisy.mean() < 4


def test_perturb_keeps_the_peak_and_stays_non_negative():
    maps = torch.zeros(2, 1, 16, 16)
    maps[:, 0, 8, 8] = 1.0
    blurred = perturb(maps, blur=1.5, noise=0.0, generator=torch.Generator())
    assert blurred.amax().item() == pytest.approx(1.0) and blurred[0, 0, 8, 9] > 0.5
    noisy = perturb(maps, blur=0.0, noise=0.1, generator=torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and (noisy > 0).float().mean() > 0.3
    assert perturb(maps, 0.0, 0.0, torch.Generator()) is maps


def test_study_rejects_bad_settings():
    with pytest.raises(ValueError, match="n_points"):
        quantization_study(["h3r"], [4], n_points=0)
    with pytest.raises(ValueError, match="noise"):
        quantization_study(["h3r"], [4], n_points=10, noise=-1.0)
