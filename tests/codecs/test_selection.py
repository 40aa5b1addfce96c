"""Exact top-k and argmax of heatmap cells: the order of h3r.codecs.selection, ties, edge sizes and all."""

import numpy as np
import pytest
import torch

from h3r.codecs import H3RCodec, build_codec
from h3r.codecs.functional import cell_expectation, render_gaussians
from h3r.codecs.selection import _candidates, _rows, _topk_in_peak_windows, argmax_cells, topk_cells


def reference_topk(heatmaps: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The order by numpy's lexsort, independent of torch's sorts: NaN first, then value down, index up."""
    flat = heatmaps.flatten(2).double().numpy()  # (N, K, L)
    nan = np.isnan(flat)
    index = np.broadcast_to(np.arange(flat.shape[-1]), flat.shape)
    order = np.lexsort((index, -np.where(nan, 0, flat), ~nan), axis=-1)[..., :k]
    values = np.take_along_axis(heatmaps.flatten(2).numpy(), order, axis=-1)
    return torch.from_numpy(values), torch.from_numpy(order)


def assert_same_selection(heatmaps: torch.Tensor, k: int) -> None:
    values, index = topk_cells(heatmaps, k)
    expected_values, expected_index = reference_topk(heatmaps, k)
    assert torch.equal(index, expected_index)
    torch.testing.assert_close(values, expected_values, rtol=0, atol=0, equal_nan=True)


def tie_heavy_maps(shape: tuple[int, ...], levels: int, seed: int) -> torch.Tensor:
    """Maps of ``levels`` integer values: equal values everywhere, often across the k-th place."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, levels, shape, generator=generator).float()


@pytest.mark.parametrize("size", [(64, 64), (17, 23), (4, 6, 5)])
@pytest.mark.parametrize("k", [1, 9, 30])
def test_matches_the_reference_on_random_maps(size, k, device):
    heatmaps = torch.randn(3, 4, *size, generator=torch.Generator().manual_seed(k))
    values, index = topk_cells(heatmaps.to(device), k)
    expected_values, expected_index = reference_topk(heatmaps, k)
    assert torch.equal(index.cpu(), expected_index) and torch.equal(values.cpu(), expected_values)


@pytest.mark.parametrize("levels", [2, 3, 8, 40])
def test_ties_are_broken_by_the_lower_flat_index(levels):
    heatmaps = tie_heavy_maps((6, 8, 16, 12), levels, seed=levels)
    heatmaps[0] = 1.5  # constant maps
    for k in (1, 9, 20):
        assert_same_selection(heatmaps, k)


def decided_around_peaks(heatmaps: torch.Tensor) -> torch.Tensor:
    """(N, K) maps whose top 9 the window around the peak decides, after checking them against the reference."""
    maps = _rows(heatmaps)
    values, index, certain = _topk_in_peak_windows(maps, maps.amax(-1), 9)
    expected_values, expected_index = reference_topk(heatmaps, 9)
    assert torch.equal(index[certain], expected_index[certain])
    assert torch.equal(values[certain], expected_values[certain])
    return certain


def test_the_window_around_the_peak_decides_exactly_and_wherever_maps_peak():
    generator = torch.Generator().manual_seed(12)
    centres = torch.rand(8, 20, 2, generator=generator) * 31  # borders and corners included
    peaks = render_gaussians(centres, (32, 32), 2.0) + 0.05 * torch.rand(8, 20, 32, 32, generator=generator)
    assert decided_around_peaks(peaks).all()
    rounded = torch.randn(8, 20, 32, 32, generator=generator).mul(30).round()
    assert not decided_around_peaks(rounded).all()
    assert not decided_around_peaks(torch.randn(8, 20, 32, 32, generator=generator)).any()


def test_the_candidates_hold_the_kth_value_and_every_cell_above_it():
    """What the exact result rests on, whatever topk chose among equal row or column maxima."""
    for heatmaps in (tie_heavy_maps((20, 10, 16, 16), 6, seed=1), torch.randn(20, 10, 16, 16).mul(30).round()):
        maps = _rows(heatmaps)
        every_map = torch.arange(200)
        candidates, _, _ = _candidates(maps, maps.amax(-1).flatten(0, 1), every_map, 9)  # (200, m)
        expected, _ = reference_topk(heatmaps, 9)
        kth = expected.flatten(0, 1)[:, -1:]
        assert torch.equal(candidates.topk(9).values[:, -1:], kth)
        assert torch.equal((candidates > kth).sum(-1), (heatmaps.flatten(0, 1).flatten(1) > kth).sum(-1))


@pytest.mark.parametrize(
    "size, k",
    [((3, 3), 9), ((1, 20), 9), ((20, 1), 9), ((2, 7), 9), ((2, 7), 14), ((9, 9), 81), ((10, 10), 1), ((5, 5), 25)],
)
def test_maps_with_fewer_rows_or_columns_than_k(size, k):
    assert_same_selection(torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(k)), k)
    assert_same_selection(tie_heavy_maps((2, 3, *size), 3, seed=k), k)


def test_infinities_and_nan():
    heatmaps = torch.randn(1, 5, 12, 12, generator=torch.Generator().manual_seed(3))
    heatmaps[0, 0, 2:5, 3:9] = float("inf")
    heatmaps[0, 1] = float("-inf")
    heatmaps[0, 1, 7, 7] = 0.0
    heatmaps[0, 2, 0, :4] = float("-inf")
    heatmaps[0, 3, [1, 5, 9], [2, 2, 11]] = float("nan")  # NaN sorts first, in index order
    heatmaps[0, 4].view(-1)[::5] = float("nan")
    for k in (1, 4, 9, 144):
        assert_same_selection(heatmaps, k)
    cells, values = argmax_cells(heatmaps)
    expected_values, expected_index = reference_topk(heatmaps, 1)
    assert (cells[..., 1] * 12 + cells[..., 0]).tolist() == expected_index[..., 0].tolist()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_float_types(dtype):
    heatmaps = tie_heavy_maps((3, 5, 12, 10), 7, seed=8).to(dtype)
    heatmaps[0, 0] = torch.randn(12, 10).to(dtype)
    values, index = topk_cells(heatmaps, 9)
    expected_values, expected_index = reference_topk(heatmaps.float(), 9)
    assert values.dtype == dtype and torch.equal(index, expected_index)
    assert torch.equal(values.float(), expected_values)


def test_negative_zero_equals_zero():
    heatmaps = torch.zeros(2, 3, 8, 8)
    heatmaps.view(-1)[::3] = -0.0
    heatmaps[1, :, 4, 4] = 1.0
    assert_same_selection(heatmaps, 9)


def test_plateaus_of_ideal_maps():
    """Ideal logits: a few cells above a flat background, with and without a little noise on it."""
    codec = H3RCodec(input_size=128, stride=4, expected=True)
    keypoints = 8 + torch.rand(6, 20, 2, generator=torch.Generator().manual_seed(9)) * 110
    logits = codec.ideal_heatmaps(keypoints).clamp(min=1e-12).log()
    noise = 0.01 * torch.rand(logits.shape, generator=torch.Generator().manual_seed(10))
    for heatmaps in (logits, logits + noise):
        assert_same_selection(heatmaps, 9)


def test_random_ties_of_every_kind():
    generator = torch.Generator().manual_seed(11)
    for trial in range(30):
        size = tuple(torch.randint(1, 14, (int(torch.randint(2, 4, (1,), generator=generator)),), generator=generator))
        cells = int(torch.tensor(size).prod())
        heatmaps = tie_heavy_maps((2, 3, *size), int(torch.randint(1, 30, (1,), generator=generator)), seed=trial)
        special = torch.rand(heatmaps.shape, generator=generator)
        heatmaps[special < 0.03] = float("nan")
        heatmaps[special > 0.97] = float("inf")
        heatmaps[(special > 0.5) & (special < 0.53)] = float("-inf")
        for k in {1, min(9, cells), cells}:
            assert_same_selection(heatmaps, k)


def test_a_view_of_a_larger_output_gives_the_same_cells():
    output = torch.randn(3, 2, 5, 20, 20, generator=torch.Generator().manual_seed(4))
    foreground = output[:, 1]  # as a binary head's decoding reads it
    assert not foreground.is_contiguous()
    for got, expected in zip(topk_cells(foreground, 9), topk_cells(foreground.contiguous(), 9)):
        assert torch.equal(got, expected)
    for got, expected in zip(argmax_cells(foreground), argmax_cells(foreground.contiguous())):
        assert torch.equal(got, expected)


@pytest.mark.parametrize("k", [0, 101, True, 2.0])
def test_k_must_be_a_count_of_cells(k):
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 100\]"):
        topk_cells(torch.zeros(1, 1, 10, 10), k)


@pytest.mark.parametrize("levels", [2, 5, 1000])
def test_argmax_takes_the_first_highest_cell(levels, device):
    heatmaps = tie_heavy_maps((4, 6, 13, 11), levels, seed=levels)
    cells, values = argmax_cells(heatmaps.to(device))
    expected_values, expected_index = heatmaps.flatten(2).max(-1)
    assert torch.equal(values.cpu(), expected_values)
    assert torch.equal((cells[..., 1] * 11 + cells[..., 0]).cpu(), expected_index)


def test_decoding_is_unchanged_where_no_values_are_equal():
    """Bit for bit: without ties the cells and their order are those of one torch.topk per map."""
    codec = H3RCodec(input_size=256, stride=4)
    heatmaps = torch.randn(8, 68, 64, 64, generator=torch.Generator().manual_seed(5))
    values, index = heatmaps.flatten(2).topk(9)
    previous = cell_expectation(values, index, (64, 64)) * codec.stride
    keypoints, scores = codec.decode(heatmaps)
    assert torch.equal(keypoints, previous) and torch.equal(scores, values[..., 0])


def exported_decoder(codec, example: torch.Tensor, path):
    """An ONNX Runtime session of ``codec.decode`` traced on ``example`` maps, with a dynamic batch axis."""
    onnxruntime = pytest.importorskip("onnxruntime")

    class Decoder(torch.nn.Module):
        def forward(self, heatmaps):
            return codec.decode(heatmaps, check=False)

    torch.onnx.export(Decoder(), (example,), path, dynamo=False, opset_version=17, input_names=["maps"],
                      output_names=["keypoints", "scores"], dynamic_axes={"maps": {0: "N"}})
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")  # as export_onnx
@pytest.mark.parametrize("name", ["h3r", "vanilla-round", "quarter-offset"])
def test_the_onnx_graph_breaks_ties_the_same_way_at_any_batch(name, tmp_path):
    onnx = pytest.importorskip("onnx")
    codec = build_codec(name, input_size=64, stride=4)
    session = exported_decoder(codec, tie_heavy_maps((2, 7, 16, 16), 4, seed=6), tmp_path / "decoder.onnx")
    expected_operator = "TopK" if name == "h3r" else "ArgMax"
    assert expected_operator in {node.op_type for node in onnx.load(tmp_path / "decoder.onnx").graph.node}
    heatmaps = tie_heavy_maps((5, 7, 16, 16), 3, seed=7)
    keypoints, _ = session.run(None, {"maps": heatmaps.numpy()})
    torch.testing.assert_close(torch.from_numpy(keypoints), codec.decode(heatmaps)[0], rtol=0, atol=1e-4)
