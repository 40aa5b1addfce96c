"""Atomic writes leave the old file or the whole new one; the output guard keeps inputs and other kinds of files."""

import os

import numpy as np
import pytest
from PIL import Image

from h3r.utils.io import OutputError, atomic_path, atomic_write_text, check_output


def test_an_atomic_write_replaces_the_file_whole_and_keeps_its_permissions(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and (path.stat().st_mode & 0o777) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "overlay.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(path) as temporary:
        assert temporary.suffix == ".png" and temporary.parent == tmp_path
        temporary.write_bytes(b"half")
        raise RuntimeError("killed while writing")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["overlay.png"]


def test_a_new_file_gets_the_umask_permissions(tmp_path):
    mask = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "new.txt", "x")
    finally:
        os.umask(mask)
    assert ((tmp_path / "new.txt").stat().st_mode & 0o777) == 0o640


def write_jpeg(path):
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    return path


def test_outputs_never_overwrite_inputs_even_of_their_kind(tmp_path):
    record = tmp_path / "boxes.json"
    record.write_text("{}")
    with pytest.raises(OutputError, match="boxes.json: is one of the inputs; not overwriting it .--force does."):
        check_output(record, "json", inputs=[record])
    (tmp_path / "link.json").symlink_to(record)
    with pytest.raises(OutputError, match="is one of the inputs"):
        check_output(tmp_path / "link.json", "json", inputs=[record])
    check_output(record, "json", inputs=[record], force=True)


def test_outputs_never_overwrite_files_of_another_kind(tmp_path):
    photo = write_jpeg(tmp_path / "photo.jpg")
    with pytest.raises(OutputError, match="photo.jpg: exists and is not a JSON file"):
        check_output(photo, "json")
    with pytest.raises(OutputError, match="exists and is not a PNG image"):
        check_output(photo, "png")
    (tmp_path / "a.pts").write_text("version: 1\nn_points: 68\n{\n")
    with pytest.raises(OutputError, match="a.pts: exists and is not a JSON file"):
        check_output(tmp_path / "a.pts", "json")
    check_output(photo, "json", force=True)
    with pytest.raises(OutputError, match="is a folder"):
        check_output(tmp_path, "json", force=True)


def test_outputs_replace_files_of_their_kind_empty_files_and_nothing(tmp_path):
    (tmp_path / "old.json").write_text('\n  {"images": []}')
    (tmp_path / "empty.json").write_bytes(b"")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "old.png")
    check_output(tmp_path / "old.json", "json")
    check_output(tmp_path / "empty.json", "json")
    check_output(tmp_path / "old.png", "png")
    check_output(tmp_path / "old.png", "figure")
    check_output(tmp_path / "new.json", "json", inputs=[tmp_path / "old.json"])
