"""Checkpoint files: clear errors for foreign or missing files, random states round-trip, loaders by kind."""

import random

import numpy as np
import pytest
import torch
from shared_data import shared_path

from h3r.engine.checkpoint import (
    CheckpointError,
    copy_atomically,
    initialise_from,
    read_checkpoint,
    resolve_checkpoint,
    restore_rng_states,
    rng_states,
)
from h3r.engine.config import ConfigError, TrainerConfig
from h3r.engine.train import _fabric_arguments
from h3r.load import load_detector, load_network
from h3r.models import build_model


def test_missing_and_foreign_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="missing.ckpt: checkpoint not found"):
        read_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(CheckpointError, match="must hold best.ckpt or last.ckpt"):
        resolve_checkpoint(tmp_path)
    (tmp_path / "text.ckpt").write_text("hello")
    with pytest.raises(CheckpointError, match="text.ckpt: cannot read the checkpoint"):
        read_checkpoint(tmp_path / "text.ckpt")
    torch.save({"state_dict": {}}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="other.ckpt: not an h3r checkpoint"):
        read_checkpoint(tmp_path / "other.ckpt")
    torch.save({"format": "h3r-checkpoint", "version": 99}, tmp_path / "future.ckpt")
    with pytest.raises(CheckpointError, match="version 99; this h3r reads version 1"):
        read_checkpoint(tmp_path / "future.ckpt")


def test_a_run_folder_resolves_to_best_then_last(tmp_path):
    (tmp_path / "last.ckpt").write_bytes(b"")
    assert resolve_checkpoint(tmp_path) == tmp_path / "last.ckpt"
    (tmp_path / "best.ckpt").write_bytes(b"")
    assert resolve_checkpoint(tmp_path) == tmp_path / "best.ckpt"


def test_random_states_survive_a_checkpoint(tmp_path):
    states = rng_states()
    torch.save(states, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.rand(5), np.random.rand(5), random.random()
    restore_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def test_an_atomic_copy_leaves_no_temporary_file(tmp_path):
    (tmp_path / "a").write_bytes(b"new")
    (tmp_path / "b").write_bytes(b"old")
    copy_atomically(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_the_authors_folders_load_as_detectors():
    folder = shared_path("official-h3r", "models", "wflw_mobilenet_128x128_p2")
    detector = load_detector(folder)
    assert detector.num_landmarks == 98 and detector.input_size == 128 and detector.flip


def test_initialising_from_another_model_copies_what_fits():
    """The bundled 68-point model starts a 14-joint network of another stride: everything but the last
    conv's weights (its landmark count differs) is copied; another backbone is refused."""
    model = build_model(num_landmarks=14, head="binary", output_stride=8)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    copied, fresh = initialise_from(model, load_network("face68"), "face68")
    source = load_network("face68").state_dict()
    assert fresh == ["head.logits.weight"] and copied == len(before) - 1
    assert torch.equal(model.state_dict()["head.logits.weight"], before["head.logits.weight"])
    for name, value in model.state_dict().items():
        if name != "head.logits.weight":
            assert torch.equal(value, source[name]), name
    with pytest.raises(ValueError, match="face68: another backbone: .* backbone tensors have no counterpart"):
        initialise_from(build_model("hrnet_w18", num_landmarks=14, head="binary"), load_network("face68"), "face68")


def test_torchrun_sets_the_process_counts(monkeypatch):
    environment = {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "RANK": "0",
                   "LOCAL_RANK": "0", "GROUP_RANK": "0", "MASTER_ADDR": "localhost", "MASTER_PORT": "1"}  # fmt: skip
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    arguments = _fabric_arguments(TrainerConfig())
    assert (arguments["devices"], arguments["num_nodes"]) == (2, 2)
    with pytest.raises(ConfigError, match="trainer.devices=3 but torchrun started 2 process"):
        _fabric_arguments(TrainerConfig(devices=3))
