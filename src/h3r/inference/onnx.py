"""ONNX export of a :class:`DecodingNetwork` (network and top-k decoder in one graph) and an ONNX Runtime runner.

The exported graph has one input and two outputs, with a dynamic batch axis ``N``:

- ``crops``: (N, 3, H, W) float32, normalised crops (RGB in [0, 1], minus ``mean``, over ``std``);
- ``keypoints``: (N, K, 2) float32, (x, y) landmarks in crop pixels (top-left pixel centred at (0, 0));
- ``scores``: (N, K) float32, the codec's confidences.

The file describes itself: its ``metadata_props`` hold what a runner needs to crop, normalise and flip
faces without the original model folder, each value JSON-encoded (see :data:`REQUIRED_METADATA`):
``input_size`` [H, W], ``stride``, ``num_landmarks``, ``codec``, ``crop_scale``, ``flip``,
``flip_permutation``, ``mean``, ``std``, ``h3r_version``, ``topk`` for the H3R codec and, optionally,
``source``.

The export uses torch's TorchScript-based exporter (``dynamo=False``): it ships with the pinned torch
2.13 (deprecated there, in favour of the ``torch.export`` one, which needs the ``onnxscript`` package), is
three times faster on these networks, and gives the same numbers.

Export needs the ``onnx`` package, running needs ``onnxruntime``; both are imported when first used.

Examples:
    >>> import tempfile
    >>> from h3r.codecs import H3RCodec
    >>> from h3r.models import build_model
    >>> model = build_model(num_landmarks=5, width_mult=0.25).eval()
    >>> network = DecodingNetwork(model, H3RCodec(input_size=32, stride=4))
    >>> settings = {"crop_scale": 1.25, "flip": False, "flip_permutation": [4, 3, 2, 1, 0],
    ...             "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     runner = OnnxRunner(export_onnx(network, Path(folder) / "tiny.onnx", metadata=settings))
    >>> runner.input_size, runner.num_landmarks, runner.metadata["flip_permutation"]
    ((32, 32), 5, [4, 3, 2, 1, 0])
    >>> [tuple(t.shape) for t in runner(torch.zeros(3, 3, 32, 32))]
    [(3, 5, 2), (3, 5)]
"""

import importlib
import io
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from h3r import __version__
from h3r._checks import check_shape
from h3r.codecs import Codec, H3RCodec
from h3r.inference.network import DecodingNetwork
from h3r.utils.io import atomic_path

INPUT_NAME = "crops"
OUTPUT_NAMES = ("keypoints", "scores")
BATCH_AXIS = "N"
DEFAULT_OPSET = 17
SUPPORTED_OPSETS = range(13, 21)
"""Opsets the TorchScript exporter of torch 2.13 writes (at most 20) whose Softmax and TopK fit the decoder."""

PREPROCESSING_METADATA = ("crop_scale", "flip", "flip_permutation", "mean", "std")
"""Metadata the caller of :func:`export_onnx` supplies: how faces are cropped, flipped and normalised."""
REQUIRED_METADATA = ("input_size", "stride", "num_landmarks", "codec", "h3r_version", *PREPROCESSING_METADATA)
"""Metadata every export holds; ``topk`` is added for codecs that have one (H3R), ``source`` when given."""
TUPLE_METADATA = ("input_size", "mean", "std")


class OnnxModelError(ValueError):
    """An ONNX file is missing, unreadable, or not a landmark model exported by :func:`export_onnx`."""


def export_onnx(
    network: DecodingNetwork,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, Any],
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Write ``network`` (model and decoder) as one ONNX graph with a dynamic batch axis, and check it.

    The input size is the codec's ``input_size``. The graph is traced in eval mode (batch norm with its
    running statistics, whatever mode ``network`` is in) on a batch of 2 random crops, checked by
    ``onnx.checker`` (with shape inference), and written only once it passes, atomically
    (``h3r.utils.io.atomic_path``).

    Args:
        network: the model and its codec; traced on the device of its parameters.
        path: the ``.onnx`` file to write; its folder must exist.
        metadata: at least :data:`PREPROCESSING_METADATA` (``crop_scale`` float, ``flip`` bool,
            ``flip_permutation`` list of K ints, ``mean`` and ``std`` three floats each), and optionally
            ``source`` (str); JSON-serialisable values. The rest of :data:`REQUIRED_METADATA` is added here.
        opset: ONNX opset, one of :data:`SUPPORTED_OPSETS`.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: a missing metadata entry, a flip permutation of the wrong length, or an unsupported opset.
    """
    onnx = _require("onnx", "ONNX export")
    _check_export_arguments(network, metadata, opset)
    height, width = network.codec.input_size
    device = next(network.parameters(), torch.empty(0)).device
    example = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0)).to(device)
    num_landmarks = _num_landmarks(network, example)
    if len(metadata["flip_permutation"]) != num_landmarks:
        raise ValueError(f"metadata flip_permutation has {len(metadata['flip_permutation'])} entries, "
                         f"the network {num_landmarks} landmarks")
    model = _traced_onnx(network, example, opset)
    _declare_output_shapes(model, num_landmarks)
    entries = {
        **metadata,
        **_codec_metadata(network.codec),
        "input_size": [height, width],
        "num_landmarks": num_landmarks,
        "h3r_version": __version__,
    }
    _set_metadata(model, entries)
    onnx.checker.check_model(model, full_check=True)
    path = Path(path)
    with atomic_path(path) as temporary:
        onnx.save_model(model, temporary)
    return path


def max_difference(network: DecodingNetwork, runner: "OnnxRunner", crops: torch.Tensor) -> float:
    """Largest |PyTorch − ONNX Runtime| landmark coordinate on ``crops`` (N, 3, H, W), in crop pixels."""
    with torch.inference_mode():
        expected, _ = network(crops)
    keypoints, _ = runner(crops)
    return (keypoints - expected).abs().max().item() if keypoints.numel() else 0.0


class OnnxRunner:
    """Runs an exported landmark model on the CPU with ONNX Runtime: crops in, landmarks out.

    Args:
        path: a ``.onnx`` file written by :func:`export_onnx`.
        threads: ONNX Runtime's intra-op threads; None for its default (one per physical core).

    Attributes:
        metadata: the file's settings (:data:`REQUIRED_METADATA`, ``input_size``/``mean``/``std`` as
            tuples), e.g. ``metadata["input_size"] == (256, 256)``.

    Raises:
        OnnxModelError: (a ``ValueError``) naming the file when it is missing, is not an ONNX model, or
            lacks the inputs, outputs or metadata of an h3r export.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None):
        self.path = Path(path)
        self.session = _session(self.path, threads)
        self.metadata = _read_metadata(self.session, self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def input_size(self) -> tuple[int, int]:
        """(H, W) of the crops, pixels."""
        return self.metadata["input_size"]

    @property
    def num_landmarks(self) -> int:
        return self.metadata["num_landmarks"]

    def __call__(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, 3, H, W) normalised crops → (N, K, 2) float32 landmarks in crop pixels and (N, K) scores.

        Runs on the CPU whatever the device of ``crops``; returns CPU tensors. N may be 0.
        """
        height, width = self.input_size
        batch = check_shape("crops", crops, f"N 3 {height} {width}")["N"]
        if batch == 0:
            return torch.zeros(0, self.num_landmarks, 2), torch.zeros(0, self.num_landmarks)
        array = crops.detach().to("cpu", torch.float32).contiguous().numpy()
        keypoints, scores = self.session.run(list(OUTPUT_NAMES), {INPUT_NAME: array})
        return torch.from_numpy(keypoints), torch.from_numpy(scores)


def _check_export_arguments(network: DecodingNetwork, metadata: Mapping[str, Any], opset: int) -> None:
    if not isinstance(network, DecodingNetwork):
        raise ValueError(f"network must be a DecodingNetwork, got {type(network).__name__}")
    missing = [key for key in PREPROCESSING_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"metadata lacks {', '.join(missing)}; export needs {', '.join(PREPROCESSING_METADATA)}")
    if opset not in SUPPORTED_OPSETS:
        raise ValueError(f"opset must be in {SUPPORTED_OPSETS.start}..{SUPPORTED_OPSETS.stop - 1}, got {opset!r}")


def _codec_metadata(codec: Codec) -> dict[str, Any]:
    """The codec's name and stride, and its ``topk`` if it decodes by top-k averaging."""
    entries = {"codec": codec.name, "stride": codec.stride}
    return {**entries, "topk": codec.topk} if isinstance(codec, H3RCodec) else entries


def _num_landmarks(network: DecodingNetwork, example: torch.Tensor) -> int:
    """K of ``network``'s landmarks on ``example``, run in eval mode (the modules' modes are restored)."""
    modes = {module: module.training for module in network.modules()}
    network.eval()
    try:
        with torch.inference_mode():
            return network(example)[0].shape[1]
    finally:
        for module, training in modes.items():
            module.training = training


def _declare_output_shapes(model, num_landmarks: int) -> None:
    """Declare the outputs (N, K, 2) and (N, K): tracing leaves K symbolic after some heads."""
    for output, trailing in zip(model.graph.output, ([num_landmarks, 2], [num_landmarks])):
        for dim, size in zip(output.type.tensor_type.shape.dim[1:], trailing, strict=True):
            dim.Clear()
            dim.dim_value = size


def _traced_onnx(network: DecodingNetwork, example: torch.Tensor, opset: int):
    """The ONNX ``ModelProto`` of ``network`` traced on ``example``, batch axis dynamic."""
    onnx = _require("onnx", "ONNX export")
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # h3r's Python-level shape checks and branches see only sizes the export fixes (channels, spatial
        # size, K); those on the batch size hold for any batch, which the tests verify at batch 1 and 5.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"h3r\.")
        # The exporter's own deprecation notices (see the module docstring for why it is used).
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx\.")
        torch.onnx.export(
            network,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes={name: {0: BATCH_AXIS} for name in (INPUT_NAME, *OUTPUT_NAMES)},
        )
    return onnx.load_model_from_string(buffer.getvalue())


def _set_metadata(model, entries: Mapping[str, Any]) -> None:
    """Store ``entries`` JSON-encoded in the model's ``metadata_props``, and name h3r as its producer."""
    onnx = _require("onnx", "ONNX export")
    onnx.helper.set_model_props(model, {key: json.dumps(value) for key, value in entries.items()})
    model.producer_name = "h3r"
    model.producer_version = __version__
    model.doc_string = "h3r landmark model: crops (N, 3, H, W) -> keypoints (N, K, 2) crop pixels, scores (N, K)"


def _session(path: Path, threads: int | None):
    """A CPU ONNX Runtime session for ``path``, or :class:`OnnxModelError` naming it."""
    onnxruntime = _require("onnxruntime", "running ONNX models")
    if not path.is_file():
        raise OnnxModelError(f"{path}: file not found")
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        raise OnnxModelError(f"{path}: cannot load as an ONNX model: {_first_line(error)}") from error
    inputs = [node.name for node in session.get_inputs()]
    outputs = [node.name for node in session.get_outputs()]
    if inputs != [INPUT_NAME] or sorted(outputs) != sorted(OUTPUT_NAMES):
        raise OnnxModelError(
            f"{path}: not an h3r landmark model: expected input {INPUT_NAME!r} and outputs "
            f"{', '.join(map(repr, OUTPUT_NAMES))}, got inputs {inputs} and outputs {outputs}"
        )
    return session


def _read_metadata(session, path: Path) -> dict[str, Any]:
    """The JSON-decoded metadata of an export, with :data:`TUPLE_METADATA` as tuples."""
    stored = session.get_modelmeta().custom_metadata_map
    missing = [key for key in REQUIRED_METADATA if key not in stored]
    if missing:
        raise OnnxModelError(f"{path}: not an h3r export: its metadata lacks {', '.join(missing)}")
    try:
        metadata = {key: json.loads(value) for key, value in stored.items()}
    except json.JSONDecodeError as error:
        raise OnnxModelError(f"{path}: metadata is not JSON: {error}") from error
    for key in TUPLE_METADATA:
        metadata[key] = _as_tuple(metadata[key], key, path)
    return metadata


def _as_tuple(value: Any, key: str, path: Path) -> tuple:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise OnnxModelError(f"{path}: metadata {key} must be a list, got {value!r}")
    return tuple(value)


def _require(module: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise an ``ImportError`` saying which pip package provides it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{purpose} needs the Python module {module!r}: pip install '{module}'") from error


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
