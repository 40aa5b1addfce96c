"""Model bundles: a trained network as a folder of safetensors weights, a JSON description and a model card.

Files (names in ``h3r.pretrained``):
    - ``model.safetensors``: the ``LandmarkNet`` state dict, floating tensors as float32 (the batch-norm
      counters stay int64); read with ``safetensors``, never unpickled.
    - ``model.json``: ``format`` (``"h3r-bundle"``), ``version`` (1), ``name``; the parts of a checkpoint
      that rebuild and run the network (``h3r.engine.checkpoint``): ``model_args`` (``build_model``
      arguments: backbone, width_mult, output_stride, head, head_channels, num_landmarks), ``codec``
      (``{"name", "settings"}``, input size and stride included), ``scheme`` (name, num_landmarks,
      flip_permutation, normalizer), ``preprocessing`` (input_size, crop_scale, box, mean, std) and
      ``config`` (the whole training config); ``flip`` (the flip test's default); provenance:
      ``training`` (``command``, ``checkpoint``, ``epochs``, ``best_epoch``, ``best_validation_nme``,
      ``faces``, ``initialisation``, ``h3r_version``), ``metrics`` (``validation`` and ``test``: ``h3r evaluate --json``
      reports with their ``command``, or null) and ``terms``.
    - ``MODEL_CARD.md``: ``h3r.pretrained.card.model_card`` of ``model.json``.

A bundle runs exactly as the checkpoint it was made from: the same weights in the same network give
bit-identical landmarks (``tests/inference/test_bundle.py``).
"""

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from h3r import __version__
from h3r.engine.checkpoint import build_network
from h3r.models import LandmarkNet
from h3r.pretrained import CARD_FILE, DESCRIPTION_FILE, WEIGHTS_FILE
from h3r.pretrained.card import model_card
from h3r.utils.formats import check_format
from h3r.utils.io import atomic_path, atomic_write_text

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_VERSION",
    "BundleError",
    "bundle_description",
    "bundle_network",
    "bundle_weights",
    "data_terms",
    "is_bundle",
    "read_description",
    "read_weights",
    "write_bundle",
]

BUNDLE_FORMAT = "h3r-bundle"
BUNDLE_VERSION = 1
REQUIRED_KEYS = (
    "name", "model_args", "codec.name", "codec.settings", "scheme.name", "scheme.flip_permutation",
    "preprocessing.input_size", "preprocessing.crop_scale", "preprocessing.box", "preprocessing.mean",
    "preprocessing.std", "flip", "config",
)  # fmt: skip
"""Dotted keys of ``model.json`` that loading a bundle reads (besides ``format`` and ``version``)."""

DATA_TERMS = {
    "300w": (
        "Trained on 300-W data (iBUG): its annotations are licensed for research only, not for commercial use, "
        "and its images come from Flickr and the web (AFW, HELEN, LFPW) with their owners' rights. These weights "
        "are derived from that data: use them for research only."
    ),
}
"""Terms of the training data by dataset reader (the part of ``data.train`` before the first colon)."""


class BundleError(ValueError):
    """A bundle file that is missing, unreadable or inconsistent; the message names the file."""


def bundle_weights(checkpoint: dict) -> dict[str, torch.Tensor]:
    """The network's state dict of a checkpoint as it goes into ``model.safetensors``: contiguous,
    floating tensors as float32 (exact for float32 and bfloat16 weights)."""
    return {
        key: (tensor.float() if tensor.is_floating_point() else tensor).contiguous()
        for key, tensor in checkpoint["model"].items()
    }


def bundle_description(
    checkpoint: dict,
    *,
    name: str,
    source: str,
    training_command: str,
    metrics: dict[str, dict | None],
    faces: dict | None,
    initialisation: list[str] = (),
) -> dict:
    """The ``model.json`` of a bundle made from an h3r checkpoint (see the module docstring).

    Args:
        checkpoint: ``read_checkpoint``'s dict.
        name: the bundle's name, e.g. ``"face68"``.
        source: where the checkpoint was read from, e.g. ``"runs/face68_mobilenetv2_128/best.ckpt"``.
        training_command: the command that trained it, e.g. ``"h3r train configs/face68_mobilenetv2_128.yaml"``.
        metrics: ``{"validation": report or None, "test": report or None}``, ``h3r evaluate --json``
            reports, each with its ``command``.
        faces: the training and validation face counts (``{"train", "validation", "subsets"}``), or None
            when the training data could not be read.
        initialisation: where the weights started, newest first: the run's ``model.init``, the ``model.init``
            of that model, ... (``"imagenet"`` last where the chain began there); empty for random weights.
    """
    return {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "name": name,
        "model_args": checkpoint["model_args"],
        "codec": checkpoint["codec"],
        "scheme": checkpoint["scheme"],
        "preprocessing": checkpoint["preprocessing"],
        "flip": True,
        "config": checkpoint["config"],
        "training": {
            "command": training_command,
            "checkpoint": source,
            "epochs": checkpoint["epoch"],
            "best_epoch": checkpoint["best_epoch"],
            "best_validation_nme": checkpoint["best_nme"],
            "faces": faces,
            "initialisation": list(initialisation),
            "h3r_version": __version__,
        },
        "metrics": metrics,
        "terms": data_terms(checkpoint["config"]["data"]["train"]),
    }


def data_terms(train_spec: str) -> str:
    """The terms that come with weights trained on the dataset spec ``train_spec`` (``DATA_TERMS``)."""
    reader = train_spec.split(":", 1)[0]
    return DATA_TERMS.get(reader, f"Trained on {train_spec}: that dataset's terms apply to these weights.")


def write_bundle(folder: str | Path, weights: dict[str, torch.Tensor], description: dict) -> Path:
    """Write ``model.safetensors``, ``model.json`` and ``MODEL_CARD.md`` into ``folder`` (created if needed),
    each atomically.

    Args:
        weights: the state dict, e.g. ``bundle_weights(checkpoint)``.
        description: ``model.json``, e.g. ``bundle_description(...)``.

    Returns:
        ``folder`` as a ``Path``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / WEIGHTS_FILE) as temporary:
        save_file(weights, temporary, metadata={"format": "pt", "name": description["name"]})
    atomic_write_text(folder / DESCRIPTION_FILE, json.dumps(description, indent=2) + "\n")
    atomic_write_text(folder / CARD_FILE, model_card(description))
    return folder


def read_description(folder: str | Path) -> dict:
    """The checked ``model.json`` of a bundle folder.

    Raises:
        BundleError: naming ``model.json`` when it is missing, not JSON, of another format or version, or
            lacks one of ``REQUIRED_KEYS``.
    """
    path = Path(folder) / DESCRIPTION_FILE
    try:
        description = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{path}: file not found; a bundle holds {WEIGHTS_FILE} and {DESCRIPTION_FILE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(f"{path}: cannot read as JSON: {error}") from None
    check_format(description, path, BUNDLE_FORMAT, BUNDLE_VERSION, "bundle", BundleError)
    missing = [key for key in REQUIRED_KEYS if not _has_key(description, key)]
    if missing:
        raise BundleError(f"{path}: lacks {', '.join(missing)}")
    return description


def read_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in a bundle's ``model.safetensors``, on the CPU.

    Raises:
        BundleError: naming ``model.safetensors`` when it is missing or not a safetensors file.
    """
    path = Path(folder) / WEIGHTS_FILE
    if not path.is_file():
        raise BundleError(f"{path}: file not found; a bundle holds {WEIGHTS_FILE} and {DESCRIPTION_FILE}")
    try:
        return load_file(path)
    except (OSError, SafetensorError) as error:
        raise BundleError(f"{path}: cannot read as safetensors: {error}") from None


def bundle_network(folder: str | Path, description: dict) -> LandmarkNet:
    """The network ``model.json`` (``description``, see ``read_description``) describes, holding the weights of
    ``model.safetensors``, in eval mode.

    Raises:
        BundleError: a missing or bad ``model.safetensors``, bad ``model_args`` or weights that do not fit them,
            naming the file.
    """
    folder = Path(folder)
    weights = read_weights(folder)
    try:
        return build_network(description["model_args"], weights)
    except (TypeError, ValueError) as error:
        raise BundleError(f"{folder / DESCRIPTION_FILE}: bad model_args: {error}") from None
    except RuntimeError as error:  # load_state_dict: missing or unexpected keys, wrong shapes
        message = f"does not fit the network of {DESCRIPTION_FILE}: {' '.join(str(error).split())}"
        raise BundleError(f"{folder / WEIGHTS_FILE}: {message}") from None


def _has_key(document: dict, dotted: str) -> bool:
    """Whether ``document`` holds ``dotted`` (e.g. ``"codec.name"``), each part but the last a dict."""
    for part in dotted.split("."):
        if not isinstance(document, dict) or part not in document:
            return False
        document = document[part]
    return True


def is_bundle(folder: str | Path) -> bool:
    """Whether ``folder`` is (or is meant to be) a bundle: it holds ``model.safetensors`` or ``model.json``."""
    return any((Path(folder) / name).is_file() for name in (WEIGHTS_FILE, DESCRIPTION_FILE))
