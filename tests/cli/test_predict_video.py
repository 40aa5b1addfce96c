"""``h3r predict`` on videos: JSON Lines, CSV and overlay video of one clip agree frame by frame, frame folders,
the example clip, clear errors and protected outputs."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from h3r.cli.main import cli
from h3r.data.video import EXAMPLE_VIDEO_NAME, open_video, read_frames, write_example_video

FRAMES = 4


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """The example clip, short and small: 4 frames of 150 x 128 pixels."""
    return write_example_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=FRAMES, size=(150, 128))


def run(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args), "--threads", "1"])


def test_a_clip_gives_json_lines_csv_and_an_overlay_video_that_agree(clip, tmp_path):
    out, json_path = tmp_path / "out", tmp_path / "clip.jsonl"
    result = run(clip, "--out", out, "--json", json_path, "--detect-every", 2, "--smooth")
    assert result.exit_code == 0, result.output
    assert f"{FRAMES} frames, {FRAMES} faces in them, 1 face ids" in result.output and "frames per second" in result.output
    frames = [json.loads(line) for line in json_path.read_text().splitlines()]
    assert [f["frame"] for f in frames] == list(range(FRAMES))
    assert [f["time"] for f in frames] == pytest.approx([t / 30 for t in range(FRAMES)], abs=1e-6)
    assert [[face["id"] for face in f["faces"]] for f in frames] == [[0]] * FRAMES
    assert [f["faces"][0]["detected"] for f in frames] == [True, False, False, False]
    face = frames[2]["faces"][0]
    assert np.array(face["landmarks"]).shape == (68, 2) and len(face["scores"]) == 68 and len(face["box"]) == 4
    with open(tmp_path / "clip.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["frame", "time", "face", "point", "x", "y", "score"] and len(rows) == 1 + FRAMES * 68
    frame, _, face_id, point, x, y, score = rows[1 + 2 * 68 + 30]
    assert (int(frame), int(face_id), int(point)) == (2, 0, 30)
    assert [float(x), float(y), float(score)] == [*face["landmarks"][30], face["scores"][30]]
    overlay = open_video(out / "clip_landmarks.mp4")
    assert (overlay.size, overlay.fps) == ((150, 128), 30.0)
    assert len(list(read_frames(overlay))) == FRAMES


def test_a_folder_of_frames_with_video(clip, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(read_frames(open_video(clip))):
        Image.fromarray(image).save(folder / f"{index:03d}.png")
    json_path = tmp_path / "frames.jsonl"
    result = run(folder, "--video", "--fps", 10, "--json", json_path)
    assert result.exit_code == 0, result.output
    frames = [json.loads(line) for line in json_path.read_text().splitlines()]
    assert [f["time"] for f in frames] == pytest.approx([0.0, 0.1, 0.2, 0.3])
    assert all([face["id"] for face in f["faces"]] == [0] for f in frames)


def test_the_example_video_comes_from_the_cache(clip, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    (tmp_path / "h3r").mkdir()
    (tmp_path / "h3r" / EXAMPLE_VIDEO_NAME).write_bytes(clip.read_bytes())  # made once, then reused
    result = run("--example-video", "--json", tmp_path / "example.jsonl")
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "example.jsonl").read_text().splitlines()) == FRAMES


def test_an_unreadable_video_is_named(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing else")
    result = run(bad, "--json", tmp_path / "broken.jsonl")
    assert result.exit_code == 1
    assert f"{bad}: cannot read as a video" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "broken.jsonl").exists()


def test_usage_errors_and_protected_outputs(clip, tmp_path):
    image = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    (tmp_path / "photo.csv").write_bytes(image.read_bytes())  # where the CSV of --json photo.jsonl would go
    cases = [
        ((clip, image), "a video is predicted on its own"),
        ((image, "--video"), "is neither a folder of frames nor a video file"),
        ((clip, "--resume", "--json", tmp_path / "r.jsonl"), "a video run starts over"),
        ((clip, "--boxes", image), "--boxes serves images"),
        ((tmp_path, "--video", "--json", tmp_path / "x.csv"), "the CSV is written beside it"),
        ((clip, "--json", clip), "is one of the inputs"),
        ((clip, "--json", tmp_path / "photo.jsonl"), "photo.csv: exists and is not a CSV file"),
    ]
    for arguments, message in cases:
        result = run(*arguments)
        assert result.exit_code == 2 and message in result.output, (arguments, result.output)
