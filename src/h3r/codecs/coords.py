"""The one coordinate convention of h3r, shared by codecs, data, models and metrics.

Convention:
    - Points are ``(x, y)`` (``(x, y, z)`` in 3-D); sizes are ``(H, W)`` (``(D, H, W)`` in 3-D), so
      coordinate ``i`` of a point runs along spatial axis ``-(i + 1)`` of a tensor.
    - Input pixels: the centre of the top-left pixel is ``(0, 0)``; an image of width ``W`` spans
      ``[-0.5, W - 0.5]``. A horizontal flip maps ``x`` to ``W - 1 - x``.
    - Heatmap cells: ``u = x / stride``. Cell ``i`` of a heatmap is centred on input pixel ``i * stride``,
      as in the authors' released models (torchalign). A heatmap of an ``S``-pixel input has ``S // stride``
      cells, so points beyond ``(S // stride - 1) * stride`` have no cell on their far side.
    - Worked example: stride 4, ``x = 10.0`` gives ``u = 2.5``, halfway between cells 2 and 3, which are
      centred on input pixels 8 and 12.
    - Other codebases differ: MSRA heatmaps (mmpose) use the same ``x / stride``; UDP uses
      ``x * (W_h - 1) / (W_in - 1)``, which aligns the corner pixel centres instead. Those are not used here.
"""

import torch


def image_to_heatmap(points: torch.Tensor, stride: float) -> torch.Tensor:
    """Input pixels to heatmap cells: ``u = x / stride``; any shape, coordinates in the last dimension.

    Examples:
        >>> image_to_heatmap(torch.tensor([[10.0, 3.0]]), 4)
        tensor([[2.5000, 0.7500]])
    """
    return points / stride


def heatmap_to_image(cells: torch.Tensor, stride: float) -> torch.Tensor:
    """Heatmap cells to input pixels: ``x = u * stride``; the inverse of :func:`image_to_heatmap`."""
    return cells * stride


def flat_index(cells: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Row-major index into a flattened map of ``size`` for integer cells ``(..., d)`` in (x, y, z) order.

    Examples:
        >>> flat_index(torch.tensor([[2, 1]]), (3, 4))  # x=2, y=1 in a 3x4 map
        tensor([6])
    """
    index = torch.zeros(cells.shape[:-1], dtype=torch.long, device=cells.device)
    step = 1
    for axis in range(cells.shape[-1]):
        index = index + cells[..., axis].long() * step
        step *= size[-(axis + 1)]
    return index


def unravel_index(index: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Integer cells ``(..., d)`` in (x, y, z) order of row-major flat indices; inverse of :func:`flat_index`.

    Examples:
        >>> unravel_index(torch.tensor([6]), (3, 4))
        tensor([[2, 1]])
    """
    cells = []
    for axis in range(len(size)):
        extent = size[-(axis + 1)]
        cells.append(index % extent)
        index = torch.div(index, extent, rounding_mode="floor")
    return torch.stack(cells, dim=-1)


def inside(cells: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Whether integer cells ``(..., d)`` lie in a map of ``size``; returns ``(...)`` bool."""
    extent = torch.tensor(size[::-1], device=cells.device)
    return ((cells >= 0) & (cells < extent)).all(dim=-1)


def cell_grid(size: tuple[int, ...], device: torch.device | None = None, dtype=torch.float32) -> list[torch.Tensor]:
    """Cell coordinates along each axis in (x, y, z) order: ``[arange(W), arange(H), ...]``."""
    return [torch.arange(size[-(axis + 1)], device=device, dtype=dtype) for axis in range(len(size))]
