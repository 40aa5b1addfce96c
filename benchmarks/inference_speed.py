"""Landmark inference speed: PyTorch eager versus ONNX Runtime, per face and per batch, CPU.

Each network runs with the paper's decoder (top-k softmax) in the same graph, 98 landmarks, binary head,
random weights (speed does not depend on them), flip test off (it doubles the work). Crop extraction and
face detection are not included. Latency is batch 1 (ms per face); throughput is batch 32 (faces per
second). PyTorch runs eagerly under ``inference_mode``, on contiguous ("torch") and channels-last tensors;
ONNX Runtime runs the graph ``h3r export onnx`` writes (CPU provider), with as many intra-op threads as
PyTorch. A time is the median of ``torch.utils.benchmark`` blocked runs, measured in several rounds
(``--rounds``), of which the lowest is shown; the JSON file keeps them all. On a machine shared with other
processes, use fewer threads than cores: PyTorch's OpenMP threads wait for each other, and a pass can take
100 times longer while another process holds a core.

Run: python benchmarks/inference_speed.py [--threads 2] [--rounds 3] [--min-run-time 1] [--json FILE]
"""

import argparse
import copy
import json
import os
import tempfile
from pathlib import Path

import onnxruntime
import torch
from rich.console import Console
from rich.table import Table
from torch.utils.benchmark import Timer

from h3r.codecs import H3RCodec
from h3r.inference.network import DecodingNetwork
from h3r.inference.onnx import OnnxRunner, export_onnx
from h3r.models import build_model, count_macs, count_parameters
from h3r.utils.malloc import tune_allocator
from machine import describe_machine

LANDMARKS, LATENCY_BATCH, THROUGHPUT_BATCH = 98, 1, 32
NETWORKS = (("MobileNetV2", "mobilenetv2", 128), ("MobileNetV2", "mobilenetv2", 256), ("HRNet-W18", "hrnet_w18", 256))
SETTINGS = {"crop_scale": 1.25, "flip": False, "flip_permutation": list(range(LANDMARKS)),
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def median_seconds(run, crops: torch.Tensor, threads: int, min_run_time: float) -> float:
    """Median seconds ``run(crops)`` takes over blocked runs of ``min_run_time`` seconds in all."""
    timer = Timer(stmt="run(crops)", globals={"run": run, "crops": crops}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def runtimes(network: DecodingNetwork, folder: Path, name: str, threads: int) -> dict:
    """Runtime name -> (callable on crops (N, 3, S, S), memory format of those crops)."""
    channels_last = copy.deepcopy(network).to(memory_format=torch.channels_last)
    runner = OnnxRunner(export_onnx(network, folder / f"{name}.onnx", metadata=SETTINGS), threads=threads)
    return {
        "torch": (in_inference_mode(network), torch.contiguous_format),
        "torch channels-last": (in_inference_mode(channels_last), torch.channels_last),
        "onnxruntime": (runner, torch.contiguous_format),
    }


def in_inference_mode(network: DecodingNetwork):
    """``network`` as a function run under ``torch.inference_mode``."""

    @torch.inference_mode()
    def run(crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return network(crops)

    return run


def benchmark_network(label: str, backbone: str, size: int, folder: Path, args: argparse.Namespace) -> list[dict]:
    """One row per runtime: size, cost, batch-1 latency and batch-32 throughput of one network.

    Every runtime and batch is timed once per round, rounds in turn, so that a burst of load from other
    processes hits one round of each rather than all rounds of one; a row keeps every round's median
    (``*_medians_s``) and, as its time (``*_s``), the lowest.
    """
    torch.manual_seed(0)
    model = build_model(backbone, num_landmarks=LANDMARKS, head="binary").eval()
    network = DecodingNetwork(model, H3RCodec(input_size=size, stride=4, topk=9)).eval()
    cost = {"network": label, "input_size": size, "parameters": count_parameters(model),
            "macs": count_macs(model, size)}
    candidates = runtimes(network, folder, f"{backbone}_{size}", args.threads)
    batches = {"latency": LATENCY_BATCH, "throughput": THROUGHPUT_BATCH}
    medians = {(runtime, key): [] for runtime in candidates for key in batches}
    for _ in range(args.rounds):
        for (runtime, key), times in medians.items():
            run, memory_format = candidates[runtime]
            crops = torch.randn(batches[key], 3, size, size).contiguous(memory_format=memory_format)
            times.append(median_seconds(run, crops, args.threads, args.min_run_time))
    rows = []
    for runtime in candidates:
        row = {**cost, "runtime": runtime}
        for key, batch in batches.items():
            row |= {f"{key}_batch": batch, f"{key}_s": min(medians[runtime, key]),
                    f"{key}_medians_s": medians[runtime, key]}
        rows.append(row)
    return rows


def table(rows: list[dict], threads: int) -> Table:
    result = Table(title=f"Landmark inference, CPU, {threads} thread(s), {LANDMARKS} landmarks, decoding included, "
                         "flip test off (best of per-round medians)")
    for column in ("network", "params", "MACs", "runtime", "batch 1\nms/face", f"batch {THROUGHPUT_BATCH}\nms/face",
                   f"batch {THROUGHPUT_BATCH}\nfaces/s"):
        result.add_column(column, justify="left" if column in ("network", "runtime") else "right")
    for row in rows:
        per_face = row["throughput_s"] / row["throughput_batch"]
        result.add_row(f"{row['network']} {row['input_size']}²", f"{row['parameters'] / 1e6:.2f} M",
                       f"{row['macs'] / 1e9:.2f} G", row["runtime"], f"{row['latency_s'] * 1e3:.1f}",
                       f"{per_face * 1e3:.1f}", f"{1 / per_face:,.0f}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="intra-op threads of both PyTorch and ONNX Runtime (default: all cores)")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="seconds of timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements of each runtime and batch; the best counts")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    tune_allocator()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for label, backbone, size in NETWORKS:
            rows += benchmark_network(label, backbone, size, Path(folder), args)
    machine = (f"{describe_machine()}, onnxruntime {onnxruntime.__version__} ({args.threads} intra-op threads); "
               f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    console = Console()
    console.print(table(rows, args.threads))
    console.print(f"machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "threads": args.threads, "rows": rows}, indent=2) + "\n")
        console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
