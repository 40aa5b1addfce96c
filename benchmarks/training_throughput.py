"""Training throughput at 128 px: images/s end to end against the network's own speed, on all cores.

Rows, all on the same config (default: ``configs/face68_imagenet_mobilenetv2_128.yaml``, the bundled
model's recipe with its full augmentation, batch 16, on the 300-W training subset's 1,811 faces):

- ``network alone``: forward, backward and Adam step of MobileNetV2 with the binary head on one batch
  held in memory, channels-last, one thread per process; one process, then one per core side by side
  (their sum is the ceiling of the whole machine).
- ``loader alone``: training samples (decode, crop, augmentation, target encoding) per second, one core.
- ``h3r train``, one epoch of the config in a fresh run folder, in several layouts of processes, threads
  and loader workers. The rate is the epoch's ``train_images_per_s`` from ``metrics.csv``: the training
  loop end to end (loading, augmentation, forward, backward, optimizer step), without validation.

Writes ``docs/results/training_throughput.{md,json}``. Measure on a quiet machine: every row wants the
cores to itself. Run from the project root:

    python benchmarks/training_throughput.py [--config CONFIG.yaml] [--shared ../shared]
"""

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "configs" / "face68_imagenet_mobilenetv2_128.yaml"
RESULTS = REPO / "docs" / "results"
BATCH = 16
TRAIN_LAYOUTS = {
    "1 process, 1 thread, loading in the training thread": ["trainer.threads=1", "data.workers=0"],
    "1 process, 1 thread, 1 loader worker": ["trainer.threads=1", "data.workers=1"],
    "1 process, 2 threads, loading in the training thread": ["trainer.threads=2", "data.workers=0"],
    "2 processes (trainer.devices=2), 1 thread each, loading in each": [
        "trainer.devices=2", "trainer.threads=1", "data.workers=0",
    ],
    "2 processes, 1 thread each, loading in each, bf16 autocast (trainer.precision=bf16-mixed)": [
        "trainer.devices=2", "trainer.threads=1", "data.workers=0", "trainer.precision=bf16-mixed",
    ],
}  # fmt: skip
"""Label → the config overrides of each ``h3r train`` row."""


def network_rate(steps: int) -> float:
    """Images/s of training steps on one batch held in memory (this process, one thread)."""
    import torch

    from h3r.models import build_model
    from h3r.utils.malloc import tune_allocator

    tune_allocator()
    torch.set_num_threads(1)
    model = build_model("mobilenetv2", num_landmarks=68).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.randn(BATCH, 3, 128, 128).contiguous(memory_format=torch.channels_last)
    targets = torch.zeros(BATCH, 68, 32, 32)
    targets[..., 16, 16] = 1

    def step() -> None:
        log_p = model(images).float().log_softmax(dim=1)
        loss = -(targets * log_p[:, 1] + (1 - targets) * log_p[:, 0]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH / (time.perf_counter() - start)


def network_rates(processes: int, steps: int) -> list[float]:
    """``network_rate`` of ``processes`` processes started together, one per core."""
    command = [sys.executable, __file__, "--network-only", str(steps)]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    return [float(child.communicate()[0]) for child in children]


def loader_rate(config_path: Path, shared: Path, samples: int) -> float:
    """Training samples/s of the config's training set (decode, crop, augmentation, encoding), one thread."""
    import torch

    from h3r.codecs import build_codec
    from h3r.data.training_set import FaceTrainingSet
    from h3r.engine.train import load_faces, readable_faces

    torch.set_num_threads(1)
    config = load_config(config_path, shared, [])
    train_faces, _ = load_faces(config)
    train_faces = readable_faces(train_faces, skip_bad=False)
    data = config.data
    codec = build_codec(config.codec.name, **config.codec_settings())
    dataset = FaceTrainingSet(train_faces, data.size, codec, data.crop_scale, config.augment, data.box, 0)
    for index in range(10):
        dataset[index]
    start = time.perf_counter()
    for index in range(samples):
        dataset[index % len(dataset)]
    return samples / (time.perf_counter() - start)


def load_config(config_path: Path, shared: Path, overrides: list[str]):
    from h3r.engine.config import load_config as load

    return load(config_path, [f"data.train=300w:{shared / 'data' / '300w-subset'}", *overrides])


def training_rate(config_path: Path, shared: Path, overrides: list[str]) -> float:
    """Training images/s of one epoch of ``h3r train`` with ``overrides`` in a fresh run folder."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            str(Path(sys.executable).parent / "h3r"), "train", str(config_path),
            f"data.train=300w:{shared / 'data' / '300w-subset'}", f"output_dir={folder}/run", "optim.epochs=1",
            "optim.warmup_epochs=0", "model.init=null", *overrides,
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        with open(Path(folder) / "run" / "metrics.csv") as metrics:
            (row,) = [row for row in csv.DictReader(metrics) if row.get("train_images_per_s")]
        return float(row["train_images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the training config measured")
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared", help="the shared data folder")
    parser.add_argument("--steps", type=int, default=20, help="timed steps of the network-alone rows")
    parser.add_argument("--samples", type=int, default=300, help="timed samples of the loader-alone row")
    parser.add_argument("--network-only", type=int, metavar="STEPS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.network_only:
        print(network_rate(args.network_only))
        return
    if not (args.shared / "data" / "300w-subset").is_dir():
        parser.error(f"{args.shared}/data/300w-subset not found: the benchmark trains on it (--shared)")
    cores = os.cpu_count() or 1
    rows = [
        ("network alone, 1 process, 1 thread", sum(network_rates(1, args.steps))),
        (f"network alone, {cores} processes side by side (sum)", sum(network_rates(cores, args.steps))),
        ("loader alone, 1 thread", loader_rate(args.config, args.shared, args.samples)),
    ]
    for label, overrides in TRAIN_LAYOUTS.items():
        print(f"h3r train: {label} ...", flush=True)
        rows.append((f"h3r train: {label}", training_rate(args.config, args.shared, overrides)))

    config_name = args.config.relative_to(REPO) if args.config.is_relative_to(REPO) else args.config
    lines = [
        f"# Training throughput, {config_name}, 128 px, batch {BATCH} per process",
        "",
        "| pipeline | images/s | ms/image |",
        "|---|---:|---:|",
        *(f"| {label} | {rate:.1f} | {1000 / rate:.1f} |" for label, rate in rows),
        "",
        f"Machine: {describe_machine()}. Date: {datetime.date.today().isoformat()}. "
        "Command: `python benchmarks/training_throughput.py`.",
    ]
    report = "\n".join(lines) + "\n"
    (RESULTS / "training_throughput.md").write_text(report)
    (RESULTS / "training_throughput.json").write_text(json.dumps({
        "config": str(config_name), "rows": dict(rows), "machine": describe_machine(),
        "date": datetime.date.today().isoformat(), "command": "python benchmarks/training_throughput.py",
    }, indent=1))  # fmt: skip
    print(report)


if __name__ == "__main__":
    main()
