"""The math of heatmap encoding and decoding, as pure batched functions.

Symbols: ``N`` samples, ``K`` landmarks, ``d`` spatial dimensions (2 or 3), ``P`` points per landmark.
Coordinates are heatmap cells (``u = x / stride``, see :mod:`h3r.codecs.coords`), in (x, y[, z]) order;
maps are ``(N, K, *size)`` with ``size = (H, W)`` or ``(D, H, W)``. Every function works on any device.
"""

import itertools
import math

import torch

from h3r.codecs.coords import cell_grid, flat_index, inside, unravel_index
from h3r.codecs.selection import topk_cells


def randomized_round(cells: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Round each coordinate up with probability equal to its fractional part, independently per axis.

    ``E[randomized_round(u)] = u``: the unbiased quantization of the paper.

    Args:
        cells: (N, K, d) sub-pixel heatmap coordinates.
        generator: source of randomness; must live on ``cells.device``.

    Returns:
        (N, K, d) long: ``floor(u) + 1`` with probability ``frac(u)``, else ``floor(u)``.
    """
    lower = torch.floor(cells)
    draw = torch.rand(cells.shape, generator=generator, device=cells.device, dtype=cells.dtype)
    return (lower + (draw < cells - lower).to(cells.dtype)).long()


def bilinear_corners(cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``2**d`` integer neighbours of sub-pixel coordinates and their (multi)linear weights.

    Args:
        cells: (N, K, d) sub-pixel heatmap coordinates.

    Returns:
        corners: (N, K, 2**d, d) long; weights: (N, K, 2**d), summing to 1, the probabilities with which
        :func:`randomized_round` picks each corner.

    Examples:
        >>> corners, weights = bilinear_corners(torch.tensor([[[2.25, 1.0]]]))
        >>> corners[0, 0].tolist(), weights[0, 0].tolist()
        ([[2, 1], [3, 1], [2, 2], [3, 2]], [0.75, 0.25, 0.0, 0.0])
    """
    lower = torch.floor(cells)
    upper_weight = cells - lower
    ndim = cells.shape[-1]
    offsets = torch.tensor(
        [combo[::-1] for combo in itertools.product((0, 1), repeat=ndim)], device=cells.device
    )  # (2**d, d), x varies fastest
    corners = lower.long().unsqueeze(-2) + offsets  # (N, K, 2**d, d)
    weights = torch.where(offsets.bool(), upper_weight.unsqueeze(-2), 1 - upper_weight.unsqueeze(-2)).prod(-1)
    return corners, weights


def render_points(cells: torch.Tensor, values: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Maps that hold ``values`` at integer ``cells`` and zero elsewhere; cells outside the map are dropped.

    Args:
        cells: (N, K, P, d) long integer cells.
        values: (N, K, P) values to add at those cells.
        size: (H, W) or (D, H, W).

    Returns:
        (N, K, *size) maps, dtype of ``values``.
    """
    n, k = cells.shape[:2]
    maps = torch.zeros(n, k, math.prod(size), dtype=values.dtype, device=values.device)
    keep = inside(cells, size)
    index = flat_index(cells.clamp(min=0), size).masked_fill(~keep, 0)
    maps.scatter_add_(2, index, values * keep)
    return maps.view(n, k, *size)


def render_gaussians(centers: torch.Tensor, size: tuple[int, ...], sigma: float) -> torch.Tensor:
    """Unnormalised Gaussians ``exp(-|c - centre|^2 / (2 sigma^2))`` with peak 1 at the centre.

    Args:
        centers: (N, K, d) float heatmap coordinates; the maps take their dtype.
        size: (H, W) or (D, H, W).
        sigma: standard deviation in heatmap cells.

    Returns:
        (N, K, *size) float maps.
    """
    maps = None
    for axis, grid in enumerate(cell_grid(size, centers.device, centers.dtype)):
        profile = torch.exp(-((grid - centers[..., axis, None]) ** 2) / (2 * sigma**2))  # (N, K, extent)
        maps = profile if maps is None else profile.view(*profile.shape, *[1] * axis) * maps.unsqueeze(-axis - 1)
    return maps


def topk_expectation(heatmaps: torch.Tensor, k: int, normalize: str = "softmax") -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's decoder: the mean position of the ``k`` highest cells, weighted by their scores.

    The cells are those of :func:`~h3r.codecs.selection.topk_cells`: equal values are taken in row-major
    order.

    Args:
        heatmaps: (N, K, *size) scores.
        k: number of cells to average.
        normalize: see :func:`cell_expectation`.

    Returns:
        coordinates: (N, K, d) sub-pixel heatmap coordinates; scores: (N, K), the highest cell's value.
    """
    values, index = topk_cells(heatmaps, k)  # (N, K, k)
    return cell_expectation(values, index, tuple(heatmaps.shape[2:]), normalize), values[..., 0]


def cell_expectation(
    values: torch.Tensor, index: torch.Tensor, size: tuple[int, ...], normalize: str = "softmax"
) -> torch.Tensor:
    """The mean position of cells, weighted by their scores.

    Args:
        values: (N, K, P) scores of the cells.
        index: (N, K, P) long, their row-major flat indices into maps of ``size``.
        size: (H, W) or (D, H, W).
        normalize: ``"softmax"`` weights the cells by a softmax of their scores (logits, as the released
            models do); ``"sum"`` by the scores divided by their sum (probabilities; negative ones count as
            0, and an all-zero set falls back to equal weights).

    Returns:
        (N, K, d) sub-pixel heatmap coordinates.
    """
    if normalize == "softmax":
        weights = torch.softmax(values, dim=-1)
    elif normalize == "sum":
        positive = values.clamp(min=0)
        total = positive.sum(-1, keepdim=True)
        equal = 1.0 / values.shape[-1]
        weights = torch.where(total > 0, positive / total.clamp(min=torch.finfo(values.dtype).tiny), equal)
    else:
        raise ValueError(f"normalize must be 'softmax' or 'sum', got {normalize!r}")
    cells = unravel_index(index, size).to(values.dtype)  # (N, K, P, d)
    return (weights.unsqueeze(-1) * cells).sum(-2)


def _neighbour_values(heatmaps: torch.Tensor, cells: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Values at ``cells + offsets``, with positions clamped into the map (edge replication).

    Args:
        heatmaps: (N, K, *size); cells: (N, K, d) long; offsets: (P, d) long.

    Returns:
        (N, K, P) values.
    """
    size = tuple(heatmaps.shape[2:])
    extent = torch.tensor(size[::-1], device=cells.device)
    positions = torch.minimum((cells.unsqueeze(-2) + offsets).clamp(min=0), extent - 1)
    return heatmaps.flatten(2).gather(2, flat_index(positions, size))


def quarter_offset(heatmaps: torch.Tensor, cells: torch.Tensor) -> torch.Tensor:
    """Shift integer peaks a quarter cell towards the higher neighbour on each axis (SimpleBaseline, HRNet).

    A peak on the map's border is not shifted along that axis, and neither is one with equal neighbours.

    Args:
        heatmaps: (N, K, *size); cells: (N, K, d) long peaks.

    Returns:
        (N, K, d) float coordinates.
    """
    size = tuple(heatmaps.shape[2:])
    ndim = cells.shape[-1]
    steps = torch.eye(ndim, dtype=torch.long, device=cells.device)
    after = _neighbour_values(heatmaps, cells, steps)  # (N, K, d)
    before = _neighbour_values(heatmaps, cells, -steps)
    extent = torch.tensor(size[::-1], device=cells.device)
    interior = (cells > 0) & (cells < extent - 1)
    return cells.to(heatmaps.dtype) + 0.25 * torch.sign(after - before) * interior


def gaussian_kernel1d(sigma: float, radius: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Normalised (2 radius + 1,) Gaussian kernel."""
    grid = torch.arange(-radius, radius + 1, device=device, dtype=dtype)
    kernel = torch.exp(-(grid**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def gaussian_blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, K, H, W) maps, zero padding, radius ``ceil(3 sigma)``."""
    n, k, h, w = heatmaps.shape
    kernel = gaussian_kernel1d(sigma, math.ceil(3 * sigma), heatmaps.device, heatmaps.dtype)
    radius = kernel.numel() // 2
    maps = heatmaps.reshape(n * k, 1, h, w)
    maps = torch.nn.functional.conv2d(maps, kernel.view(1, 1, 1, -1), padding=(0, radius))
    maps = torch.nn.functional.conv2d(maps, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return maps.view(n, k, h, w)


def dark_refine(heatmaps: torch.Tensor, cells: torch.Tensor, sigma: float) -> torch.Tensor:
    """DARK decoding (Zhang et al., CVPR 2020): Gaussian modulation, then a second-order Taylor step.

    The map is blurred by a Gaussian of ``sigma`` (zero padding) and log-transformed; at the peak, the
    gradient and Hessian of the log map by central differences (edge replicated) give the sub-pixel
    maximum ``peak - H^-1 g``. Only the 5x5 neighbourhood of each peak is blurred, which equals blurring the
    whole map. The step is taken only where the Hessian is negative definite (a true maximum); DARK's
    rescaling of the blurred map to the original maximum is omitted because log-derivatives ignore scale.

    Args:
        heatmaps: (N, K, H, W) maps; cells: (N, K, 2) long peaks; sigma: target sigma in cells.

    Returns:
        (N, K, 2) float coordinates.
    """
    n, k, h, w = heatmaps.shape
    kernel = gaussian_kernel1d(sigma, math.ceil(3 * sigma), heatmaps.device, heatmaps.dtype)
    reach = kernel.numel() // 2 + 2
    side = 2 * reach + 1
    offsets = torch.arange(-reach, reach + 1, device=cells.device)
    window_offsets = torch.stack(torch.meshgrid(offsets, offsets, indexing="xy"), dim=-1).view(-1, 2)
    positions = cells.unsqueeze(-2) + window_offsets  # (N, K, side**2, 2)
    on_map = inside(positions, (h, w))
    index = flat_index(positions.clamp(min=0), (h, w)).masked_fill(~on_map, 0)
    window = heatmaps.flatten(2).gather(2, index) * on_map  # (N, K, side**2)
    window = window.view(n * k, 1, side, side)
    window = torch.nn.functional.conv2d(window, kernel.view(1, 1, 1, -1))
    blurred = torch.nn.functional.conv2d(window, kernel.view(1, 1, -1, 1)).view(n, k, 5, 5)  # [dy+2, dx+2]
    log_map = torch.log(blurred.clamp(min=1e-10))

    extent = torch.tensor([w, h], device=cells.device)

    def at(dx: int, dy: int) -> torch.Tensor:
        """Log-map values at peak + (dx, dy), edge replicated: (N, K)."""
        step = torch.tensor([dx, dy], device=cells.device)
        local = torch.minimum((cells + step).clamp(min=0), extent - 1) - cells + 2  # (N, K, 2) in [0, 4]
        rows = log_map.gather(2, local[..., 1, None, None].expand(n, k, 1, 5)).squeeze(2)  # (N, K, 5)
        return rows.gather(2, local[..., 0, None]).squeeze(2)

    gx = 0.5 * (at(1, 0) - at(-1, 0))
    gy = 0.5 * (at(0, 1) - at(0, -1))
    hxx = 0.25 * (at(2, 0) - 2 * at(0, 0) + at(-2, 0))
    hyy = 0.25 * (at(0, 2) - 2 * at(0, 0) + at(0, -2))
    hxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = hxx * hyy - hxy**2
    maximum = (hxx < 0) & (det > 0)
    safe_det = torch.where(maximum, det, torch.ones_like(det))
    step_x = -(hyy * gx - hxy * gy) / safe_det
    step_y = -(hxx * gy - hxy * gx) / safe_det
    return cells.to(heatmaps.dtype) + torch.stack([step_x, step_y], dim=-1) * maximum.unsqueeze(-1)


def soft_argmax(heatmaps: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Integral regression: the expected position under a softmax over the whole map; differentiable.

    Args:
        heatmaps: (N, K, *size) logits; beta: inverse temperature applied before the softmax.

    Returns:
        coordinates: (N, K, d) heatmap coordinates; scores: (N, K), the largest softmax probability.
    """
    size = tuple(heatmaps.shape[2:])
    probabilities = torch.softmax(beta * heatmaps.flatten(2), dim=-1).view(heatmaps.shape)
    coordinates = []
    for axis, grid in enumerate(cell_grid(size, heatmaps.device, heatmaps.dtype)):
        spatial_dims = [2 + i for i in range(len(size)) if i != len(size) - 1 - axis]
        marginal = probabilities.sum(dim=spatial_dims)  # (N, K, extent)
        coordinates.append((marginal * grid).sum(-1))
    return torch.stack(coordinates, dim=-1), probabilities.flatten(2).amax(-1)
