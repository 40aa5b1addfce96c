"""Training checkpoints: what they hold, writing them atomically, and rebuilding a detector from one.

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
"""

import os
import random
import shutil
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from h3r.codecs import build_codec
from h3r.data import IMAGENET_MEAN, IMAGENET_STD
from h3r.inference.detector import LandmarkDetector
from h3r.models import LandmarkNet, build_model
from h3r.utils.formats import check_format

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "checkpoint_metadata",
    "build_network",
    "copy_atomically",
    "detector_from_description",
    "is_official_folder",
    "load_detector",
    "model_from_checkpoint",
    "read_checkpoint",
    "resolve_checkpoint",
    "restore_rng_states",
    "rng_states",
    "save_atomically",
]

CHECKPOINT_FORMAT = "h3r-checkpoint"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file or run folder that is missing, unreadable or not an h3r checkpoint; names the path."""


def save_atomically(fabric, path: Path, state: dict) -> None:
    """``fabric.save`` ``state`` to ``path`` through a temporary file, so ``path`` is always whole.

    A process killed while writing leaves ``path`` as it was (and a stray ``path.tmp``).
    """
    temporary = path.with_name(path.name + ".tmp")
    fabric.save(temporary, state)  # ends with a barrier: the file is complete on every rank's return
    if fabric.is_global_zero:
        _sync(temporary)
        os.replace(temporary, path)


def copy_atomically(source: Path, destination: Path) -> None:
    """Copy a file so that ``destination`` is either the old file or the whole new one."""
    temporary = destination.with_name(destination.name + ".tmp")
    shutil.copyfile(source, temporary)
    _sync(temporary)
    os.replace(temporary, destination)


def _sync(path: Path) -> None:
    with open(path, "rb+") as file:
        os.fsync(file.fileno())


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
        for name in ("best.ckpt", "last.ckpt"):
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"{path}: a run folder must hold best.ckpt or last.ckpt; it holds neither")
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Load an h3r checkpoint (a file or run folder, see ``resolve_checkpoint``) onto the CPU, safely.

    Raises:
        CheckpointError: the file is missing, not a torch file, or not an h3r checkpoint of a known version.
    """
    path = resolve_checkpoint(path)
    # torch raises KeyError, UnpicklingError, RuntimeError, ... for files that are not its own
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001
        raise CheckpointError(f"{path}: cannot read the checkpoint: {str(error).splitlines()[0]}") from None
    check_format(checkpoint, path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "checkpoint", CheckpointError)
    return checkpoint


def model_from_checkpoint(checkpoint: dict) -> LandmarkNet:
    """The network of a checkpoint (see ``read_checkpoint``) with its weights, in eval mode."""
    return build_network(checkpoint["model_args"], checkpoint["model"])


def build_network(model_args: dict, state_dict: Mapping[str, torch.Tensor]) -> LandmarkNet:
    """``build_model(**model_args)`` holding ``state_dict`` (every key, strictly), in eval mode.

    Raises:
        RuntimeError: (torch's) keys or shapes of ``state_dict`` that do not fit the network.
    """
    model = build_model(**model_args)
    model.load_state_dict(state_dict)
    return model.eval()


def initialise_from(model: nn.Module, source: str | Path) -> tuple[int, list[str]]:
    """Copy into ``model`` the weights of another model (``LandmarkDetector.from_pretrained``'s names and
    folders): its whole backbone, which must be the same (architecture and width; the output stride may
    differ), and every head tensor of the same name and shape (all of them for the same landmark count);
    the rest keeps its fresh initialisation.

    Returns:
        ``(copied, fresh)``: how many of the state dict's tensors were copied, and the names of the others.

    Raises:
        ValueError: ``source`` is no model or not a PyTorch network, or its backbone differs from ``model``'s.
    """
    network = getattr(LandmarkDetector.from_pretrained(source).runner, "model", None)
    if not isinstance(network, nn.Module):
        raise ValueError(f"{source}: not a PyTorch network")
    theirs, ours = network.state_dict(), model.state_dict()
    matching = {name: value for name, value in theirs.items() if name in ours and value.shape == ours[name].shape}
    backbone = [name for name in ours if name.startswith("backbone.")]
    missing = [name for name in backbone if name not in matching]
    if missing:
        raise ValueError(
            f"{source}: another backbone: {len(missing)} of this network's {len(backbone)} backbone tensors have no "
            f"counterpart of the same shape there (first: {missing[0]})"
        )
    model.load_state_dict(matching, strict=False)
    return len(matching), [name for name in ours if name not in matching]


def load_detector(path: str | Path, *, device: torch.device | str = "cpu", **settings) -> LandmarkDetector:
    """A ``LandmarkDetector`` for an h3r checkpoint or run folder, or one of the authors' torchalign folders.

    The checkpoint's codec, input size, crop scale and flip permutation set up the detector; the flip
    test is on by default. ``settings`` override the detector's attributes (``flip``, ``crop``,
    ``batch_size``, ...).

    Raises:
        CheckpointError: an unreadable or foreign checkpoint, or a folder of neither kind.
        h3r.models.OfficialCheckpointError: a bad torchalign folder.
    """
    if is_official_folder(path):
        return LandmarkDetector.from_official(path, device=device, **settings)
    checkpoint = read_checkpoint(path)
    return detector_from_description(checkpoint, model_from_checkpoint(checkpoint), device=device, **settings)


def detector_from_description(
    description: dict, model: LandmarkNet, *, device: torch.device | str = "cpu", **settings
) -> LandmarkDetector:
    """A ``LandmarkDetector`` running ``model`` as a checkpoint or bundle describes it.

    Args:
        description: the ``checkpoint_metadata`` part of a checkpoint, or a bundle's ``model.json``:
            ``codec`` (name and settings), ``scheme`` (its ``flip_permutation``) and ``preprocessing``
            (``crop_scale``, ``mean``, ``std``).
        model: its network, e.g. ``model_from_checkpoint(checkpoint)``.
        device: where the network runs.
        settings: override the detector's attributes; the flip test is on unless ``flip=False``.
    """
    preprocessing = description["preprocessing"]
    codec = build_codec(description["codec"]["name"], **description["codec"]["settings"])
    stored = {
        "crop_scale": preprocessing["crop_scale"],
        "flip_permutation": tuple(description["scheme"]["flip_permutation"]),
        "mean": tuple(preprocessing["mean"]),
        "std": tuple(preprocessing["std"]),
        "flip": True,
    }
    return LandmarkDetector.from_model(model, codec, device=device, **{**stored, **settings})


def is_official_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder of the authors' torchalign code (``config.yaml`` + ``model.pth``)."""
    path = Path(path)
    return (path / "config.yaml").is_file() and (path / "model.pth").is_file()


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
