"""``h3r evaluate``: the table, the JSON of the required keys, the CED plot, predictions, clear errors."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from engine.tiny_faces import tiny_config, write_tiny_300w
from shared_data import shared_path

from h3r.cli.main import cli
from h3r.engine.config import validate_config
from h3r.engine.train import train

REQUIRED = {"n", "nme", "fr@0.08", "fr@0.10", "auc@0.08", "auc@0.10", "subsets"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run folder of a tiny model trained for one epoch, and the spec of its faces."""
    root = tmp_path_factory.mktemp("evaluate")
    faces = write_tiny_300w(root / "faces")
    train(validate_config(tiny_config(faces, root / "run", optim={"epochs": 1, "milestones": []})))
    return root / "run", f"300w:{faces}"


def test_scores_go_to_the_table_json_plot_and_predictions(trained, tmp_path):
    run, spec = trained
    paths = {name: tmp_path / name for name in ("scores.json", "ced.png", "predictions.json")}
    result = CliRunner().invoke(cli, [
        "evaluate", "--model", str(run), "--data", spec, "--json", str(paths["scores.json"]),
        "--plot", str(paths["ced.png"]), "--save-predictions", str(paths["predictions.json"]), "--threads", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "12 faces, landmarks box, flip test on" in result.output and "afw" in result.output
    scores = json.loads(paths["scores.json"].read_text())
    assert REQUIRED <= set(scores) and scores["n"] == 12 and "nme_inter_pupil" in scores
    assert set(scores["subsets"]) == {"afw", "helen"} and REQUIRED - {"subsets"} <= set(scores["subsets"]["afw"])
    assert 0 <= scores["auc@0.10"] <= 1 and scores["box"] == "landmarks" and scores["flip"] is True
    assert paths["ced.png"].read_bytes().startswith(b"\x89PNG")
    predictions = json.loads(paths["predictions.json"].read_text())
    assert len(predictions["faces"]) == 12 and len(predictions["faces"][0]["landmarks"]) == 68


def test_options_change_the_protocol(trained, tmp_path):
    run, spec = trained
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run / "last.ckpt"), "--data", spec, "--no-flip",
                                      "--json", str(out), "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["flip"] is False
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run), "--data", spec, "--box", "dataset"])
    assert result.exit_code == 1 and "has no dataset box" in result.output


def test_bad_models_and_data_are_clear_errors(trained, tmp_path):
    run, spec = trained
    torch.save({"weights": {}}, tmp_path / "foreign.ckpt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "foreign.ckpt"), "--data", spec])
    assert result.exit_code == 1 and "not an h3r checkpoint" in result.output
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run), "--data", f"300w:{tmp_path / 'nowhere'}"])
    assert result.exit_code == 1 and "nowhere" in result.output
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "missing"), "--data", spec])
    assert result.exit_code == 2 and "no such model folder, .ckpt or .onnx file" in result.output


def test_a_model_of_another_scheme_is_refused(trained):
    _, spec = trained
    official = shared_path("official-h3r", "models", "wflw_mobilenet_128x128_p2")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(official), "--data", spec])
    assert result.exit_code == 1 and "predicts 98 landmarks but 300w has 68" in result.output


def test_outputs_never_overwrite_annotations_or_inputs(trained, tmp_path):
    run, spec = trained
    annotation = next(Path(spec.split(":", 1)[1]).rglob("*.pts"))
    before = annotation.read_text()
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run), "--data", spec, "--save-predictions",
                                      str(annotation)])  # fmt: skip
    assert result.exit_code == 2 and f"{annotation}: exists and is not a JSON file" in result.output
    assert annotation.read_text() == before
    checkpoint = str(run / "best.ckpt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run), "--data", spec, "--plot", checkpoint])
    assert result.exit_code == 2 and "best.ckpt: is one of the inputs" in result.output


def test_a_model_giving_nan_is_named(trained, tmp_path):
    run, spec = trained
    checkpoint = torch.load(run / "last.ckpt", weights_only=True)
    checkpoint["model"] = {name: value * torch.nan if value.is_floating_point() else value
                           for name, value in checkpoint["model"].items()}  # fmt: skip
    torch.save(checkpoint, tmp_path / "broken.ckpt")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "broken.ckpt"), "--data", spec])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"--model {tmp_path / 'broken.ckpt'}: " in result.output and "not finite" in result.output
