"""What the network sees in training: a grid of augmented training crops with their landmarks as dots.

The crops come from the training set that ``h3r train`` builds for the config (``load_faces``, the codec
and ``build_loaders`` of ``h3r.engine.train``), so they carry the config's ``augment`` settings, crop scale
and box source. Rows are faces spread evenly over the training part; columns are epochs, each drawing a new
augmentation of the same face (reproducibly: the draws are a function of seed, epoch and index). Of each
pair of mirror landmarks (the scheme's ``flip_permutation``) the lower index is red and the higher blue,
landmarks on the mirror axis white; in 300-W's order red is on the image's left. A mirrored crop (titled
"flip") has its landmarks reordered as the mirrored face's, so red stays on the left there too. Landmarks
that the augmentation moved out of the crop are cut off.

Run from the repository root:
    python benchmarks/augmentation_grid.py [--config configs/face68_imagenet_mobilenetv2_128.yaml]
        [--out docs/results/augmentation_grid.png] [--rows 4] [--columns 6]
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from lightning.fabric import Fabric

from h3r.codecs import build_codec
from h3r.data.crop import IMAGENET_MEAN, IMAGENET_STD
from h3r.data.training_set import FaceTrainingSet
from h3r.engine.config import TrainConfig, load_config
from h3r.engine.train import build_loaders, load_faces

DEFAULT_CONFIG = Path("configs/face68_imagenet_mobilenetv2_128.yaml")
DEFAULT_OUT = Path("docs/results/augmentation_grid.png")


def training_set(config: TrainConfig) -> FaceTrainingSet:
    """The augmented training set ``h3r train`` would build for ``config``, on one CPU process."""
    train_faces, val_faces = load_faces(config)
    codec = build_codec(config.codec.name, **config.codec_settings())
    train_loader, _ = build_loaders(config, train_faces, val_faces, codec, Fabric(accelerator="cpu", devices=1))
    return train_loader.dataset


def displayable(image: torch.Tensor) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 1] of a (3, H, W) ImageNet-normalised network input (``normalize``)."""
    mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
    return (image * std + mean).clamp(0, 1).permute(1, 2, 0).numpy()


def side_colours(flip_permutation: np.ndarray) -> np.ndarray:
    """(K, 3) RGB: red for the lower index of each mirror pair, blue for the higher, white for unpaired points."""
    index = np.arange(len(flip_permutation))
    colours = np.ones((len(index), 3))
    colours[flip_permutation > index] = (1.0, 0.15, 0.15)
    colours[flip_permutation < index] = (0.2, 0.5, 1.0)
    return colours


def draw_grid(dataset: FaceTrainingSet, rows: int, columns: int, title: str, path: Path) -> None:
    """Write a ``rows`` (faces) × ``columns`` (epochs) grid of ``dataset``'s crops with their visible landmarks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    faces = np.linspace(0, len(dataset) - 1, rows).round().astype(int)
    colours = side_colours(dataset.flip_permutation)
    figure, axes = plt.subplots(rows, columns, figsize=(1.7 * columns, 1.8 * rows + 0.4), squeeze=False)
    for column in range(columns):
        dataset.set_epoch(column)
        for row, index in enumerate(faces):
            item, axis = dataset[int(index)], axes[row, column]
            keypoints, visible = item["keypoints"].numpy(), item["visible"].numpy()
            axis.imshow(displayable(item["image"]), interpolation="nearest")
            axis.scatter(*keypoints[visible].T, s=4, c=colours[visible], linewidths=0)
            axis.set_xlim(-0.5, dataset.input_size[1] - 0.5)
            axis.set_ylim(dataset.input_size[0] - 0.5, -0.5)
            flipped = np.linalg.det(item["matrix"][:2, :2].numpy()) < 0
            axis.set_title(f"face {index}, epoch {column}{', flip' if flipped else ''}", fontsize=7)
            axis.set_axis_off()
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="training config whose augment to draw")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write")
    parser.add_argument("--rows", type=int, default=4, help="faces")
    parser.add_argument("--columns", type=int, default=6, help="epochs of each face")
    args = parser.parse_args()
    if args.rows < 1 or args.columns < 1:
        parser.error(f"--rows and --columns must be positive, got {args.rows} and {args.columns}")
    dataset = training_set(load_config(args.config))
    title = f"training crops of {args.config} ({len(dataset)} faces); red, blue: mirror landmark pairs"
    draw_grid(dataset, args.rows, args.columns, title, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
