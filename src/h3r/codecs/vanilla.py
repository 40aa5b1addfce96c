"""Integer heatmap targets decoded by argmax: the quantizing baselines the paper improves on."""

import torch

from h3r._checks import check_positive
from h3r.codecs.base import Codec
from h3r.codecs.coords import inside
from h3r.codecs.functional import quarter_offset, render_gaussians, render_points
from h3r.codecs.selection import argmax_cells


class VanillaCodec(Codec):
    """Target at an integer cell (``round(u)`` or ``floor(u)``), decoded by argmax.

    Rounding loses up to half a cell per axis: ``round`` has a mean 2-D error of about 0.383 cells for
    uniformly distributed sub-pixel positions, ``floor`` a bias of half a cell per axis.

    Args:
        input_size, stride, ndim: see :class:`~h3r.codecs.base.Codec`.
        sigma: standard deviation of the Gaussian target in heatmap cells, or None for one-hot targets.
    """

    rounding: str

    def __init__(self, input_size, stride: float = 4, ndim: int = 2, sigma: float | None = 2.0):
        super().__init__(input_size, stride, ndim)
        if sigma is not None:
            check_positive("sigma", sigma)
        self.sigma = sigma

    def _centres(self, cells: torch.Tensor) -> torch.Tensor:
        """(N, K, d) integer target cells; ``floor(u + 0.5)`` rounds halves up, unlike ``torch.round``."""
        return torch.floor(cells + 0.5 if self.rounding == "round" else cells).long()

    def _encode(self, cells, weights):
        centres = self._centres(cells)
        weights = weights * inside(centres, self.heatmap_size)
        return self._render(centres, cells.dtype) * weights.view(*weights.shape, *[1] * self.ndim), weights

    def _render(self, centres: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.sigma is None:
            ones = torch.ones(centres.shape[:-1], dtype=dtype, device=centres.device).unsqueeze(-1)
            return render_points(centres.unsqueeze(-2), ones, self.heatmap_size)
        return render_gaussians(centres.to(dtype), self.heatmap_size, self.sigma)

    def _decode(self, heatmaps):
        cells, scores = argmax_cells(heatmaps)
        return cells.to(heatmaps.dtype), scores

    def _ideal_heatmaps(self, cells):
        return self._render(self._centres(cells), cells.dtype)


class VanillaRoundCodec(VanillaCodec):
    """Target at ``round(u)``, argmax decoding."""

    name = "vanilla-round"
    rounding = "round"


class VanillaFloorCodec(VanillaCodec):
    """Target at ``floor(u)`` (integer truncation, as in some early code), argmax decoding."""

    name = "vanilla-floor"
    rounding = "floor"


class QuarterOffsetCodec(VanillaRoundCodec):
    """Target at ``round(u)``; argmax plus a quarter-cell shift towards the higher neighbour (SimpleBaseline).

    On an ideal target the neighbours of the peak are equal, so it decodes like ``vanilla-round``; the
    shift only acts on the blurred, noisy maps of a trained network.
    """

    name = "quarter-offset"

    def _decode(self, heatmaps):
        cells, scores = argmax_cells(heatmaps)
        return quarter_offset(heatmaps, cells), scores
