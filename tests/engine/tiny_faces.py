"""Tiny 300-W-style datasets and configs for quick CPU training runs in the engine and CLI tests."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_tiny_300w(root: Path, count: int = 12, size: int = 64, seed: int = 0) -> Path:
    """A 300-W-style folder: ``count`` random ``size``² images in ``afw/`` and ``helen/trainset/`` with .pts files.

    The 68 landmarks (1-based in the files, as in 300-W) jitter around one face shape inside the image.
    """
    rng = np.random.default_rng(seed)
    shape = rng.uniform(0.25, 0.75, (68, 2))
    for index in range(count):
        folder = root / ("afw" if index % 2 else "helen/trainset")
        folder.mkdir(parents=True, exist_ok=True)
        points = (shape + rng.normal(0, 0.02, (68, 2))) * size
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"face{index:03d}.jpg")
        lines = "\n".join(f"{x + 1:.3f} {y + 1:.3f}" for x, y in points)
        (folder / f"face{index:03d}.pts").write_text(f"version: 1\nn_points: 68\n{{\n{lines}\n}}\n")
    return root


def tiny_config(faces_dir: Path, run_dir: Path, **sections) -> dict:
    """A plain config for a quick CPU run: MobileNetV2 × 0.25 at 32 px (8 × 8 heatmaps), batch 4, 2 epochs."""
    config = {
        "seed": 0,
        "output_dir": str(run_dir),
        "data": {"train": f"300w:{faces_dir}", "val_split": "every_4th", "input_size": 32, "workers": 0},
        "model": {"backbone": "mobilenetv2", "width_mult": 0.25, "output_stride": 4},
        "codec": {"name": "h3r", "settings": {"topk": 4}},
        "optim": {"batch_size": 4, "epochs": 2, "warmup_epochs": 0.5, "milestones": [1]},
        "trainer": {"accelerator": "cpu", "devices": 1, "threads": 1, "log_every": 1},
    }
    for name, values in sections.items():
        config[name] = {**config[name], **values} if isinstance(values, dict) else values
    return config
