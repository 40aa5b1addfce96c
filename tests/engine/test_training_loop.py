"""A tiny end-to-end training run: checkpoints, logs, run-folder safety, and clear errors for bad data."""

import csv
import shutil

import numpy as np
import pytest
import torch

from h3r.engine.checkpoint import model_from_checkpoint, read_checkpoint
from h3r.engine.config import ConfigError
from h3r.engine.train import RunError, _check_resumable, load_faces, train
from h3r.load import load_detector


@pytest.fixture(scope="module")
def finished(configure, tmp_path_factory):
    """A 2-epoch run on the tiny faces, and its config."""
    config = configure(tmp_path_factory.mktemp("finished") / "run")
    return train(config), config


def test_a_run_writes_checkpoints_config_and_logs(finished):
    result, _ = finished
    files = {path.name for path in result.run_dir.iterdir()}
    assert {"last.ckpt", "best.ckpt", "config.yaml", "metrics.csv"} <= files
    assert any(name.startswith("events.out.tfevents.") for name in files)
    assert not any(name.endswith(".tmp") for name in files)
    assert result.epochs == 2 and len(result.history) == 2
    assert result.metric == "nme" and result.best == min(row["val_nme"] for row in result.history)
    with open(result.run_dir / "metrics.csv") as file:
        rows = list(csv.DictReader(file))
    assert [int(row["epoch"]) for row in rows] == [1, 2]
    columns = {"lr", "train_loss", "val_loss", "val_nme", "val_nme_inter_pupil", "val_fr@0.10", "val_auc@0.10"}
    assert columns <= set(rows[0])


def test_the_checkpoint_describes_itself_and_rebuilds_the_model(finished):
    result, config = finished
    checkpoint = read_checkpoint(result.run_dir / "last.ckpt")
    assert checkpoint["epoch"] == 2 and checkpoint["config"] == config.to_dict()
    assert checkpoint["codec"] == {"name": "h3r", "settings": {"input_size": 32, "stride": 4, "topk": 4}}
    assert checkpoint["scheme"]["num_landmarks"] == 68 and len(checkpoint["scheme"]["flip_permutation"]) == 68
    assert checkpoint["model_args"]["head"] == "binary" and checkpoint["model_args"]["width_mult"] == 0.25
    assert {"optimizer", "scheduler", "rng", "history", "best_nme", "best_epoch"} <= set(checkpoint)
    model = model_from_checkpoint(checkpoint)
    for name, value in result.model.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    best = read_checkpoint(result.run_dir)  # a run folder means its best.ckpt
    assert best["epoch"] == result.best_epoch


def test_a_checkpoint_gives_a_detector_in_image_pixels(finished):
    result, _ = finished
    detector = load_detector(result.run_dir, batch_size=1)
    assert detector.input_size == 32 and detector.num_landmarks == 68 and detector.flip
    landmarks, scores = detector.predict(np.zeros((64, 64, 3), np.uint8), [[10, 10, 50, 50]])
    assert landmarks.shape == (1, 68, 2) and scores.shape == (1, 68)
    assert np.isfinite(landmarks).all()


def test_an_existing_run_is_neither_overwritten_nor_resumed_by_accident(tiny):
    config = tiny(optim={"epochs": 2})
    first = train(config)
    with pytest.raises(RunError, match="already exists and is not empty.*--resume.*--force"):
        train(config)
    with pytest.raises(RunError, match="either --resume .* or --force"):
        train(config, resume=True, force=True)
    again = train(config, force=True)
    assert again.history[0]["train_loss"] == first.history[0]["train_loss"]
    with pytest.raises(ConfigError, match="cannot resume with a different config: optim.lr changed"):
        train(tiny(optim={"epochs": 3, "lr": 0.01}), resume=True)


def test_a_run_can_start_from_another_model(finished, tiny, tmp_path):
    """``model.init`` starts from a finished run's weights (an epoch at a learning rate of 1e-9 keeps them);
    a model that is not there is named."""
    result, _ = finished
    started = train(tiny(model={"width_mult": 0.25, "init": str(result.run_dir / "last.ckpt")}, optim={"epochs": 1,
                    "lr": 1e-9, "warmup_epochs": 0, "schedule": "constant"}))  # fmt: skip
    ended = dict(result.model.named_parameters())
    for name, value in started.model.named_parameters():
        torch.testing.assert_close(value, ended[name], atol=1e-6, rtol=0, msg=name)
    with pytest.raises(RunError, match="model.init: nowhere: no such model folder"):
        train(tiny(model={"init": "nowhere"}), force=True)


def test_resume_needs_a_last_checkpoint(tiny):
    with pytest.raises(RunError, match="cannot resume: .*last.ckpt not found"):
        train(tiny(), resume=True)


def test_missing_and_empty_datasets_name_the_key(tiny, tmp_path):
    with pytest.raises(RunError, match="data.train: .*nowhere.*not a folder"):
        load_faces(tiny(data={"train": f"300w:{tmp_path / 'nowhere'}"}))
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "bad.pts").write_text("not a pts file\n")
    with pytest.raises(RunError, match=r"data.train: .*empty has no faces \(all 1 skipped as bad"):
        load_faces(tiny(data={"train": f"300w:{tmp_path / 'empty'}", "skip_bad": True}))
    with pytest.raises(RunError, match="data.val: "):
        load_faces(tiny(data={"val": f"300w:{tmp_path / 'nowhere'}", "val_split": None}))


def test_a_split_that_leaves_no_validation_face_is_an_error(tiny):
    with pytest.raises(RunError, match="every_20th of the 12 faces .* leaves 12 for training and 0 for validation"):
        load_faces(tiny(data={"val_split": "every_20th"}))


def test_the_validation_split_is_every_nth_face(tiny):
    train_faces, val_faces = load_faces(tiny())
    assert (len(train_faces), len(val_faces)) == (9, 3)
    assert not {s.image_path for s in train_faces} & {s.image_path for s in val_faces}


def test_a_batch_larger_than_the_data_is_an_error(tiny):
    with pytest.raises(RunError, match="optim.batch_size: 16 per process .* more than the 9 training faces"):
        train(tiny(optim={"batch_size": 16}))


@pytest.mark.parametrize(
    ("codec", "loss"),
    [({"name": "dark", "settings": {"sigma": 1.0}}, "mse"), ({"name": "soft-argmax", "settings": {}}, "l1")],
)
def test_heatmap_codecs_train_with_their_losses(tiny, codec, loss):
    config = tiny(codec=codec, optim={"epochs": 2})
    assert config.loss_name == loss
    result = train(config)
    assert result.model.head.__class__.__name__ == "HeatmapHead"
    assert np.isfinite(result.history[-1]["train_loss"])


def test_predict_takes_a_run_folder_or_a_checkpoint_file(finished):
    """``LandmarkDetector.from_pretrained`` (what ``h3r predict --model`` calls) accepts training runs."""
    from h3r import LandmarkDetector

    result, _ = finished
    image, box = np.zeros((64, 64, 3), np.uint8), [[10, 10, 50, 50]]
    expected, _ = load_detector(result.run_dir).predict(image, box)
    for source in (result.run_dir, result.run_dir / "best.ckpt"):
        landmarks, _ = LandmarkDetector.from_pretrained(source).predict(image, box)
        np.testing.assert_array_equal(landmarks, expected)


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def copy_faces(source, target):
    shutil.copytree(source, target)
    return target


def test_a_corrupt_image_is_named_before_training_or_skipped_and_listed(tiny_300w, tiny, tmp_path, capsys):
    """Every image is decoded before the first epoch: a truncated JPEG stops the run naming the file, or with
    ``data.skip_bad`` its face is left out, and the faces left out are listed and counted."""
    faces = copy_faces(tiny_300w, tmp_path / "faces")
    broken = faces / "afw" / "face001.jpg"
    truncate(broken)  # opens, fails to decode
    with pytest.raises(RunError, match=f"data.train: {broken}: cannot decode image data .*data.skip_bad=true"):
        train(tiny(data={"train": f"300w:{faces}"}))
    result = train(tiny(data={"train": f"300w:{faces}", "skip_bad": True}, optim={"epochs": 1, "milestones": []}))
    assert result.epochs == 1
    output = capsys.readouterr().out
    assert f"skipped {broken}: cannot decode image data" in output and "skipped 1 bad faces (data.skip_bad)" in output
    assert "8 training faces, 3 validation faces" in output


def test_resume_falls_back_on_the_previous_checkpoint_when_the_last_is_damaged(tiny, capsys):
    config = tiny(optim={"epochs": 2})
    first = train(config)
    run = first.run_dir
    assert read_checkpoint(run / "previous.ckpt")["epoch"] == 1 and read_checkpoint(run / "last.ckpt")["epoch"] == 2
    truncate(run / "last.ckpt")
    capsys.readouterr()
    resumed = train(tiny(optim={"epochs": 3}), resume=True)
    output = capsys.readouterr().out
    assert f"warning: {run / 'last.ckpt'}: " in output and f"resuming from {run / 'previous.ckpt'} instead" in output
    assert "resuming" in output and "after epoch 1" in output and resumed.epochs == 3
    assert [row["train_loss"] for row in resumed.history[:1]] == [row["train_loss"] for row in first.history[:1]]
    truncate(run / "last.ckpt")
    truncate(run / "previous.ckpt")
    with pytest.raises(RunError, match=f"cannot resume {run}: {run / 'last.ckpt'}: .*; {run / 'previous.ckpt'}: "):
        train(tiny(optim={"epochs": 4}), resume=True)


def test_a_run_resumes_under_another_spelling_of_its_folder_or_moved(configure, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train(configure("runs/x", optim={"epochs": 2}))
    resumed = train(configure("./runs/x", optim={"epochs": 3}), resume=True)
    assert resumed.epochs == 3
    shutil.move("runs/x", "moved")
    resumed = train(configure("moved", optim={"epochs": 4}), resume=True)
    assert resumed.epochs == 4 and read_checkpoint(tmp_path / "moved" / "last.ckpt")["config"]["output_dir"] == "moved"


def test_a_run_saved_before_a_config_key_existed_resumes(tiny):
    """Keys added to h3r since a run started take their defaults when its saved config is compared."""
    config = tiny()
    saved = config.to_dict()
    del saved["data"]["exif_transpose"]
    _check_resumable(saved, config)
