"""DARK: sub-pixel Gaussian targets, Taylor-expansion decoding (Zhang et al., CVPR 2020)."""

from h3r._checks import check_positive
from h3r.codecs.base import Codec
from h3r.codecs.coords import inside
from h3r.codecs.functional import dark_refine, render_gaussians
from h3r.codecs.selection import argmax_cells


class DarkCodec(Codec):
    """Unquantized Gaussian targets centred at the sub-pixel ``u``, decoded by DARK.

    A landmark gets weight 0 when its nearest cell lies outside the heatmap.

    Args:
        input_size, stride: see :class:`~h3r.codecs.base.Codec` (2-D only).
        sigma: standard deviation of the target, and of the decoder's modulation kernel, in cells.
    """

    name = "dark"
    supported_ndims = (2,)

    def __init__(self, input_size, stride: float = 4, ndim: int = 2, sigma: float = 2.0):
        super().__init__(input_size, stride, ndim)
        check_positive("sigma", sigma)
        self.sigma = sigma

    def _encode(self, cells, weights):
        weights = weights * inside(cells.add(0.5).floor().long(), self.heatmap_size)
        return self._ideal_heatmaps(cells) * weights[..., None, None], weights

    def _decode(self, heatmaps):
        peaks, scores = argmax_cells(heatmaps)
        return dark_refine(heatmaps, peaks, self.sigma), scores

    def _ideal_heatmaps(self, cells):
        return render_gaussians(cells, self.heatmap_size, self.sigma)
