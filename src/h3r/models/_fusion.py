"""Bring multi-scale feature maps to one output stride and stack them along channels."""

from collections.abc import Sequence

import torch
import torch.nn.functional as F

OUTPUT_STRIDES = (4, 8, 16)


def fuse_at_stride(features: Sequence[torch.Tensor], strides: Sequence[int], output_stride: int) -> torch.Tensor:
    """Resize maps (N, C_i, H / s_i, W / s_i) of strides ``s_i`` to ``output_stride`` and concatenate them.

    Returns (N, sum C_i, h, w), where (h, w) is the size of the map whose stride is ``output_stride``
    (``input // output_stride`` for inputs divisible by it). Coarser maps are enlarged bilinearly with
    ``align_corners=False``, as in the released models, where output stride 4 needs nothing else. Finer
    maps, needed at output stride 8 or 16, are averaged over the ``output_stride / s_i`` square of cells
    that each output cell covers (it exports to ONNX as a plain pooling). Neither resize keeps cell ``i``
    exactly on input pixel ``i * output_stride`` (``align_corners=False`` and the pooling each shift by a
    fraction of a cell); the shifts are fixed, so the head learns to absorb them, as in the released models.

    Examples:
        >>> levels = [torch.ones(1, 2, 8, 8), torch.ones(1, 3, 4, 4), torch.ones(1, 4, 2, 2)]
        >>> fuse_at_stride(levels, strides=(4, 8, 16), output_stride=8).shape
        torch.Size([1, 9, 4, 4])
    """
    size = features[list(strides).index(output_stride)].shape[-2:]
    return torch.cat([_resize(x, stride, output_stride, size) for x, stride in zip(features, strides)], dim=1)


def _resize(feature: torch.Tensor, stride: int, output_stride: int, size: torch.Size) -> torch.Tensor:
    if stride == output_stride:
        return feature
    if stride < output_stride:
        return F.avg_pool2d(feature, output_stride // stride, ceil_mode=True)
    return F.interpolate(feature, size=size, mode="bilinear", align_corners=False)
