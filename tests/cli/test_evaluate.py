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


def first_lines(list_file: Path, count: int, folder: Path, images: Path) -> Path:
    """A list file in ``folder`` of the first ``count`` lines of ``list_file``, with a link to its ``images``."""
    (folder / images.name).symlink_to(images)
    path = folder / list_file.name
    path.write_text("".join(list_file.read_text().splitlines(keepends=True)[:count]))
    return path


def test_a_model_of_another_scheme_is_scored_through_a_conversion(tmp_path):
    shared_list = shared_path("wflw-test-half", "WFLW_annotations", "list_68pt_rect_attr_train_test",
                              "list_68pt_rect_attr_test.txt")  # fmt: skip
    listed = first_lines(shared_list, 3, tmp_path, shared_path("wflw-test-half", "WFLW_images"))
    official = shared_path("official-h3r", "models", "wflw_mobilenet_128x128_p2")
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(official), "--data", f"wflw:{listed}", "--json",
                                      str(out), "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split())
    assert "3 faces, dataset box, flip test on, converted predictions: wflw-98 -> 300w-68" in title
    assert "NME by inter-ocular (outer eye corners), NME ip by inter-pupil (eye-contour centres)" in title
    scores = json.loads(out.read_text())
    assert scores["conversion"] == "predictions: wflw-98 -> 300w-68" and scores["box"] == "dataset"
    assert scores["normalizer"] == "inter-ocular" and 0 < scores["nme"] < 0.1


def test_mtfl_faces_are_scored_by_the_eye_centres(tmp_path):
    listed = first_lines(shared_path("mtfl-5pt", "new_testing.txt"), 3, tmp_path, shared_path("mtfl-5pt", "AFLW"))
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(cli, ["evaluate", "--model", "face68", "--data", f"mtfl:{listed}", "--json", str(out),
                                      "--threads", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    title = " ".join(result.output.split())
    assert "converted predictions: 300w-68 -> mtfl-5; NME by inter-ocular (eye centres)" in title and "AFLW" in title
    scores = json.loads(out.read_text())
    assert scores["n"] == 3 and scores["box"] == "dataset" and scores["conversion"] == "predictions: 300w-68 -> mtfl-5"


def test_a_model_of_a_scheme_without_conversion_is_refused(trained):
    run, _ = trained
    cofw = shared_path("fixtures", "mmpose", "cofw", "test_cofw.json")
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(run), "--data", f"coco:{cofw}"])
    assert result.exit_code == 1
    assert "predicts 68 landmarks (300w-68) but coco:test_cofw has 29 (cofw-29), and neither" in result.output


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
