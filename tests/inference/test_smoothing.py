"""The One Euro filter: a constant stays, a step is followed, its known values, speed raises the cutoff."""

import math

import numpy as np
import pytest

from h3r.inference.smoothing import (
    OneEuroFilter,
    OneEuroSettings,
    one_euro_step,
    smooth_trajectory,
    smoothing_factor,
)

FPS = 30.0


def test_a_constant_signal_stays_constant():
    samples = np.broadcast_to(np.array([[12.5, -3.0]]), (20, 1, 2))
    np.testing.assert_allclose(smooth_trajectory(samples, FPS, OneEuroSettings()), samples, rtol=0, atol=1e-12)


def test_a_step_is_followed_monotonically_to_its_new_value():
    samples = np.r_[np.zeros(5), np.full(60, 10.0)]
    smoothed = smooth_trajectory(samples, FPS, OneEuroSettings(min_cutoff=1.0, beta=0.0))
    after = smoothed[5:]
    assert np.all(np.diff(after) > 0) and 0 < after[0] < 10
    assert after[-1] == pytest.approx(10.0, abs=1e-3)  # 2 s = 12.6 time constants of a 1 Hz filter


def test_known_values_of_a_tiny_example():
    """dt = 1 s and cutoffs of 1 / (2π) Hz give alpha = 1/2 for the speed; beta = 1 raises the cutoff by |speed|."""
    settings = OneEuroSettings(min_cutoff=1 / (2 * math.pi), beta=1.0, d_cutoff=1 / (2 * math.pi))
    first, state = one_euro_step(None, np.array([0.0]), 1.0, settings)
    second, state = one_euro_step(state, np.array([2.0]), 1.0, settings)
    # speed = 0.5 · (2 − 0) / 1 + 0.5 · 0 = 1; cutoff = 1/(2π) + 1; alpha = 1 / (1 + 1 / (2π · cutoff)) = 1 / (1 + 1 / (1 + 2π))
    alpha = 1 / (1 + 1 / (1 + 2 * math.pi))
    assert first.tolist() == [0.0] and state.speed.tolist() == [1.0]
    assert second[0] == pytest.approx(alpha * 2.0, rel=1e-12)


def test_speed_raises_the_cutoff_so_that_motion_lags_less():
    ramp = np.arange(30, dtype=np.float64) * 2.0  # 60 px/s
    still = smooth_trajectory(ramp, FPS, OneEuroSettings(beta=0.0))
    adaptive = smooth_trajectory(ramp, FPS, OneEuroSettings(beta=0.1))
    assert abs(ramp[-1] - adaptive[-1]) < abs(ramp[-1] - still[-1]) / 2


def test_each_coordinate_is_filtered_on_its_own():
    smooth = OneEuroFilter(OneEuroSettings(beta=0.5))
    smooth(np.zeros((2, 2)), 1 / FPS)
    moved = smooth(np.array([[0.0, 0.0], [0.0, 5.0]]), 1 / FPS)
    assert moved[0].tolist() == [0.0, 0.0] and moved[1, 0] == 0.0 and 0 < moved[1, 1] < 5


def test_bad_settings_and_samples_are_refused():
    with pytest.raises(ValueError, match="min_cutoff must be a positive number"):
        OneEuroSettings(min_cutoff=0.0)
    with pytest.raises(ValueError, match="beta must be a number >= 0"):
        OneEuroSettings(beta=-1.0)
    _, state = one_euro_step(None, np.zeros(3), 0.1, OneEuroSettings())
    with pytest.raises(ValueError, match=r"sample of shape \(2,\) after samples of shape \(3,\)"):
        one_euro_step(state, np.zeros(2), 0.1, OneEuroSettings())
    with pytest.raises(ValueError, match="dt must be a positive number"):
        one_euro_step(state, np.zeros(3), 0.0, OneEuroSettings())
    assert smoothing_factor(1.0, 1 / FPS) == pytest.approx(1 / (1 + FPS / (2 * math.pi)))
