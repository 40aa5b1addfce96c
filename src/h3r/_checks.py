"""Argument checks that raise ``ValueError`` naming the argument and the offending value."""

from collections.abc import Sequence

import torch


class ShapeError(ValueError):
    """A tensor argument has the wrong shape."""


def check_shape(name: str, tensor: torch.Tensor, pattern: str) -> dict[str, int]:
    """Check ``tensor`` against a space-separated pattern such as ``"N K 2"`` and return the named sizes.

    Letters bind sizes (the same letter twice must agree), digits demand that size.

    Examples:
        >>> check_shape("keypoints", torch.zeros(4, 68, 2), "N K 2")
        {'N': 4, 'K': 68}
    """
    if not isinstance(tensor, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    dims = pattern.split()
    if tensor.dim() != len(dims):
        raise ShapeError(f"{name} must have shape ({', '.join(dims)}), got {tuple(tensor.shape)}")
    sizes: dict[str, int] = {}
    for dim, size in zip(dims, tensor.shape):
        if dim.isdigit():
            ok = size == int(dim)
        else:
            ok = sizes.setdefault(dim, size) == size
        if not ok:
            raise ShapeError(f"{name} must have shape ({', '.join(dims)}), got {tuple(tensor.shape)}")
    return sizes


def check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_size(name: str, size: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """Normalise an int or a sequence of ``ndim`` positive ints; ints are taken as a square/cube."""
    sizes = (size,) * ndim if isinstance(size, int) else tuple(size)
    if len(sizes) != ndim or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ValueError(f"{name} must be a positive int or {ndim} positive ints, got {size!r}")
    return sizes
