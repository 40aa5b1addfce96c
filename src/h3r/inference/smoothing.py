"""Temporal smoothing of landmark trajectories: the One Euro filter (Casiez, Roussel & Vogel, CHI 2012).

A first-order low-pass filter whose cutoff frequency rises with the speed of the signal: a still face is
smoothed strongly (``min_cutoff``), a moving one is followed with little lag (``beta``). Every number of a
sample (each coordinate of each landmark) is filtered on its own. For a sample ``x`` taken ``dt`` seconds
after the previous one, with ``x̂`` the previous output and ``ẋ`` the previous filtered speed:

    alpha(f) = 1 / (1 + 1 / (2π · f · dt))            the smoothing factor of cutoff f (Hz)
    ẋ ← alpha(d_cutoff) · (x − x̂) / dt + (1 − alpha(d_cutoff)) · ẋ
    f  = min_cutoff + beta · |ẋ|
    x̂ ← alpha(f) · x + (1 − alpha(f)) · x̂

The first sample passes unchanged, with a speed of zero. Units: cutoffs in hertz; ``beta`` in hertz per
unit of speed, i.e. 1 / pixel for landmarks in pixels (its effect therefore depends on the face's size in
pixels). The defaults of ``OneEuroSettings`` are the filter's usual starting point (1 Hz), with ``beta``
set so that a face moving at 30 pixels per second gets a 4 Hz cutoff; they were not tuned on any test data.
"""

import math
from dataclasses import dataclass

import numpy as np

from h3r._checks import check_positive

__all__ = [
    "OneEuroFilter",
    "OneEuroSettings",
    "OneEuroState",
    "one_euro_step",
    "smooth_trajectory",
    "smoothing_factor",
]


@dataclass(frozen=True)
class OneEuroSettings:
    """The One Euro filter's parameters (see the module docstring).

    Attributes:
        min_cutoff: cutoff frequency at rest, Hz; lower smooths more (and lags more).
        beta: rise of the cutoff with the speed, Hz per (pixel / s); higher lags less when moving.
        d_cutoff: cutoff frequency of the speed estimate, Hz.
    """

    min_cutoff: float = 1.0
    beta: float = 0.1
    d_cutoff: float = 1.0

    def __post_init__(self):
        check_positive("min_cutoff", self.min_cutoff)
        check_positive("d_cutoff", self.d_cutoff)
        if not isinstance(self.beta, (int, float)) or isinstance(self.beta, bool) or not self.beta >= 0:
            raise ValueError(f"beta must be a number >= 0, got {self.beta!r}")


@dataclass(frozen=True)
class OneEuroState:
    """What the filter keeps between samples: the last output and the filtered speed, arrays of one shape."""

    value: np.ndarray
    speed: np.ndarray


def smoothing_factor(cutoff: float | np.ndarray, dt: float) -> float | np.ndarray:
    """The weight ``alpha`` of a new sample in a first-order low-pass filter of ``cutoff`` Hz sampled every
    ``dt`` seconds: 1 / (1 + tau / dt), tau = 1 / (2π · cutoff).

    Examples:
        >>> smoothing_factor(1 / (2 * math.pi), dt=1.0)  # tau = dt
        0.5
    """
    return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))


def one_euro_step(
    state: OneEuroState | None, sample: np.ndarray, dt: float, settings: OneEuroSettings
) -> tuple[np.ndarray, OneEuroState]:
    """Filter one sample: ``(output, new state)``; ``state`` None for the first sample, which passes unchanged.

    Args:
        state: what the previous call returned, or None.
        sample: an array of any shape (e.g. (F, K, 2) landmarks in pixels), the shape of the previous ones.
        dt: seconds since the previous sample, > 0.
        settings: the filter's parameters.

    Raises:
        ValueError: ``dt`` not positive, or a sample of another shape than the state's.

    Examples:
        >>> settings = OneEuroSettings(min_cutoff=1 / (2 * math.pi), beta=0.0)  # alpha = 0.5 at dt = 1
        >>> state, outputs = None, []
        >>> for x in (0.0, 1.0, 1.0):
        ...     y, state = one_euro_step(state, np.array([x]), 1.0, settings)
        ...     outputs.append(float(y[0]))
        >>> outputs
        [0.0, 0.5, 0.75]
    """
    check_positive("dt", dt)
    sample = np.asarray(sample, dtype=np.float64)
    if state is None:
        return sample.copy(), OneEuroState(sample.copy(), np.zeros_like(sample))
    if sample.shape != state.value.shape:
        raise ValueError(f"sample of shape {sample.shape} after samples of shape {state.value.shape}")
    speed_weight = smoothing_factor(settings.d_cutoff, dt)
    speed = speed_weight * (sample - state.value) / dt + (1 - speed_weight) * state.speed
    weight = smoothing_factor(settings.min_cutoff + settings.beta * np.abs(speed), dt)
    value = weight * sample + (1 - weight) * state.value
    return value, OneEuroState(value, speed)


class OneEuroFilter:
    """``one_euro_step`` with its state kept: ``filter(sample, dt)`` returns the smoothed sample.

    Examples:
        >>> smooth = OneEuroFilter(OneEuroSettings())
        >>> [float(smooth(np.array(5.0), 1 / 30)) for _ in range(3)]  # a constant stays
        [5.0, 5.0, 5.0]
    """

    def __init__(self, settings: OneEuroSettings):
        self.settings = settings
        self.state: OneEuroState | None = None

    def __call__(self, sample: np.ndarray, dt: float) -> np.ndarray:
        value, self.state = one_euro_step(self.state, sample, dt, self.settings)
        return value


def smooth_trajectory(samples: np.ndarray, fps: float, settings: OneEuroSettings) -> np.ndarray:
    """A whole sequence filtered at once: (T, ...) samples taken ``fps`` times a second → (T, ...) float64.

    Examples:
        >>> smooth_trajectory(np.array([0.0, 1.0, 1.0]), 1.0, OneEuroSettings(1 / (2 * math.pi), 0.0)).tolist()
        [0.0, 0.5, 0.75]
    """
    smooth = OneEuroFilter(settings)
    return np.stack([smooth(sample, 1.0 / fps) for sample in np.asarray(samples, dtype=np.float64)])
