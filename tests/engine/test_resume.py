"""A run killed with SIGKILL during epoch 2 and resumed ends with the weights of an uninterrupted run.

Every random draw depends only on the seed and the epoch, and the checkpoint holds model, optimizer,
scheduler and random states, so on one CPU thread the resumed run repeats the lost epoch bit for bit.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from tiny_faces import tiny_config, write_tiny_300w

from h3r.engine.checkpoint import read_checkpoint
from h3r.engine.config import validate_config
from h3r.engine.train import train

RUNNER = """
import json, sys
from h3r.engine.config import validate_config
from h3r.engine.train import train
train(validate_config(json.loads(sys.argv[1])), resume=sys.argv[2] == "resume")
"""


def start(config: dict, mode: str) -> subprocess.Popen:
    command = [sys.executable, "-u", "-c", RUNNER, json.dumps(config), mode]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_during_epoch_two(process: subprocess.Popen) -> str:
    """SIGKILL the run inside epoch 2, a third of epoch 1's duration after epoch 1's line; returns its output."""
    output = []
    for line in process.stdout:
        output.append(line)
        if line.startswith("epoch 1/3:"):
            time.sleep(float(re.search(r"([\d.]+) s \(", line)[1]) / 3)
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    return "".join(output)


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Enough faces for epochs of about a second, so that the kill lands inside one."""
    return write_tiny_300w(tmp_path_factory.mktemp("resume_faces"), count=100, size=64)


def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(faces, tmp_path):
    settings = {"data": {"input_size": 64, "val_split": "every_10th"}, "optim": {"epochs": 3, "milestones": [2]}}
    whole = train(validate_config(tiny_config(faces, tmp_path / "whole", **settings)))

    config = tiny_config(faces, tmp_path / "killed", **settings)
    output = kill_during_epoch_two(start(config, "fresh"))
    assert "epoch 1/3:" in output, output
    assert read_checkpoint(tmp_path / "killed" / "last.ckpt")["epoch"] == 1, "the kill came after epoch 2 ended"

    resumed = start(config, "resume")
    output, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, output
    assert "resuming" in output and "epoch 2/3:" in output and "epoch 3/3:" in output

    final = read_checkpoint(tmp_path / "killed" / "last.ckpt")
    assert final["epoch"] == 3
    for name, value in whole.model.state_dict().items():
        assert torch.equal(final["model"][name], value), name
    for ours, theirs in zip(final["history"], whole.history, strict=True):
        timing = ("seconds", "train_images_per_s")
        assert {k: v for k, v in ours.items() if k not in timing} == {k: v for k, v in theirs.items() if k not in timing}
    with open(tmp_path / "killed" / "metrics.csv") as file:
        assert [line.split(",")[0] for line in file.read().splitlines()[1:]] == ["1", "2", "3"]
