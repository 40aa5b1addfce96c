"""Decoding near the floor: each codec's decoder against one read of its heatmaps and against mmpose's.

The heatmaps are what a trained network outputs: Gaussian peaks of sigma 2 cells (peak 1) at random
sub-pixel positions, plus uniform noise of 0.05; float32, 64 x 64 cells, batches of 32 x 68 (faces) and
64 x 98 (mmpose's earlier measurement). Every decoder gets the same maps; mmpose's decode one sample at a time
from numpy arrays, as mmpose runs them, converted outside the timing.

Rows: one read (``amax`` over every cell, the floor); ``torch.topk`` (k = 9) and ``torch.max`` over each
whole map, the selections the decoders used before; the h3r decoder as it was (one ``torch.topk`` per map,
then the same weighted mean) and as it is, without and with ``Codec.decode``'s input check (``DecodingNetwork``
and the ONNX export skip it); the argmax codecs and DARK; mmpose 1.x's ``MSRAHeatmap``, ``MSRAHeatmap(unbiased=True)``
(DARK) and ``UDPHeatmap`` decoders.

Two more h3r rows show the maps it decodes more slowly, where no window around the peak holds the top 9:
pure noise (an untrained network), and the ideal maps of ``ideal_heatmaps`` (four cells above a flat
background, so the 9th value is shared by thousands of cells).

Timing, one thread: the CPU time of the benchmark's thread (``time.thread_time``), since on a machine shared
with other jobs the wall time mostly measures the wait for a core. Every row runs in turn in each of
``--rounds`` rounds, each for ``--min-time`` seconds of CPU time, so that a change of load (which still
slows memory) hits all rows alike. A row's time is its median over the rounds; its ratios are medians over
the rounds of the ratio within the round.

mmpose is never a dependency of h3r. ``--install-mmpose`` puts its codecs into ``benchmarks/.mmpose``
(ignored by git): ``pip install --no-deps --target benchmarks/.mmpose mmengine mmcv-lite mmpose addict yapf
termcolor json-tricks munkres platformdirs`` (yapf needs platformdirs); the codecs run without mmcv's compiled
ops, on the torch, numpy and OpenCV that h3r installs. Without that folder the mmpose rows are skipped.

Run: python benchmarks/decode_speed.py [--install-mmpose] [--rounds 5] [--min-time 0.3]
                                      [--batches 32x68,64x98] [--out docs/results/decode_speed]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from h3r.codecs import build_codec
from h3r.codecs.coords import heatmap_to_image
from h3r.codecs.functional import cell_expectation, render_gaussians
from h3r.codecs.selection import argmax_cells
from h3r.utils.malloc import tune_allocator
from machine import describe_machine

MMPOSE_FOLDER = Path(__file__).resolve().parent / ".mmpose"
MMPOSE_PACKAGES = ["mmengine", "mmcv-lite", "mmpose", "addict", "yapf", "termcolor", "json-tricks", "munkres",
                   "platformdirs"]
BATCHES = ((32, 68), (64, 98))
INPUT_SIZE, STRIDE, TOPK = 256, 4, 9
FLOOR = "one read (amax)"


def heatmaps(batch: int, landmarks: int, generator: torch.Generator) -> torch.Tensor:
    """(N, K, 64, 64) Gaussian peaks (sigma 2 cells, peak 1) at random sub-pixel cells, plus noise of 0.05."""
    side = INPUT_SIZE // STRIDE
    centres = 4 + torch.rand(batch, landmarks, 2, generator=generator) * (side - 9)
    noise = 0.05 * torch.rand(batch, landmarks, side, side, generator=generator)
    return render_gaussians(centres, (side, side), 2.0) + noise


def ours(maps: torch.Tensor, generator: torch.Generator) -> dict[str, Callable[[], object]]:
    """Row name -> call, for torch and h3r on ``maps``, and h3r on maps without a clear peak."""
    codec = {name: build_codec(name, input_size=INPUT_SIZE, stride=STRIDE)
             for name in ("h3r", "vanilla-round", "quarter-offset", "dark")}
    flat = maps.flatten(2)
    size = tuple(maps.shape[2:])
    noise = torch.rand(maps.shape, generator=generator)
    centres = torch.rand(*maps.shape[:2], 2, generator=generator) * (size[-1] - 1) * STRIDE
    ideal = build_codec("h3r", input_size=INPUT_SIZE, stride=STRIDE, expected=True).ideal_heatmaps(centres)

    def h3r_before():
        values, index = flat.topk(TOPK)
        return heatmap_to_image(cell_expectation(values, index, size), STRIDE), values[..., 0]

    return {
        FLOOR: lambda: maps.amax((2, 3)),
        "torch.topk, k = 9": lambda: flat.topk(TOPK),
        "torch.max with indices": lambda: flat.max(-1),
        "h3r decode before (torch.topk)": h3r_before,
        "h3r decode": lambda: codec["h3r"].decode(maps, check=False),
        "h3r decode, input checked": lambda: codec["h3r"].decode(maps),
        "h3r decode, noise maps": lambda: codec["h3r"].decode(noise, check=False),
        "h3r decode, ideal maps": lambda: codec["h3r"].decode(ideal, check=False),
        "argmax cells": lambda: argmax_cells(maps),
        "vanilla-round decode (argmax)": lambda: codec["vanilla-round"].decode(maps, check=False),
        "quarter-offset decode": lambda: codec["quarter-offset"].decode(maps, check=False),
        "dark decode": lambda: codec["dark"].decode(maps, check=False),
    }


def mmpose_rows(maps: torch.Tensor) -> tuple[dict[str, Callable[[], object]], str | None]:
    """mmpose's decoders on ``maps`` one sample at a time, or no rows and why."""
    if not MMPOSE_FOLDER.is_dir():
        return {}, f"mmpose not installed: run with --install-mmpose (puts it in {MMPOSE_FOLDER})"
    sys.path.insert(0, str(MMPOSE_FOLDER))
    import cv2
    from mmpose.codecs import MSRAHeatmap, UDPHeatmap

    cv2.setNumThreads(1)
    sizes = {"input_size": (INPUT_SIZE, INPUT_SIZE), "heatmap_size": tuple(maps.shape[:1:-1]), "sigma": 2.0}
    decoders = {"mmpose MSRA": MSRAHeatmap(**sizes), "mmpose DARK": MSRAHeatmap(**sizes, unbiased=True),
                "mmpose UDP": UDPHeatmap(**sizes)}
    samples = list(maps.numpy())
    return {name: (lambda decoder=decoder: [decoder.decode(sample) for sample in samples])
            for name, decoder in decoders.items()}, None


def install_mmpose() -> None:
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(MMPOSE_FOLDER), *MMPOSE_PACKAGES]
    print(" ".join(command))
    subprocess.run(command, check=True)


def seconds_per_call(call: Callable[[], object], min_time: float) -> float:
    """Mean CPU seconds of this thread per call, over calls that take ``min_time`` of them (at least one)."""
    calls, start = 0, time.thread_time()
    while True:
        call()
        calls += 1
        elapsed = time.thread_time() - start
        if elapsed >= min_time:
            return elapsed / calls


def measure(rows: dict[str, Callable[[], object]], rounds: int, min_time: float) -> dict[str, list[float]]:
    """Row name -> seconds per call in each round; every round runs every row in turn."""
    for call in rows.values():  # warm up: allocator, lazy imports
        call()
    times = {name: [] for name in rows}
    for _ in range(rounds):
        for name, call in rows.items():
            times[name].append(seconds_per_call(call, min_time))
    return times


def summary(times: dict[str, list[float]]) -> dict[str, dict[str, float | None]]:
    """Row name -> median ms, median ratio to one read, median speed-up over mmpose MSRA (if measured)."""
    def ratio(numerator: list[float], denominator: list[float]) -> float:
        return statistics.median(a / b for a, b in zip(numerator, denominator))

    msra = times.get("mmpose MSRA")
    return {name: {"ms": statistics.median(row) * 1e3, "reads": ratio(row, times[FLOOR]),
                   "faster_than_mmpose_msra": ratio(msra, row) if msra else None} for name, row in times.items()}


def table(batch: int, landmarks: int, rows: dict[str, dict], skipped: str | None) -> Table:
    side = INPUT_SIZE // STRIDE
    result = Table(title=f"Decoding {batch} x {landmarks} heatmaps of {side} x {side}, float32, 1 thread, CPU "
                         "time (medians over rounds)")
    for column in ("decoder", "ms", "x one read", "x faster than mmpose MSRA"):
        result.add_column(column, justify="left" if column == "decoder" else "right")
    for name, row in rows.items():
        faster = row["faster_than_mmpose_msra"]
        result.add_row(name, f"{row['ms']:.2f}", f"{row['reads']:.1f}", "" if faster is None else f"{faster:.1f}")
    if skipped:
        result.add_row("mmpose MSRA, DARK, UDP", "skipped", "", "")
        result.caption = skipped
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--install-mmpose", action="store_true",
                        help=f"pip install mmpose's codecs into {MMPOSE_FOLDER}")
    parser.add_argument("--rounds", type=int, default=5, help="times every row is measured, in turn")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of calls per row and round")
    parser.add_argument("--batches", default=",".join(f"{n}x{k}" for n, k in BATCHES),
                        help="batches as NxK, comma-separated")
    parser.add_argument("--out", type=Path, help="write the tables to OUT.txt and the numbers to OUT.json")
    args = parser.parse_args(argv)
    try:
        args.batches = [tuple(int(side) for side in batch.split("x")) for batch in args.batches.split(",")]
    except ValueError:
        parser.error(f"--batches must look like 32x68,64x98, got {args.batches!r}")
    if args.rounds < 1 or args.min_time <= 0 or any(len(batch) != 2 or min(batch) < 1 for batch in args.batches):
        parser.error("--rounds must be at least 1, --min-time positive, --batches pairs of positive sizes")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.install_mmpose:
        install_mmpose()
    tune_allocator()
    torch.set_num_threads(1)
    console = Console(record=True, width=110)
    results = []
    load = os.getloadavg()[0]
    for batch, landmarks in args.batches:
        generator = torch.Generator().manual_seed(0)
        maps = heatmaps(batch, landmarks, generator)
        theirs, skipped = mmpose_rows(maps)
        rows = summary(measure({**ours(maps, generator), **theirs}, args.rounds, args.min_time))
        console.print(table(batch, landmarks, rows, skipped))
        results.append({"batch": batch, "landmarks": landmarks, "rows": rows, "skipped": skipped})
    machine = f"{describe_machine()} (1-minute load {load:.1f} at the start)"
    console.print(f"machine: {machine}")
    if args.out:
        args.out.with_suffix(".txt").write_text(console.export_text())
        args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
        console.print(f"wrote {args.out.with_suffix('.txt')} and .json")


if __name__ == "__main__":
    main()
