"""The paper's codec: randomized rounding to encode, top-k softmax averaging to decode."""

import math

import torch

from h3r._checks import check_positive
from h3r.codecs.base import Codec
from h3r.codecs.coords import inside
from h3r.codecs.functional import (
    bilinear_corners,
    randomized_round,
    render_gaussians,
    render_points,
    topk_expectation,
)


class H3RCodec(Codec):
    """Heatmap regression via randomized rounding (Yu & Tao, TPAMI 2021).

    Encoding draws, afresh at every call, one integer neighbour of each sub-pixel heatmap coordinate:
    ``floor(u) + 1`` with probability ``frac(u)``, per axis independently. The target is one-hot at that
    cell (or a Gaussian of ``sigma`` around it), so its expectation is the bilinear "soft" target that
    ``expected=True`` returns deterministically. Decoding averages the ``topk`` highest cells, weighted by a
    softmax of their logits (the released models) or by their normalised probabilities. The pair is
    unbiased, ``E[encode(u)] = u``, and lossless: decoding the expected one-hot target returns ``u``.

    A landmark gets weight 0 when its drawn cell (with ``expected=True``: any neighbour of non-zero
    weight) lies outside the heatmap.

    Args:
        input_size, stride, ndim: see :class:`~h3r.codecs.base.Codec`.
        sigma: None for one-hot targets, else the Gaussian's standard deviation in heatmap cells.
        expected: return the expected (bilinear) target instead of a random draw.
        topk: number of cells averaged when decoding (9 in the released models).
        heatmap: ``"logits"`` (softmax weights) or ``"probabilities"`` (normalised weights).
        generator: optional source of randomness for the draws, on the device of the keypoints.

    Examples:
        >>> codec = H3RCodec(input_size=16, stride=4, expected=True, heatmap="probabilities")
        >>> targets, weights = codec.encode(torch.tensor([[[5.0, 2.0]]]))
        >>> targets[0, 0, :2, :3]
        tensor([[0.0000, 0.3750, 0.1250],
                [0.0000, 0.3750, 0.1250]])
        >>> codec.decode(targets)[0]
        tensor([[[5., 2.]]])
    """

    name = "h3r"

    def __init__(
        self,
        input_size,
        stride: float = 4,
        ndim: int = 2,
        sigma: float | None = None,
        expected: bool = False,
        topk: int = 9,
        heatmap: str = "logits",
        generator: torch.Generator | None = None,
    ):
        super().__init__(input_size, stride, ndim)
        if sigma is not None:
            check_positive("sigma", sigma)
        cells = math.prod(self.heatmap_size)
        if not isinstance(topk, int) or isinstance(topk, bool) or not 1 <= topk <= cells:
            raise ValueError(f"topk must be an int in [1, {cells}] (the heatmap's cells), got {topk!r}")
        if heatmap not in ("logits", "probabilities"):
            raise ValueError(f"heatmap must be 'logits' or 'probabilities', got {heatmap!r}")
        self.sigma = sigma
        self.expected = expected
        self.topk = topk
        self.heatmap = heatmap
        self.generator = generator

    @property
    def decodes_logits(self) -> bool:
        return self.heatmap == "logits"

    def _encode(self, cells, weights):
        if self.expected:
            corners, probabilities = bilinear_corners(cells)  # (N, K, P, d), (N, K, P)
            on_map = (inside(corners, self.heatmap_size) | (probabilities == 0)).all(-1)
        else:
            corners = randomized_round(cells, self.generator).unsqueeze(-2)  # (N, K, 1, d)
            probabilities = torch.ones(corners.shape[:-1], dtype=cells.dtype, device=cells.device)
            on_map = inside(corners[..., 0, :], self.heatmap_size)
        weights = weights * on_map
        return self._render(corners, probabilities * weights.unsqueeze(-1)), weights

    def _render(self, corners: torch.Tensor, mass: torch.Tensor) -> torch.Tensor:
        """Maps with ``mass`` (N, K, P) at integer ``corners`` (N, K, P, d): one-hot, or Gaussian mixtures."""
        if self.sigma is None:
            return render_points(corners, mass, self.heatmap_size)
        n, k, p, d = corners.shape
        gaussians = render_gaussians(corners.reshape(n, k * p, d), self.heatmap_size, self.sigma)
        gaussians = gaussians.view(n, k, p, *self.heatmap_size)
        return (mass.view(n, k, p, *[1] * d) * gaussians).sum(2)

    def _decode(self, heatmaps):
        return topk_expectation(heatmaps, self.topk, "softmax" if self.decodes_logits else "sum")

    def _ideal_heatmaps(self, cells):
        corners, probabilities = bilinear_corners(cells)
        return self._render(corners, probabilities)
