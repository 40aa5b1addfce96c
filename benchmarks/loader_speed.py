"""Does data loading keep up with training? Loader images/s against training images/s, 128x128, CPU.

The loader is a DataLoader over ``FaceTrainingSet`` on the 300-W subset (68 landmarks, landmark boxes,
default augmentation, h3r codec at stride 4, batch 32), timed with 0, 1 and 2 worker processes after its
first batch. Training is MobileNetV2 with the binary head, channels-last, Adam, and the per-pixel
two-class cross-entropy of the binary head; it is timed on one batch held in memory ("training only")
and fed by the loader ("training fed by N workers"). Loading keeps up when the fed rate matches the
training-only rate.

Run from the repository root: python benchmarks/loader_speed.py [--data 300w:PATH] [--batches 30] [--steps 8]
"""

import argparse
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

from h3r.codecs import build_codec
from h3r.data.augment import AugmentSettings
from h3r.data.datasets import read_dataset
from h3r.data.training_set import FaceTrainingSet
from h3r.models import build_model
from h3r.utils.malloc import tune_allocator
from machine import describe_machine

INPUT_SIZE, STRIDE, BATCH, WORKERS = 128, 4, 32, (0, 1, 2)
DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "300w-subset"


def binary_head_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel two-class cross-entropy, −[t·log p_fg + (1 − t)·log p_bg], averaged over the pixels of the
    landmarks of weight 1.

    Args:
        logits: (N, 2, K, h, w), background then foreground.
        targets: (N, K, h, w) foreground probability t.
        weights: (N, K), 0 or 1.
    """
    log_p = logits.float().log_softmax(dim=1)
    pixels = -(targets * log_p[:, 1] + (1 - targets) * log_p[:, 0])
    return (pixels.mean(dim=(2, 3)) * weights).sum() / weights.sum().clamp(min=1)


def loader(data: FaceTrainingSet, workers: int) -> DataLoader:
    return DataLoader(data, batch_size=BATCH, shuffle=True, num_workers=workers, drop_last=True)


def loading_rate(data: FaceTrainingSet, workers: int, batches: int) -> float:
    """Images/s of the loader alone, after its first batch (which includes starting the workers)."""
    iterator = iter(loader(data, workers))
    next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * BATCH / (time.perf_counter() - start)


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict) -> None:
    images = batch["image"].contiguous(memory_format=torch.channels_last)
    loss = binary_head_loss(model(images), batch["targets"], batch["weights"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def training_rate(model, optimizer, batches, steps: int) -> float:
    """Images/s of ``steps`` training steps on ``batches`` (an iterator), after two warm-up steps."""
    for _ in range(2):
        training_step(model, optimizer, next(batches))
    start = time.perf_counter()
    for _ in range(steps):
        training_step(model, optimizer, next(batches))
    return steps * BATCH / (time.perf_counter() - start)


def plural(workers: int) -> str:
    return f"{workers} worker{'' if workers == 1 else 's'}"


def repeat(batch: dict):
    while True:
        yield batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=f"300w:{DEFAULT_DATA}", help="dataset spec (default: %(default)s)")
    parser.add_argument("--batches", type=int, default=30, help="batches timed per loader")
    parser.add_argument("--steps", type=int, default=8, help="training steps timed per row")
    args = parser.parse_args()
    tune_allocator()
    torch.manual_seed(0)
    data = FaceTrainingSet(
        read_dataset(args.data),
        INPUT_SIZE,
        build_codec("h3r", input_size=INPUT_SIZE, stride=STRIDE),
        augment=AugmentSettings(),
    )
    model = build_model("mobilenetv2", num_landmarks=data.dataset.scheme.num_landmarks).train()
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    rows = [(f"loader, {plural(workers)}", loading_rate(data, workers, args.batches)) for workers in WORKERS]
    rows.append(("training only", training_rate(model, optimizer, repeat(next(iter(loader(data, 0)))), args.steps)))
    for workers in WORKERS:
        fed = training_rate(model, optimizer, iter(loader(data, workers)), args.steps)
        rows.append((f"training fed by {plural(workers)}", fed))

    table = Table(title=f"Loading vs training, {len(data)} faces, {INPUT_SIZE}x{INPUT_SIZE}, batch {BATCH}, "
                        "default augmentation, h3r codec, MobileNetV2 binary head")
    for column in ("pipeline", "images/s", "ms/batch"):
        table.add_column(column, justify="left" if column == "pipeline" else "right")
    for label, rate in rows:
        table.add_row(label, f"{rate:,.0f}", f"{BATCH / rate * 1e3:.1f}")
    console = Console()
    console.print(table)
    console.print(f"machine: {describe_machine()}")


if __name__ == "__main__":
    main()
