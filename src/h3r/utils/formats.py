"""Self-describing files (checkpoints, bundles): a ``format`` name and a ``version`` number checked on reading."""

from pathlib import Path


def check_format(document, path: Path, name: str, version: int, kind: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` unless ``document`` is a dict of ``format`` ``name`` and ``version``.

    ``kind`` says what the file should be, e.g. ``"checkpoint"``: "not an h3r checkpoint", "checkpoint version 2".
    """
    if not isinstance(document, dict) or document.get("format") != name:
        raise error(f"{path}: not an h3r {kind} (no format: {name!r})")
    if document.get("version") != version:
        raise error(f"{path}: {kind} version {document.get('version')!r}; this h3r reads version {version}")
