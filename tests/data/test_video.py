"""Videos: frames read as RGB from files and frame folders, written as mp4v, the example clip, clear errors."""

import numpy as np
import pytest
from PIL import Image

from h3r.data import transform_points
from h3r.data.video import VideoError, open_video, read_frames, slow_motion, video_writer, write_example_video


def test_frames_written_come_back_in_order_and_in_rgb(tmp_path):
    path = tmp_path / "colours.mp4"
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    with video_writer(path, fps=12.0, size=(48, 64)) as write:
        for colour in colours:
            write(np.full((48, 64, 3), colour, np.uint8))
    video = open_video(path)
    assert (video.fps, video.frame_count, video.size, video.frames) == (12.0, 3, (48, 64), None)
    frames = list(read_frames(video))
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3) and frames[0].dtype == np.uint8
    for frame, colour in zip(frames, colours):
        assert np.abs(frame.mean(axis=(0, 1)) - colour).max() < 8  # lossy, but red stays red


def test_a_folder_of_frames_is_read_in_name_order(tmp_path):
    for name, value in (("b.png", 20), ("a.png", 10), ("c.jpg", 30)):
        Image.fromarray(np.full((8, 6, 3), value, np.uint8)).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a frame")
    video = open_video(tmp_path, frame_suffixes=(".png", ".jpg"), fps=5.0)
    assert (video.fps, video.frame_count, video.size) == (5.0, 3, (8, 6))
    assert [int(frame[0, 0, 0]) for frame in read_frames(video)] == [10, 20, 30]


def test_unreadable_videos_and_empty_folders_are_named(tmp_path):
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"this is not a video")
    with pytest.raises(VideoError, match=f"{bad}: cannot read as a video"):
        open_video(bad)
    with pytest.raises(VideoError, match="no such video file"):
        open_video(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="no frame images in the folder"):
        open_video(tmp_path, frame_suffixes=(".png",))
    with pytest.raises(VideoError, match="the frame rate must be a positive number"):
        open_video(bad, fps=0.0)
    with pytest.raises(VideoError, match=r"frames must be \(8, 8, 3\) uint8"):
        with video_writer(tmp_path / "out.mp4", 10.0, (8, 8)) as write:
            write(np.zeros((8, 9, 3), np.uint8))
    assert not (tmp_path / "out.mp4").exists()  # an interrupted video leaves no file


def test_slow_motion_starts_still_and_eases_in_and_out():
    centre = np.array([50.0, 40.0])
    matrices = slow_motion(9, centre, shift=(3.0, 2.0), zoom=0.04, angle=3.0)
    assert matrices.shape == (9, 3, 3) and np.array_equal(matrices[0], np.eye(3))
    assert transform_points(matrices[-1], centre).tolist() == pytest.approx([53.0, 42.0])  # the centre only shifts
    path = transform_points(matrices, np.broadcast_to(centre + [10.0, 0.0], (9, 1, 2)))[:, 0]
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps[0] < steps[4] and steps[-1] < steps[4]  # slow at both ends


def test_the_example_clip_is_grace_hopper_moving_slowly(tmp_path):
    video = open_video(write_example_video(tmp_path / "clip.mp4", frames=3, fps=10.0, size=(150, 128)))
    assert (video.fps, video.frame_count, video.size) == (10.0, 3, (150, 128))
    first, _, last = read_frames(video)
    assert 0 < np.abs(first.astype(int) - last.astype(int)).mean() < 40
