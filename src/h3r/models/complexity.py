"""Model size and cost: parameter and multiply-accumulate (MAC) counts."""

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from h3r._checks import check_size

aten = torch.ops.aten
BATCH_NORM_OPS = (
    aten.native_batch_norm,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_no_training,
    aten.cudnn_batch_norm,
    aten.miopen_batch_norm,
)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements (buffers such as BN running statistics excluded).

    Examples:
        >>> count_parameters(nn.Conv2d(3, 8, 3, bias=False))
        216
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_size: int | Sequence[int], batch_norm: bool = True) -> int:
    """Multiply-accumulates of one forward pass on a single (1, 3, H, W) image.

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode`, with MACs = FLOPs / 2. It covers
    convolutions and matrix products; with ``batch_norm`` (the default) each batch-norm element adds 2 MACs
    (subtract, divide, scale, shift: 4 FLOPs), the convention of the ``thop`` counter. This reproduces all
    figures the authors published for their models (MobileNetV2 with 98 landmarks: 0.13, 0.20 and 0.51 G
    at 128, 160 and 256 pixels; HRNet-W18 at 256: 4.84 G); convolutions alone give 0.12 G at 128.
    Activations, additions and resizing are not counted. The model runs in eval mode without gradients
    and is left in the modes it had.

    Args:
        input_size: H = W as an int, or (H, W).
        batch_norm: count batch normalisation as well as convolutions and matrix products.

    Examples:
        >>> count_macs(nn.Conv2d(3, 8, 3, padding=1, bias=False), (4, 5))
        4320
        >>> count_macs(nn.BatchNorm2d(3), 4)
        96
    """
    height, width = check_size("input_size", input_size, 2)
    reference = next(model.parameters(), torch.empty(0))
    image = torch.zeros(1, 3, height, width, device=reference.device, dtype=reference.dtype)
    extra = {op: _batch_norm_flops for op in BATCH_NORM_OPS} if batch_norm else {}
    counter = FlopCounterMode(display=False, custom_mapping=extra)
    with _eval_mode(model), torch.no_grad(), counter:
        model(image)
    return counter.get_total_flops() // 2


def _batch_norm_flops(input_shape, *args, out_shape=None, **kwargs) -> int:
    return 4 * math.prod(input_shape)


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, training in modes.items():
            module.training = training
