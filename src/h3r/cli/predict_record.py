"""``h3r predict``'s results file and the record that lets a killed run be resumed.

With ``--json FILE``, each image is appended to the record ``FILE.partial.jsonl`` as soon as it is done (or
has failed): one JSON object per line, flushed, either the image's entry of the final JSON (``{"path",
"faces": [...], "overlay"}``) or ``{"path", "error"}``. However the run ends (finished, failed, Ctrl-C, SIGTERM
from ``timeout`` or a job scheduler), FILE is written atomically, ``{"images": [...], "failed": [...]}`` in
the order of the inputs, and the record is deleted. A run killed outright (``kill -9``, the out-of-memory
killer, a power cut) leaves the record, whose lines are whole up to the last image done.

``--resume`` takes the images done from the record, or if there is none from FILE, skips them, and tries
the others, those that failed included; it starts the new record with the entries it took, so that it can
itself be killed and resumed. It trusts the record to come from the same command.
"""

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from h3r.utils.io import atomic_write_text

__all__ = ["RecordError", "earlier_results", "open_record", "record_path", "write_results"]


class RecordError(ValueError):
    """A record or results file that cannot be read to resume from; names the file (and line)."""


def record_path(json_path: Path) -> Path:
    """The record beside the results file: ``FILE.partial.jsonl``."""
    return json_path.with_name(json_path.name + ".partial.jsonl")


def earlier_results(json_path: Path) -> dict[str, dict]:
    """The entries of the images an earlier run did (not those that failed), by path: from its record if it
    left one, else from its results file; empty if there is neither.

    Raises:
        RecordError: a file that is not such a record or results file, naming it (and the line).
    """
    record = record_path(json_path)
    if record.is_file():
        entries = _record_entries(record)
    elif json_path.is_file():
        entries = _results_entries(json_path)
    else:
        return {}
    return {entry["path"]: entry for entry in entries if "error" not in entry}


@contextmanager
def open_record(json_path: Path, earlier: dict[str, dict]) -> Iterator[Callable[[dict], None]]:
    """Start the record of ``json_path`` with the ``earlier`` entries (written atomically), and yield the
    function that appends an entry to it, one flushed line each."""
    path = record_path(json_path)
    atomic_write_text(path, "".join(map(_line, earlier.values())))
    with open(path, "a", encoding="utf-8") as file:

        def add(entry: dict) -> None:
            file.write(_line(entry))
            file.flush()

        yield add


def write_results(json_path: Path, images: list[Path], entries: dict[str, dict]) -> None:
    """Write the results file (atomically) of the ``entries`` of ``images``, in their order, and delete the
    record: ``{"images": [entries done], "failed": [{"path", "error"}]}``.

    Raises:
        ValueError: an entry holding a number that is not finite (JSON has no NaN).
    """
    ordered = [entries[str(path)] for path in images if str(path) in entries]
    done = [entry for entry in ordered if "error" not in entry]
    failed = [entry for entry in ordered if "error" in entry]
    atomic_write_text(json_path, json.dumps({"images": done, "failed": failed}, allow_nan=False) + "\n")
    record_path(json_path).unlink(missing_ok=True)


def _line(entry: dict) -> str:
    return json.dumps(entry, allow_nan=False) + "\n"


def _record_entries(path: Path) -> list[dict]:
    """The entries of a record; a last line cut short by a kill is left out."""
    lines = _text(path).splitlines()
    entries = []
    for number, line in enumerate(lines, start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break  # torn by the kill
            raise RecordError(f"{path} line {number}: not JSON; not an h3r predict record") from None
        if not isinstance(entry, dict) or "path" not in entry:
            raise RecordError(f"{path} line {number}: not an image entry with a path; not an h3r predict record")
        entries.append(entry)
    return entries


def _results_entries(path: Path) -> list[dict]:
    try:
        results = json.loads(_text(path))
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not JSON ({error}); not an h3r predict results file") from None
    if not isinstance(results, dict) or not isinstance(results.get("images"), list):
        raise RecordError(f"{path}: no list of images; not an h3r predict results file")
    if not all(isinstance(entry, dict) and "path" in entry for entry in results["images"]):
        raise RecordError(f"{path}: an image entry without a path; not an h3r predict results file")
    return results["images"]


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: cannot read ({error})") from None
