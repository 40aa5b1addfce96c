"""Encode and decode throughput of every codec: 68 landmarks, 64x64 heatmaps, batch 32, CPU.

Run: python benchmarks/codec_throughput.py [--device cpu|cuda] [--threads N]
"""

import argparse

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.benchmark import Timer

from h3r.codecs import CODECS, build_codec
from h3r.utils.malloc import tune_allocator
from machine import describe_machine

BATCH, LANDMARKS, INPUT_SIZE, STRIDE = 32, 68, 256, 4


def measure(statement, **globals_) -> float:
    """Median seconds per call."""
    return Timer(stmt=statement, globals=globals_).blocked_autorange(min_run_time=1.0).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: immune to OpenMP stalls when other jobs share the cores)")
    args = parser.parse_args()
    tune_allocator()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    keypoints = 16 + torch.rand(BATCH, LANDMARKS, 2, device=device) * (INPUT_SIZE - 48)
    table = Table(title=f"Codec throughput, batch {BATCH} x {LANDMARKS} landmarks, "
                        f"{INPUT_SIZE // STRIDE}x{INPUT_SIZE // STRIDE} heatmaps, {device}")
    for column in ("codec", "encode (ms/batch)", "encode (faces/s)", "decode (ms/batch)", "decode (faces/s)"):
        table.add_column(column, justify="left" if column == "codec" else "right")
    for name in CODECS:
        codec = build_codec(name, input_size=INPUT_SIZE, stride=STRIDE)
        heatmaps = codec.ideal_heatmaps(keypoints) + 0.01 * torch.rand(BATCH, LANDMARKS, 64, 64, device=device)
        encode = measure("codec.encode(keypoints)", codec=codec, keypoints=keypoints)
        decode = measure("codec.decode(heatmaps)", codec=codec, heatmaps=heatmaps)
        table.add_row(name, f"{encode * 1e3:.2f}", f"{BATCH / encode:,.0f}", f"{decode * 1e3:.2f}",
                      f"{BATCH / decode:,.0f}")
    console = Console()
    console.print(table)
    console.print(f"machine: {describe_machine()}")


if __name__ == "__main__":
    main()
