"""Writing output files safely: whole or not at all, and never over a file they should not replace.

Atomic writes (``atomic_path``, ``atomic_write_text``, ``atomic_write_bytes``): the data goes to a temporary
file beside the destination (``.NAME.<random>.tmp<suffix>``), is flushed to disk, and replaces the
destination in one ``os.replace``. A process killed meanwhile leaves the old file (or none) and at worst a
stray temporary file, never a half-written destination.

The output guard (``check_output``): unless forced, a command does not write over one of its inputs, nor
over an existing file that is not of the kind it writes (JSON over a photograph, an overlay PNG over a
JPEG). An existing file of the same kind, such as the JSON of an earlier run, is replaced; so is an empty
file. Kinds are told by their first bytes (``OUTPUT_KINDS``), not by their names.
"""

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["OUTPUT_KINDS", "OutputError", "atomic_path", "atomic_write_bytes", "atomic_write_text", "check_output"]

_HEAD_BYTES = 512


def _starts_json(head: bytes) -> bool:
    return head.lstrip()[:1] in (b"{", b"[")


def _is_figure(head: bytes) -> bool:
    return head.startswith((b"\x89PNG\r\n\x1a\n", b"%PDF", b"%!PS")) or b"<svg" in head or head.startswith(b"<?xml")


def _is_csv(head: bytes) -> bool:
    """UTF-8 text whose first line holds a comma (and is no JSON)."""
    try:
        first = head.split(b"\n", 1)[0].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "," in first and not _starts_json(head)


OUTPUT_KINDS: dict[str, tuple[str, Callable[[bytes], bool]]] = {
    "json": ("a JSON file", _starts_json),
    "jsonl": ("a JSON Lines file", _starts_json),
    "png": ("a PNG image", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    "figure": ("a figure (PNG, PDF, PostScript or SVG)", _is_figure),
    "onnx": ("an ONNX model", lambda head: head[:1] == b"\x08"),  # a ModelProto opens with its ir_version field
    "csv": ("a CSV file", _is_csv),
    "mp4": ("an MP4 video", lambda head: head[4:8] == b"ftyp"),  # the ISO media file's first box
}
"""Output kind → (what it is, in messages; a test of a file's first bytes)."""


class OutputError(ValueError):
    """An output that would overwrite an input, a folder, or a file of another kind; names the path."""


def check_output(
    path: str | os.PathLike, kind: str, *, inputs: Iterable[str | os.PathLike] = (), force: bool = False
) -> None:
    """Check that a ``kind`` output (a key of ``OUTPUT_KINDS``) may be written to ``path``.

    Args:
        path: the output file.
        kind: what will be written there.
        inputs: the files the command reads; ``path`` must not be one of them (links and other names of
            the same file included).
        force: allow overwriting inputs and files of other kinds (never a folder).

    Raises:
        OutputError: ``path`` is a folder, one of ``inputs``, or an existing non-empty file that does not
            look like a ``kind`` file; the message names it and says that ``--force`` overwrites it.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    if force or not path.is_file():
        return
    if any(_same_file(path, Path(source)) for source in inputs):
        raise OutputError(f"{path}: is one of the inputs; not overwriting it (--force does)")
    name, looks_right = OUTPUT_KINDS[kind]
    with open(path, "rb") as file:
        head = file.read(_HEAD_BYTES)
    if head and not looks_right(head):
        raise OutputError(f"{path}: exists and is not {name}; not overwriting it (--force does)")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary file beside ``path`` to write to; when the block ends without an error it is flushed to
    disk and replaces ``path`` (keeping ``path``'s permissions, or the umask's for a new file), else it is
    deleted. The temporary file keeps ``path``'s suffix, for writers that choose the format by it.

    Examples:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     with atomic_path(Path(folder) / "a.txt") as temporary:
        ...         _ = temporary.write_text("whole")
        ...     (Path(folder) / "a.txt").read_text(), len(list(Path(folder).iterdir()))
        ('whole', 1)
    """
    path = Path(path)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, path.stat().st_mode if path.is_file() else 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_path``)."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def _same_file(a: Path, b: Path) -> bool:
    return b.exists() and os.path.samefile(a, b)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
