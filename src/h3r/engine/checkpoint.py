"""Training checkpoints: what they hold, writing them atomically, and rebuilding their network.

A checkpoint (``last.ckpt``, ``best.ckpt`` in a run folder) is a ``torch.save`` dict of plain values and
tensors, so it loads with ``weights_only=True``:

- ``format``: ``"h3r-checkpoint"``, ``version``: 1;
- ``model``, ``optimizer``, ``scheduler``: their state dicts;
- ``epoch``: epochs completed; ``best_nme`` (pose runs: ``best_pck``, ``best_pckh`` or ``best_ap``, see
  ``h3r.engine.pose``), ``best_epoch``: the best validation score so far and the epoch (1-based) that
  reached it; ``history``: one dict of logged metrics per completed epoch;
- ``config``: the full resolved ``TrainConfig`` as plain values;
- ``model_args``: the ``build_model`` arguments; ``codec``: ``{"name", "settings"}``, the ``build_codec``
  arguments (input size and stride included);
- ``scheme``: the landmark scheme's ``name``, ``num_landmarks``, ``flip_permutation``, ``normalizer``;
- ``preprocessing``: ``input_size``, ``crop_scale``, ``box`` (the crop box source) and ``mean``/``std``;
- ``rng``: the torch, CUDA, numpy and Python random states of rank 0.

A detector is built from one by ``h3r.load.load_detector`` (any model a user may name).
"""

import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from h3r.data import IMAGENET_MEAN, IMAGENET_STD
from h3r.models import LandmarkNet, build_model
from h3r.utils.formats import check_format, load_torch_file
from h3r.utils.io import atomic_path

__all__ = [
    "CHECKPOINT_FORMAT",
    "RUN_CHECKPOINTS",
    "CheckpointError",
    "build_network",
    "checkpoint_metadata",
    "copy_atomically",
    "initialise_from",
    "model_from_checkpoint",
    "read_checkpoint",
    "resolve_checkpoint",
    "restore_rng_states",
    "rng_states",
    "save_atomically",
]

CHECKPOINT_FORMAT = "h3r-checkpoint"
CHECKPOINT_VERSION = 1
RUN_CHECKPOINTS = ("best.ckpt", "last.ckpt")
"""The checkpoints a run folder is read from, in order of preference."""


class CheckpointError(ValueError):
    """A checkpoint file or run folder that is missing, unreadable or not an h3r checkpoint; names the path."""


def save_atomically(fabric, path: Path, state: dict, previous: Path | None = None) -> None:
    """``fabric.save`` ``state`` to ``path`` through a temporary file, so ``path`` is always whole.

    A process killed while writing leaves ``path`` as it was (and a stray ``path.tmp``). With ``previous``,
    the file ``path`` held is kept there, to fall back on should ``path`` ever be unreadable.
    """
    temporary = path.with_name(path.name + ".tmp")
    fabric.save(temporary, state)  # ends with a barrier: the file is complete on every rank's return
    if fabric.is_global_zero:
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        if previous is not None and path.is_file():
            os.replace(path, previous)
        os.replace(temporary, path)


def copy_atomically(source: Path, destination: Path) -> None:
    """Copy a file so that ``destination`` is either the old file or the whole new one."""
    with atomic_path(destination) as temporary:
        shutil.copyfile(source, temporary)


def rng_states() -> dict:
    """The global random states (torch CPU and CUDA, numpy, Python) as checkpointable plain values."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [kind, keys.tolist(), position, has_gauss, gauss],
        "python": random.getstate(),
    }


def restore_rng_states(states: dict) -> None:
    """Set the global random states saved by ``rng_states``."""
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))


def resolve_checkpoint(path: str | Path) -> Path:
    """The checkpoint file for ``path``: a ``.ckpt`` file itself, or a run folder's ``best.ckpt`` (else ``last.ckpt``).

    Raises:
        CheckpointError: no such file, or a folder holding neither.
    """
    path = Path(path)
    if path.is_dir():
        for name in RUN_CHECKPOINTS:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: a run folder must hold best.ckpt or last.ckpt; it holds neither")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Load an h3r checkpoint (a file or run folder, see ``resolve_checkpoint``) onto the CPU, safely.

    Raises:
        CheckpointError: the file is missing, damaged, holds objects other than tensors and plain values, or
            is not an h3r checkpoint of a known version.
    """
    path = resolve_checkpoint(path)
    checkpoint = load_torch_file(path, CheckpointError, "checkpoint")
    check_format(checkpoint, path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "checkpoint", CheckpointError)
    return checkpoint


def model_from_checkpoint(checkpoint: dict, path: str | Path = "checkpoint") -> LandmarkNet:
    """The network of a checkpoint (see ``read_checkpoint``) with its weights, in eval mode.

    Raises:
        CheckpointError: naming ``path``, when the weights do not fit the network of ``model_args``.
    """
    try:
        return build_network(checkpoint["model_args"], checkpoint["model"])
    except (TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path}: its weights do not fit its network: {' '.join(str(error).split())}") from None


def build_network(model_args: dict, state_dict: Mapping[str, torch.Tensor]) -> LandmarkNet:
    """``build_model(**model_args)`` holding ``state_dict`` (every key, strictly), in eval mode.

    Raises:
        TypeError, ValueError: ``model_args`` that ``build_model`` refuses.
        RuntimeError: (torch's) keys or shapes of ``state_dict`` that do not fit the network.
    """
    model = build_model(**model_args)
    model.load_state_dict(state_dict)
    return model.eval()


def initialise_from(model: nn.Module, source: nn.Module, name: str) -> tuple[int, list[str]]:
    """Copy into ``model`` the weights of another network ``source`` (called ``name`` in messages): its whole
    backbone, which must be the same (architecture and width; the output stride may differ), and every head
    tensor of the same name and shape (all of them for the same landmark count); the rest keeps its fresh
    initialisation.

    Returns:
        ``(copied, fresh)``: how many of the state dict's tensors were copied, and the names of the others.

    Raises:
        ValueError: ``source``'s backbone differs from ``model``'s.
    """
    theirs, ours = source.state_dict(), model.state_dict()
    matching = {key: value for key, value in theirs.items() if key in ours and value.shape == ours[key].shape}
    backbone = [key for key in ours if key.startswith("backbone.")]
    missing = [key for key in backbone if key not in matching]
    if missing:
        raise ValueError(
            f"{name}: another backbone: {len(missing)} of this network's {len(backbone)} backbone tensors have no "
            f"counterpart of the same shape there (first: {missing[0]})"
        )
    model.load_state_dict(matching, strict=False)
    return len(matching), [key for key in ours if key not in matching]


def checkpoint_metadata(config, scheme) -> dict:
    """The self-describing part of a checkpoint: config, model and codec arguments, scheme, preprocessing."""
    return {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "config": config.to_dict(),
        "model_args": {
            "backbone": config.model.backbone,
            "num_landmarks": scheme.num_landmarks,
            "head": config.head,
            "output_stride": config.model.output_stride,
            "width_mult": config.model.width_mult,
            "head_channels": config.model.head_channels,
        },
        "codec": {"name": config.codec.name, "settings": config.codec_settings()},
        "scheme": {
            "name": scheme.name,
            "num_landmarks": scheme.num_landmarks,
            "flip_permutation": list(scheme.flip_permutation),
            "normalizer": scheme.normalizer,
        },
        "preprocessing": {
            "input_size": config.data.input_size,
            "crop_scale": config.data.crop_scale,
            "box": config.data.box,
            "mean": list(IMAGENET_MEAN),
            "std": list(IMAGENET_STD),
        },
    }
