"""The interface every codec follows: ``encode`` for training targets, ``decode`` for predictions.

Symbols: ``N`` samples, ``K`` landmarks, ``d`` spatial dimensions (2, or 3 for volumetric heatmaps).
Keypoints are (N, K, d) input pixels and heatmaps (N, K, *heatmap_size), under the convention of
:mod:`h3r.codecs.coords`.
"""

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import torch

from h3r._checks import check_positive, check_shape, check_size
from h3r.codecs.coords import heatmap_to_image, image_to_heatmap


class Codec(ABC):
    """A heatmap codec for inputs of ``input_size`` pixels and heatmaps ``stride`` times smaller.

    Args:
        input_size: (H, W) or (D, H, W) of the network input in pixels; an int means a square (cube).
        stride: input pixels per heatmap cell; must divide every side of ``input_size``.
        ndim: 2 for images, 3 for volumes (where the codec supports it).
    """

    name: ClassVar[str]
    supported_ndims: ClassVar[tuple[int, ...]] = (2, 3)
    decodes_logits: ClassVar[bool] = False
    """Whether ``decode`` reads logits (else non-negative probability or likelihood maps)."""

    def __init__(self, input_size: int | Sequence[int], stride: float = 4, ndim: int = 2):
        if ndim not in self.supported_ndims:
            raise ValueError(f"{self.name} codec supports ndim in {self.supported_ndims}, got ndim={ndim!r}")
        check_positive("stride", stride)
        self.ndim = ndim
        self.input_size = check_size("input_size", input_size, ndim)
        self.stride = stride
        heatmap_size = tuple(side / stride for side in self.input_size)
        if not all(side == int(side) for side in heatmap_size):
            raise ValueError(f"stride={stride!r} must divide input_size={self.input_size}")
        self.heatmap_size = tuple(int(side) for side in heatmap_size)

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({settings})"

    def encode(self, keypoints: torch.Tensor, visible: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training targets for keypoints.

        Args:
            keypoints: (N, K, d) input pixels. Coordinates of invisible landmarks may be NaN.
            visible: (N, K) bool or 0/1; None means all visible.

        Returns:
            targets: what the codec's loss consumes (maps (N, K, *heatmap_size), or coordinates);
            weights: (N, K) float, 0 for invisible landmarks and for those whose target cell falls outside
            the heatmap (their targets are empty), else 1.
        """
        cells, weights = self._heatmap_coordinates(keypoints, visible)
        return self._encode(cells, weights)

    def decode(self, heatmaps: torch.Tensor, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints from network outputs.

        Args:
            heatmaps: (N, K, *heatmap_size), logits if ``decodes_logits`` else probability maps.
            check: validate shape and values; ``False`` skips the data-dependent checks, e.g. while
                tracing for ONNX export.

        Returns:
            keypoints: (N, K, d) input pixels; scores: (N, K) confidences.
        """
        if check:
            self._check_heatmaps(heatmaps)
        cells, scores = self._decode(heatmaps)
        return heatmap_to_image(cells, self.stride), scores

    def ideal_heatmaps(self, keypoints: torch.Tensor) -> torch.Tensor:
        """The probability map a perfectly trained network outputs for ``keypoints`` (N, K, d) pixels.

        For codecs that decode logits, its logarithm is the matching network output.
        """
        cells, weights = self._heatmap_coordinates(keypoints, None)
        return self._ideal_heatmaps(cells)

    @abstractmethod
    def _encode(self, cells: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets for (N, K, d) heatmap coordinates (finite, 0 where invisible) and their (N, K) weights."""

    @abstractmethod
    def _decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, K, d) heatmap coordinates and (N, K) scores of validated heatmaps."""

    @abstractmethod
    def _ideal_heatmaps(self, cells: torch.Tensor) -> torch.Tensor:
        """Probability maps for (N, K, d) heatmap coordinates."""

    def _heatmap_coordinates(
        self, keypoints: torch.Tensor, visible: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sizes = check_shape("keypoints", keypoints, f"N K {self.ndim}")
        if not keypoints.is_floating_point():
            keypoints = keypoints.float()
        if visible is None:
            visible = torch.ones(sizes["N"], sizes["K"], dtype=torch.bool, device=keypoints.device)
        else:
            check_shape("visible", visible, f"{sizes['N']} {sizes['K']}")
            visible = visible.to(device=keypoints.device).bool()
        finite = torch.isfinite(keypoints).all(-1)
        if not finite[visible].all():
            n, k = torch.nonzero(visible & ~finite)[0].tolist()
            raise ValueError(
                f"keypoints[{n}, {k}] = {keypoints[n, k].tolist()} is not finite but marked visible; "
                "mark missing landmarks invisible"
            )
        cells = image_to_heatmap(torch.where(visible.unsqueeze(-1), keypoints, 0.0), self.stride)
        return cells, visible.to(keypoints.dtype)

    def _check_heatmaps(self, heatmaps: torch.Tensor) -> None:
        spatial = " ".join(str(side) for side in self.heatmap_size)
        check_shape("heatmaps", heatmaps, f"N K {spatial}")
        if not heatmaps.is_floating_point():
            raise ValueError(f"heatmaps must be floating point, got {heatmaps.dtype}")
        if heatmaps.numel() and not torch.isfinite(torch.stack(torch.aminmax(heatmaps))).all():
            raise ValueError("heatmaps contain NaN or inf values")
