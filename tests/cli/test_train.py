"""``h3r train``: config errors as usage errors, --print-config, a tiny run, and the run-folder guards."""

import pytest
import yaml
from click.testing import CliRunner
from engine.tiny_faces import tiny_config, write_tiny_300w

from h3r.cli.main import cli


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return write_tiny_300w(tmp_path_factory.mktemp("faces"))


@pytest.fixture
def config_file(faces, tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(faces, tmp_path / "run")))
    return path


def test_config_errors_are_usage_errors_naming_the_key(config_file):
    result = CliRunner().invoke(cli, ["train", str(config_file), "optim.lrr=0.1", "data.box=face"])
    assert result.exit_code == 2
    assert "optim.lrr: unknown key; did you mean 'lr'?" in result.output
    assert "data.box: bad value 'face'" in result.output
    result = CliRunner().invoke(cli, ["train", str(config_file.parent / "missing.yaml")])
    assert result.exit_code == 2 and "config file not found" in result.output


def test_print_config_shows_the_resolved_overridden_config(config_file):
    result = CliRunner().invoke(cli, ["train", str(config_file), "optim.lr=5e-4", "--print-config"])
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert resolved["optim"]["lr"] == 5e-4 and resolved["augment"]["rotation"] == 30.0
    assert not (config_file.parent / "run").exists()


def test_a_tiny_run_then_the_guards_of_its_folder(config_file):
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(config_file)])
    assert result.exit_code == 0, result.output
    assert "epoch 2/2:" in result.output and "best validation NME" in result.output
    run = config_file.parent / "run"
    assert (run / "last.ckpt").is_file() and (run / "best.ckpt").is_file()
    result = runner.invoke(cli, ["train", str(config_file)])
    assert result.exit_code == 1 and "--resume" in result.output and "--force" in result.output
    result = runner.invoke(cli, ["train", str(config_file), "optim.epochs=3", "--resume"])
    assert result.exit_code == 0, result.output
    assert "resuming" in result.output and "epoch 3/3:" in result.output and "epoch 2/3:" not in result.output


def test_a_missing_dataset_names_the_key(config_file, tmp_path):
    result = CliRunner().invoke(cli, ["train", str(config_file), f"data.train=300w:{tmp_path / 'nowhere'}"])
    assert result.exit_code == 1 and "data.train: " in result.output and "nowhere" in result.output


def test_a_moved_run_resumes_from_its_folder(config_file, tmp_path):
    """``h3r train RUN_DIR --resume``: the run's own config.yaml, its output_dir where the run now lies."""
    runner = CliRunner()
    result = runner.invoke(cli, ["train", str(config_file), "optim.epochs=1", "optim.milestones=[]"])
    assert result.exit_code == 0, result.output
    moved = tmp_path / "elsewhere" / "run"
    moved.parent.mkdir()
    (tmp_path / "run").rename(moved)
    result = runner.invoke(cli, ["train", str(moved), "optim.epochs=2", "--resume"])
    assert result.exit_code == 0, result.output
    assert f"resuming {moved} after epoch 1" in result.output and "epoch 2/2:" in result.output
    assert yaml.safe_load((moved / "config.yaml").read_text())["output_dir"] == str(moved)
