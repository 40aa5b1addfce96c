"""Integral regression: a softmax over the whole map and its expected position (Sun et al., ECCV 2018)."""

import torch

from h3r._checks import check_positive
from h3r.codecs.base import Codec
from h3r.codecs.functional import render_gaussians, soft_argmax


class SoftArgmaxCodec(Codec):
    """Soft-argmax: trained by an L1 loss on coordinates, so its targets are coordinates, not maps.

    ``encode`` returns the (N, K, d) heatmap coordinates ``u`` and weight 0 for those off the map
    (outside ``[-0.5, side - 0.5]``). ``decode`` takes logits. Its ideal output is a Gaussian of ``sigma``
    cells: away from the borders its mean is ``u``; near them the truncated Gaussian pulls inwards.

    Args:
        input_size, stride, ndim: see :class:`~h3r.codecs.base.Codec`.
        beta: inverse softmax temperature applied to the logits.
        sigma: width of the ideal map, in cells.
    """

    name = "soft-argmax"
    decodes_logits = True

    def __init__(self, input_size, stride: float = 4, ndim: int = 2, beta: float = 1.0, sigma: float = 1.0):
        super().__init__(input_size, stride, ndim)
        check_positive("beta", beta)
        check_positive("sigma", sigma)
        self.beta = beta
        self.sigma = sigma

    def _encode(self, cells, weights):
        extent = torch.tensor(self.heatmap_size[::-1], device=cells.device, dtype=cells.dtype)
        on_map = ((cells >= -0.5) & (cells <= extent - 0.5)).all(-1)
        return cells, weights * on_map

    def _decode(self, heatmaps):
        return soft_argmax(heatmaps, self.beta)

    def _ideal_heatmaps(self, cells):
        return render_gaussians(cells, self.heatmap_size, self.sigma)
