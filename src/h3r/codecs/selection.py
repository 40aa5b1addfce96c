"""The highest cells of heatmaps, exactly, reading each map once.

Order: cells by value, highest first; equal values by row-major flat index, lowest first; NaN above every
number, as ``torch.sort`` places it. ``torch.topk`` leaves the order of equal values open, and ``topk`` and
``argmax`` over whole maps cost several reads of them on a CPU (``docs/results/decode_speed.txt``).

Rows bound their cells: a cell is at most its row's maximum, so reading the row maxima, the one pass over
every cell, tells where the highest cells can be. Three ways use them, each taking the maps the one before
leaves undecided:

1. Around the peak. The top ``k`` of a small window centred on the highest cell is the map's when every cell
   outside the window, bounded by the row maxima and by the column maxima of the window's rows, is below the
   ``k``-th, and the window's values fall strictly. So it is around the peak of a trained network's map.
2. Rows, then columns. Let ``v`` be the ``k``-th highest value of a map and ``t`` the ``k``-th highest row
   maximum; the ``k`` best rows hold ``k`` cells of ``t`` or more, so ``v >= t``. If ``v > t``, or if the
   next row maximum is below ``t``, every cell of value ``v`` or more lies in the ``k`` rows whose maxima
   are the highest, whichever of equal maxima ``topk`` keeps. The same holds for the columns of those rows,
   which leaves at most ``k x k`` candidates. In any case they hold ``v`` as their ``k``-th highest value
   and every cell above it.
3. Equal values. Where they decide which cells are kept (at the end of the top ``k``, or on a cut ``v``
   falls on), the first cells equal to ``v`` in row-major order are looked for in the first ``2k - 1`` rows
   whose maximum reaches ``v``: fewer than ``k`` rows hold a cell above ``v``, and every other such row holds
   a cell equal to it.

Symbols: ``N`` samples, ``K`` landmarks; maps are ``(N, K, *size)`` with ``size = (H, W)`` or ``(D, H, W)``.
"""

import math

import torch

from h3r.codecs.coords import unravel_index


def topk_cells(heatmaps: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest cells of each map, in the order of this module.

    While tracing (ONNX export) this is one ``topk`` over each map: ONNX's TopK orders equal values by the
    lower index too.

    Args:
        heatmaps: (N, K, *size) float maps.
        k: cells per map, from 1 to ``prod(size)``.

    Returns:
        values: (N, K, k), highest first; index: (N, K, k) long, row-major flat indices into ``size``.

    Examples:
        >>> topk_cells(torch.tensor([[[[1.0, 3.0], [3.0, 2.0]]]]), 3)
        (tensor([[[3., 3., 2.]]]), tensor([[[1, 2, 3]]]))
    """
    if torch.jit.is_tracing():
        return heatmaps.flatten(2).topk(k)
    cells = math.prod(heatmaps.shape[2:])
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= cells:
        raise ValueError(f"k must be an int in [1, {cells}] (the cells of a map), got {k!r}")
    maps = _rows(heatmaps)
    row_maxima = maps.amax(-1)  # (N, K, rows): the one read of every cell
    values, index, certain = _topk_in_peak_windows(maps, row_maxima, k)
    if not certain.all():
        rest = ~certain
        which = rest.flatten().nonzero().squeeze(-1)
        values[rest], index[rest] = _topk_of_rows_and_columns(maps, row_maxima[rest], which, k)
    return values, index


def argmax_cells(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The highest cell of each map, the first in row-major order among equal ones (NaN above all).

    Reads each map once for its row maxima, then the best row again; while tracing (ONNX export), one
    ``max`` over each map.

    Args:
        heatmaps: (N, K, *size) float maps.

    Returns:
        cells: (N, K, d) long, (x, y[, z]); values: (N, K).
    """
    size = tuple(heatmaps.shape[2:])
    if torch.jit.is_tracing():  # one ArgMax per map in the ONNX graph, which takes the first too
        values, index = heatmaps.flatten(2).max(-1)
        return unravel_index(index, size), values
    maps = _rows(heatmaps)
    values, row = maps.amax(-1).max(-1)  # the first row holding the maximum
    every_map = torch.arange(row.numel(), device=row.device)
    column = _select_rows(maps, every_map, row.view(-1, 1)).view(*row.shape, -1).argmax(-1)
    return unravel_index(row * maps.shape[-1] + column, size), values


def _rows(heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K, *size) maps as (N, K, rows, W): a 3-D map's rows are its (depth, row) pairs."""
    return heatmaps.reshape(*heatmaps.shape[:2], -1, heatmaps.shape[-1])


def _topk_in_peak_windows(
    maps: torch.Tensor, row_maxima: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top ``k`` of the cells around each map's highest cell, and whether that is the map's top ``k``.

    The window spans ``2 (ceil(sqrt(k)) // 2 + 1) + 1`` rows and columns (5 x 5 for k = 9), centred on the
    highest cell and moved inside the map. Its top ``k`` is the map's, in order, where its values fall
    strictly down to the ``k + 1``-th and every cell outside it is below the ``k``-th.

    Args:
        maps: (N, K, rows, W); row_maxima: (N, K, rows).

    Returns:
        values, index: (N, K, k); certain: (N, K) bool, where they are the map's top ``k``.
    """
    batch, landmarks, height, width = maps.shape
    side = 2 * (math.ceil(math.sqrt(k)) // 2 + 1) + 1
    window_rows, above_other_rows = _window(row_maxima, min(side, height))  # (N, K, r), (N, K)
    every_map = torch.arange(batch * landmarks, device=maps.device)
    rows = _select_rows(maps, every_map, window_rows.flatten(0, 1)).view(*window_rows.shape, width)
    window_columns, above_other_columns = _window(rows.amax(-2), min(side, width))  # (N, K, c), (N, K)
    values = rows.gather(-1, window_columns.unsqueeze(-2).expand(*window_rows.shape, -1)).flatten(2)
    if values.shape[-1] <= k:  # maps too small for a window with cells beside the top k
        nowhere = torch.zeros(batch, landmarks, dtype=torch.bool, device=maps.device)
        return values.new_empty(batch, landmarks, k), window_rows.new_empty(batch, landmarks, k), nowhere
    index = (window_rows.unsqueeze(-1) * width + window_columns.unsqueeze(-2)).flatten(2)  # (N, K, r * c)
    best, order = values.topk(k + 1)
    outside = torch.maximum(above_other_rows, above_other_columns)
    certain = (best[..., :-1] > best[..., 1:]).all(-1) & (best[..., k - 1] > outside)
    return best[..., :k], index.gather(-1, order[..., :k]), certain


def _window(maxima: torch.Tensor, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``side`` consecutive indices (N, K, side) centred on the highest of (N, K, L) maxima and moved inside
    ``[0, L)``, and (N, K) the highest of the maxima outside them (-inf if none)."""
    first = (maxima.max(-1, keepdim=True).indices - side // 2).clamp(0, maxima.shape[-1] - side)  # (N, K, 1)
    window = first + torch.arange(side, device=maxima.device)
    return window, maxima.scatter(-1, window, -torch.inf).amax(-1)


def _topk_of_rows_and_columns(
    maps: torch.Tensor, row_maxima: torch.Tensor, which: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top ``k`` (M, k) of (N, K, rows, W) maps ``which`` (M,) flat map indices, from their (M, rows) row
    maxima, by the candidates of the rows and columns (see the module), ties and all."""
    candidates, candidate_index, cuts = _candidates(maps, row_maxima, which, k)  # (M, m), (M, 2)
    best, order = candidates.topk(min(k + 1, candidates.shape[-1]))
    values, index = best[..., :k], candidate_index.gather(-1, order[..., :k])
    kth = values[..., -1:]
    # Which cells equal to the k-th value are kept is open where it lies on a cut that topk made among equal
    # maxima, equals the next candidate, or is NaN; their order is open where the top k holds equal values.
    open_end = (kth == cuts).any(-1) | kth[..., 0].isnan()
    if best.shape[-1] > k:
        open_end |= ~(best[..., k - 1] > best[..., k])
    unordered = open_end | ~(values[..., :-1] > values[..., 1:]).all(-1)
    if unordered.any():
        values[unordered], index[unordered] = _in_order(values[unordered], index[unordered])
    if open_end.any():
        values[open_end], index[open_end] = _with_first_equal_cells(
            maps, row_maxima[open_end], which[open_end], values[open_end], index[open_end]
        )
    return values, index


def _candidates(
    maps: torch.Tensor, row_maxima: torch.Tensor, which: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cells of the ``k`` best columns of the ``k`` best rows (see the module).

    Args:
        maps: (N, K, rows, W) all maps; row_maxima: (M, rows) those of maps ``which`` (M,) flat indices.

    Returns:
        values: (M, m) with ``m = min(k, rows) * min(k, W)``; index: (M, m) flat; cuts: (M, 2), for the
        rows and then the columns, the value at which ``topk`` chose among equal maxima, else NaN.
    """
    width = maps.shape[-1]
    top_rows, row_cut = _top_indices(row_maxima, k)  # (M, kr)
    rows = _select_rows(maps, which, top_rows)  # (M, kr, W)
    top_columns, column_cut = _top_indices(rows.amax(-2), k)  # (M, kc)
    values = rows.gather(-1, top_columns.unsqueeze(-2).expand(*top_rows.shape, -1)).flatten(1)
    index = (top_rows.unsqueeze(-1) * width + top_columns.unsqueeze(-2)).flatten(1)
    return values, index, torch.stack([row_cut, column_cut], dim=-1)


def _top_indices(maxima: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the ``k`` highest of (M, L) maxima (all L when ``L <= k``), and (M,) the ``k``-th
    highest where the next one equals it (``topk`` chose among equal maxima there), else NaN."""
    length = maxima.shape[-1]
    if length <= k:
        every = torch.arange(length, device=maxima.device).expand(*maxima.shape[:-1], length)
        return every, torch.full(maxima.shape[:-1], torch.nan, dtype=maxima.dtype, device=maxima.device)
    values, index = maxima.topk(k + 1)
    kth = values[..., k - 1]
    return index[..., :k], torch.where(kth == values[..., k], kth, torch.nan)


def _in_order(values: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, k) cells in the order of this module: by index, then stably by value (NaN first, as here)."""
    by_index = index.argsort(-1)
    values, index = values.gather(-1, by_index), index.gather(-1, by_index)
    by_value = values.sort(dim=-1, descending=True, stable=True).indices
    return values.gather(-1, by_value), index.gather(-1, by_value)


def _with_first_equal_cells(
    maps: torch.Tensor, row_maxima: torch.Tensor, which: torch.Tensor, values: torch.Tensor, index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A top ``k`` (M, k) in order, with the right ``k``-th value ``v`` and cells above it, completed by the
    first cells equal to ``v`` in row-major order (see the module).

    Args:
        maps: (N, K, rows, W) all maps; row_maxima: (M, rows) those of maps ``which`` (M,) flat map indices.
    """
    k, width = values.shape[-1], maps.shape[-1]
    kth = values[:, -1:]  # (M, 1)
    above = _above(values, kth).sum(-1, keepdim=True)  # (M, 1): they lead ``values``
    reaching = (row_maxima >= kth) | row_maxima.isnan()  # (M, rows): a NaN row may hold v too
    row_numbers = torch.arange(row_maxima.shape[-1], 0, -1, device=maps.device)
    rows = torch.where(reaching, row_numbers, 0).topk(min(2 * k - 1, row_maxima.shape[-1])).indices  # (M, j)
    # the first reaching rows in order, then rows below v, which hold no cell equal to it
    equal = _same(_select_rows(maps, which, rows), kth.unsqueeze(-1)).flatten(1)  # (M, j * W)
    positions = -torch.arange(equal.shape[-1], device=maps.device, dtype=torch.float32)  # from the front
    first = torch.where(equal, positions, -torch.inf).topk(k).indices  # (M, k), in order
    first_index = rows.gather(-1, first // width) * width + first % width
    slot = torch.arange(k, device=maps.device)
    keep = slot < above
    return torch.where(keep, values, kth), torch.where(keep, index, first_index.gather(-1, (slot - above).clamp(min=0)))


def _above(values: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Whether ``values`` come before ``threshold`` in the order of this module (NaN above numbers)."""
    return (values > threshold) | (values.isnan() & ~threshold.isnan())


def _same(values: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Whether ``values`` equal ``threshold``, NaN equal to NaN."""
    same = values == threshold
    return same | (values.isnan() & threshold.isnan()) if threshold.isnan().any() else same


def _select_rows(maps: torch.Tensor, which: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Rows (M, j) long of (N, K, rows, W) maps ``which`` (M,) flat map indices: (M, j, W)."""
    landmarks, height, width = maps.shape[1:]
    if not maps.is_contiguous():  # e.g. one class of a binary head's output
        return maps[(which // landmarks).unsqueeze(-1), (which % landmarks).unsqueeze(-1), rows]
    # index_select copies whole rows, several times faster than indexing cell by cell
    flat_rows = rows + height * which.unsqueeze(-1)
    return maps.view(-1, width).index_select(0, flat_rows.flatten()).view(*rows.shape, width)
