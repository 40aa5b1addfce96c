"""Two-process DDP on CPU (gloo): both processes end with the same weights, which the checkpoint holds.

Fabric starts the second process by re-running the command line (``trainer.devices=2``), or takes both
from torchrun's environment; so each run is a script in a subprocess.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from h3r.engine.checkpoint import read_checkpoint

RUNNER = """
import json, sys
import torch, torch.distributed as dist
from h3r.engine.config import validate_config
from h3r.engine.train import train
result = train(validate_config(json.loads(sys.argv[1])))
torch.save(result.model.state_dict(), f"{sys.argv[2]}/rank{dist.get_rank()}.pt")
"""

TORCHRUN = Path(sys.executable).parent / "torchrun"


def run_two_processes(configure, tmp_path: Path, launcher: list[str], devices) -> str:
    """Train the tiny config on 2 CPU processes; returns the output of the run."""
    config = configure(tmp_path / "run", trainer={"devices": devices, "strategy": "ddp"}, optim={"batch_size": 2})
    script = tmp_path / "ddp_run.py"
    script.write_text(RUNNER)
    command = [*launcher, str(script), json.dumps(config.to_dict()), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def assert_same_weights(tmp_path: Path) -> None:
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    saved = read_checkpoint(tmp_path / "run" / "last.ckpt")["model"]
    for name, value in ranks[0].items():
        assert torch.equal(ranks[1][name], value), name
        assert torch.equal(saved[name], value), name


def test_two_gloo_processes_end_with_identical_weights(configure, tmp_path):
    output = run_two_processes(configure, tmp_path, [sys.executable], devices=2)
    assert "2 process(es) on cpu" in output and "epoch 2/2:" in output
    assert_same_weights(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which(str(TORCHRUN)) is None, reason="needs torchrun beside the Python executable")
def test_torchrun_processes_end_with_identical_weights(configure, tmp_path):
    launcher = [str(TORCHRUN), "--standalone", "--nproc_per_node=2"]
    output = run_two_processes(configure, tmp_path, launcher, devices="auto")
    assert "2 process(es) on cpu" in output
    assert_same_weights(tmp_path)
