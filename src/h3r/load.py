"""Every model a user may name, loaded one way: resolve the name, read its files safely, build the detector.

``--model`` of ``h3r predict``, ``evaluate`` and ``export``, ``model.init`` of a training config, and
``load_detector`` (``h3r.load_detector``, ``LandmarkDetector.from_pretrained``) take any of these formats
(``model_format``):

- ``bundle``: a bundle folder (``model.safetensors`` + ``model.json``, see ``h3r.pretrained.bundle``), or
  the name of one shipped with h3r (``BUNDLED_MODELS``: ``face68``);
- ``run``: an ``h3r train`` run folder, read from its ``best.ckpt`` (else ``last.ckpt``);
- ``checkpoint``: one ``.ckpt`` file of a run;
- ``onnx``: an ``.onnx`` file written by ``h3r export onnx``, run by ONNX Runtime on the CPU;
- ``torchalign``: one of the authors' released folders (``config.yaml`` + ``model.pth``).

Safely: weights come from safetensors or from ``torch.load(weights_only=True)``, which unpickles tensors and
plain values only; a file holding anything else is refused, and no message suggests loading it otherwise.
Every problem is a ``ValueError`` naming the file (``BundleError``, ``CheckpointError``,
``OfficialCheckpointError``, ``OnnxModelError``), or an ``ImportError`` naming a missing optional package.

Layers: this module builds on ``h3r.models``, ``h3r.engine.checkpoint``, ``h3r.pretrained.bundle`` and
``h3r.inference``, none of which imports it (``LandmarkDetector.from_pretrained`` does at the call). The
commands and the training loop (for ``model.init``) load models through it.
"""

import dataclasses
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from h3r.data.pose.schemes import get_pose_scheme
from h3r.engine.checkpoint import RUN_CHECKPOINTS, model_from_checkpoint, read_checkpoint
from h3r.inference.detector import LandmarkDetector
from h3r.inference.network import DecodingNetwork
from h3r.inference.pose import PoseEstimator
from h3r.models import LandmarkNet
from h3r.pretrained import DESCRIPTION_FILE, WEIGHTS_FILE
from h3r.pretrained.bundle import bundle_network, is_bundle, read_description

__all__ = [
    "BUNDLED_MODELS",
    "MODEL_FORMATS",
    "load_detector",
    "load_network",
    "load_pose_estimator",
    "model_description",
    "model_files",
    "model_format",
    "resolve_model",
]

MODEL_FORMATS = ("bundle", "run", "checkpoint", "onnx", "torchalign")
MODEL_SUFFIXES = (".ckpt", ".onnx")
"""Suffixes of the model formats that are single files."""
TORCHALIGN_MARKER = "config.yaml"
"""The file that marks a torchalign folder (beside ``model.pth``, which ``load_official`` names if missing)."""


def _shipped(name: str) -> Path:
    """The folder of a bundle shipped inside the package (``h3r/pretrained/<name>``), installed or not."""
    return Path(resources.files("h3r.pretrained") / name)


BUNDLED_MODELS: dict[str, Path] = {"face68": _shipped("face68")}
"""Names of the models shipped with the package → their bundle folders (see ``h3r.pretrained``)."""


def resolve_model(model: str | Path) -> Path:
    """The folder or file a model argument names: a bundled model's folder, or the path itself.

    Raises:
        ValueError: neither a bundled model's name nor an existing folder, ``.ckpt`` or ``.onnx`` file; the
            message lists the bundled models.
    """
    path = BUNDLED_MODELS.get(str(model), Path(model))
    if path.is_dir() or (path.is_file() and path.suffix in MODEL_SUFFIXES):
        return path
    if str(model) in BUNDLED_MODELS:
        raise ValueError(f"{model}: the bundled model's folder {path} is missing: reinstall h3r")
    bundled = ", ".join(sorted(BUNDLED_MODELS))
    raise ValueError(f"{model}: no such model folder, .ckpt or .onnx file, nor a bundled model (bundled: {bundled})")


def model_format(path: Path) -> str:
    """Which of ``MODEL_FORMATS`` a resolved model path is, told by its suffix or the files in it.

    Raises:
        ValueError: a folder holding none of the files that mark a format.
    """
    if path.is_file():
        return "onnx" if path.suffix == ".onnx" else "checkpoint"
    if is_bundle(path):
        return "bundle"
    if any((path / name).is_file() for name in RUN_CHECKPOINTS):
        return "run"  # a run folder holds a config.yaml too: tested first
    if (path / TORCHALIGN_MARKER).is_file():
        return "torchalign"
    markers = ", ".join((WEIGHTS_FILE, DESCRIPTION_FILE, *RUN_CHECKPOINTS, TORCHALIGN_MARKER))
    raise ValueError(f"{path}: not a model folder: it holds none of {markers}")


def model_files(model: str | Path) -> list[Path]:
    """The files a model is read from (the path itself, or the files in its folder), e.g. to keep outputs off them.

    Raises:
        ValueError: as ``resolve_model``.
    """
    path = resolve_model(model)
    return sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]


def model_description(model: str | Path) -> dict | None:
    """What a model says about itself (``config``, ``preprocessing``, ``scheme``, ...): a bundle's ``model.json``
    or an h3r checkpoint; None for torchalign folders and ONNX files, which hold no training config.

    Raises:
        ValueError: as ``resolve_model`` and ``model_format``; ``BundleError`` or ``CheckpointError`` naming a
            file that cannot be read.
    """
    path = resolve_model(model)
    kind = model_format(path)
    if kind == "bundle":
        return read_description(path)
    if kind in ("run", "checkpoint"):
        return read_checkpoint(path)
    return None


def load_detector(
    model: str | Path, *, device: torch.device | str = "cpu", threads: int | None = None, **settings
) -> LandmarkDetector:
    """A ``LandmarkDetector`` for any model a user may name (see the module docstring).

    The model sets up the detector: network, codec, crop scale, flip test and its permutation,
    normalisation (bundles, runs and checkpoints from their description; torchalign folders from their
    config; ONNX files from their metadata). The flip test is on unless a bundle says otherwise.

    Args:
        model: a bundled model's name, or the path of a model folder or file.
        device: where the network runs (ONNX models run on the CPU).
        threads: ONNX Runtime's threads (ONNX models only); None for its default.
        settings: override the detector's attributes (``flip``, ``crop``, ``refine``, ``exif_transpose``,
            ``batch_size``, ...).

    Raises:
        ValueError: a model that cannot be found or read, naming the file and the problem.
        ImportError: an ONNX model without onnxruntime installed.

    Examples:
        >>> load_detector("face68", flip=False).num_landmarks
        68
    """
    path = resolve_model(model)
    kind = model_format(path)
    if kind == "torchalign":
        detector = LandmarkDetector.from_official(path, device=device)
    elif kind == "onnx":
        detector = LandmarkDetector.from_onnx(path, threads=threads)
    else:
        detector = _described_detector(*_described_network(path, kind), device)
    return dataclasses.replace(detector, **settings)


def load_pose_estimator(model: str | Path, *, device: torch.device | str = "cpu", **settings) -> PoseEstimator:
    """The ``PoseEstimator`` of an h3r pose model (run, checkpoint or bundle); ``settings`` override the
    detector's attributes (``flip``, ``batch_size`` (default 8), ...); the flip test is on by default.

    Raises:
        ValueError: a model that cannot be found or read, naming the file; a model of another format or of
            faces, naming it.
    """
    path = resolve_model(model)
    kind = model_format(path)
    if kind not in ("bundle", "run", "checkpoint"):
        raise ValueError(f"{path}: a {kind} model; pose models are h3r runs, checkpoints or bundles")
    description, network, where = _described_network(path, kind)
    name = description["scheme"]["name"]
    try:
        scheme = get_pose_scheme(name)
    except ValueError:
        raise ValueError(f"{where}: a {name} face model, not a pose model") from None
    detector = _described_detector(description, network, where, device)
    return PoseEstimator(dataclasses.replace(detector, **{"batch_size": 8, **settings}), scheme)


def load_network(model: str | Path) -> nn.Module:
    """The PyTorch network of a model (``load_detector``'s), e.g. to start training from its weights.

    Raises:
        ValueError: as ``load_detector``; an ONNX model, which holds no PyTorch network.
    """
    runner = load_detector(model).runner
    if not isinstance(runner, DecodingNetwork):
        raise ValueError(f"{model}: an ONNX model holds no PyTorch network to take weights from")
    return runner.model


def _described_network(path: Path, kind: str) -> tuple[dict, LandmarkNet, Path]:
    """``(description, network, file)`` of a bundle, run or checkpoint: its ``model.json`` or checkpoint, its
    network holding its weights, and the file that describes it (for messages)."""
    if kind == "bundle":
        description = read_description(path)
        return description, bundle_network(path, description), path / DESCRIPTION_FILE
    checkpoint = read_checkpoint(path)
    return checkpoint, model_from_checkpoint(checkpoint, path), path


def _described_detector(
    description: dict, network: LandmarkNet, where: Path, device: torch.device | str
) -> LandmarkDetector:
    """``LandmarkDetector.from_description``, or an error naming the file ``where`` when it cannot be built."""
    try:
        return LandmarkDetector.from_description(description, network, device=device)
    except (TypeError, ValueError) as error:  # a bad codec, flip permutation or normalisation
        raise ValueError(f"{where}: {error}") from None
