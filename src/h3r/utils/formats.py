"""Self-describing files (checkpoints, bundles): a ``format`` name and a ``version`` number checked on reading;
torch files loaded safely, with messages that never advise loading them unsafely."""

import pickle
from pathlib import Path

import torch


def check_format(document, path: Path, name: str, version: int, kind: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` unless ``document`` is a dict of ``format`` ``name`` and ``version``.

    ``kind`` says what the file should be, e.g. ``"checkpoint"``: "not an h3r checkpoint", "checkpoint version 2".
    """
    if not isinstance(document, dict) or document.get("format") != name:
        raise error(f"{path}: not an h3r {kind} (no format: {name!r})")
    if document.get("version") != version:
        raise error(f"{path}: {kind} version {document.get('version')!r}; this h3r reads version {version}")


def load_torch_file(path: Path, error: type[Exception], what: str):
    """``torch.load(path, weights_only=True)`` onto the CPU: tensors and plain values, never other objects.

    Raises:
        error: naming ``path``, ``what`` it should be (e.g. ``"checkpoint"``) and ``torch_load_problem``.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as problem:  # noqa: BLE001 (torch raises pickle, zip, runtime, key errors, ...)
        raise error(f"{path}: cannot read the {what}: {torch_load_problem(problem)}") from None


def torch_load_problem(error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed, in one line. torch's own message for a file it refuses to
    unpickle advises loading it with ``weights_only=False``, which would run any code the file holds: h3r never
    passes that on."""
    if isinstance(error, pickle.UnpicklingError):
        return (
            "not a PyTorch file of tensors and plain values: it is damaged, or holds other Python objects, "
            "which h3r never unpickles"
        )
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
