import numpy as np
import pytest


@pytest.fixture
def blob():
    """Draw a Gaussian blob: (H, W), (x, y) centre in pixels, sigma → (H, W, 3) uint8, peak 255."""

    def draw(size: tuple[int, int], centre: tuple[float, float], sigma: float) -> np.ndarray:
        y, x = np.mgrid[: size[0], : size[1]]
        value = 255 * np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / (2 * sigma**2))
        return np.repeat(np.rint(value).astype(np.uint8)[..., None], 3, axis=2)

    return draw


@pytest.fixture
def centroid():
    """Intensity-weighted (x, y) centroid of an (H, W, 3) image's first channel, pixels."""

    def measure(image: np.ndarray) -> np.ndarray:
        value = image[..., 0].astype(np.float64)
        y, x = np.mgrid[: value.shape[0], : value.shape[1]]
        return np.array([(value * x).sum(), (value * y).sum()]) / value.sum()

    return measure
