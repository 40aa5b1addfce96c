"""Pose runs end to end on the real fixtures (COCO, MPII, LSP-extended), and the pose scores of h3r.engine.pose."""

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from shared_data import shared_path

from h3r.cli.main import cli
from h3r.data.datasets import read_dataset
from h3r.engine.checkpoint import read_checkpoint
from h3r.engine.config import validate_config
from h3r.engine.pose import mean_pose, place_mean_pose, pose_report, pose_truth, validation_metric
from h3r.engine.train import RunError, train

SIZE = (32, 24)


def specs() -> dict[str, str]:
    fixtures = shared_path("fixtures", "mmpose")
    return {
        "coco": f"coco-pose:{fixtures / 'coco' / 'test_coco.json'}",
        "mpii": f"mpii:{fixtures / 'mpii' / 'test_mpii.json'}",
        "lsp": f"lsp:{shared_path('lspet-400')}:val",
    }


@pytest.mark.parametrize(("name", "key"), [("coco", "ap"), ("mpii", "pckh"), ("lsp", "pck")])
def test_ground_truth_as_prediction_scores_perfectly(name, key):
    people = read_dataset(specs()[name])
    gt, visible = pose_truth(people)
    joints = np.where(visible[..., None], gt, 0.0)
    report = pose_report(joints, np.ones(visible.shape), people)
    assert validation_metric(people).key == key and report[key] == pytest.approx(1.0)
    assert report["n"] == len(people)


def test_lsp_scores_only_people_with_a_labelled_torso():
    people = read_dataset(specs()["lsp"])
    gt, visible = pose_truth(people)
    report = pose_report(np.nan_to_num(gt) + (0.0, 9.0), np.ones(visible.shape), people)  # 9 px below
    torso = np.linalg.norm(gt[:, 9] - gt[:, 2], axis=-1)
    scored = visible[:, [9, 2]].all(axis=1)
    assert report["n_scored"] == scored.sum() == 64
    expected = (visible[scored] & (9.0 / torso[scored, None] <= 0.2)).sum() / visible[scored].sum()
    assert report["pck"] == pytest.approx(expected) and 0 < report["pck"] < 1


def test_the_mean_pose_of_one_person_placed_in_its_own_box_is_that_person():
    people = read_dataset(specs()["lsp"])
    one = dataclasses.replace(people, samples=people.samples[:1])
    placed = place_mean_pose(mean_pose(one, SIZE, 1.25), one, SIZE, 1.25)
    sample = one.samples[0]
    np.testing.assert_allclose(placed[0][sample.visible], sample.keypoints[sample.visible], atol=1e-9)


def tiny_pose_config(train_spec: str, val_spec: str, run_dir, **sections) -> dict:
    config = {
        "output_dir": str(run_dir),
        "data": {"train": train_spec, "val": val_spec, "box": "dataset", "input_size": list(SIZE), "workers": 0},
        "model": {"backbone": "mobilenetv2", "width_mult": 0.25, "output_stride": 4},
        "codec": {"name": "h3r", "settings": {"topk": 4}},
        "augment": {"half_body": 0.5},
        "optim": {"batch_size": 4, "epochs": 1, "warmup_epochs": 0.5, "schedule": "constant"},
        "trainer": {"accelerator": "cpu", "devices": 1, "threads": 1, "log_every": 1},
    }
    return config | sections


@pytest.mark.parametrize(("name", "key"), [("coco", "ap"), ("mpii", "pckh")])
def test_train_and_evaluate_a_pose_model_on_the_fixtures(tmp_path, name, key):
    spec = specs()[name]
    config = validate_config(tiny_pose_config(spec, spec, tmp_path / "run"))
    result = train(config)
    assert result.metric == key and result.best == result.history[0][f"val_{key}"]
    checkpoint = read_checkpoint(tmp_path / "run")
    assert checkpoint["scheme"]["name"] == read_dataset(spec).scheme.name and f"best_{key}" in checkpoint
    assert checkpoint["codec"]["settings"]["input_size"] == SIZE
    outcome = CliRunner().invoke(
        cli, ["evaluate", "--model", str(tmp_path / "run"), "--data", spec, "--json", str(tmp_path / "scores.json")]
    )
    assert outcome.exit_code == 0, outcome.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["n"] == len(read_dataset(spec)) and 0 <= scores[key] <= 1 and "--flip" in scores["command"]
    outcome = CliRunner().invoke(cli, ["evaluate", "--model", str(tmp_path / "run"), "--data", "val", "--no-flip"])
    assert outcome.exit_code == 0 and key in outcome.output  # the validation people of the run's config
    wrong_option = "--head-boxes" if name == "coco" else "--detections"
    outcome = CliRunner().invoke(
        cli, ["evaluate", "--model", str(tmp_path / "run"), "--data", spec, wrong_option, str(tmp_path / "scores.json")]
    )
    assert outcome.exit_code != 0 and ("MPII head boxes" if name == "coco" else "COCO person boxes") in outcome.output


def test_evaluate_with_coco_detections_and_predict_draws_the_skeleton(tmp_path):
    spec = specs()["coco"]
    train(validate_config(tiny_pose_config(spec, spec, tmp_path / "run")))
    detections = shared_path("fixtures", "mmpose", "coco", "test_coco_det_AP_H_56.json")
    outcome = CliRunner().invoke(cli, [
        "evaluate", "--model", str(tmp_path / "run"), "--data", spec, "--detections", str(detections),
        "--score-threshold", "0.9", "--json", str(tmp_path / "scores.json"), "--no-flip",
    ])  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    scores = json.loads((tmp_path / "scores.json").read_text())
    kept = sum(d["score"] >= 0.9 for d in json.loads(detections.read_text()))
    assert scores["n"] == kept and scores["n_kept"] <= kept and "--score-threshold 0.9" in scores["command"]
    image = shared_path("fixtures", "mmpose", "coco", "000000000785.jpg")
    (tmp_path / "boxes.txt").write_text("277 45 502 379 0.99\n")
    outcome = CliRunner().invoke(cli, [
        "predict", "--task", "pose", str(image), "--boxes", str(tmp_path / "boxes.txt"), "--model",
        str(tmp_path / "run"), "--out", str(tmp_path / "out"), "--json", str(tmp_path / "people.json"),
    ])  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    (person,) = json.loads((tmp_path / "people.json").read_text())["images"][0]["people"]
    assert np.array(person["landmarks"]).shape == (17, 2)
    assert (tmp_path / "out" / "000000000785_landmarks.png").is_file()
    outcome = CliRunner().invoke(cli, [
        "predict", "--task", "pose", str(image), "--boxes", str(tmp_path / "boxes.txt"), "--model",
        str(tmp_path / "run"), "--runtime", "onnxruntime", "--json", str(tmp_path / "onnx.json"),
    ])  # fmt: skip
    assert outcome.exit_code == 0, outcome.output
    (on_onnx,) = json.loads((tmp_path / "onnx.json").read_text())["images"][0]["people"]
    np.testing.assert_allclose(on_onnx["landmarks"], person["landmarks"], atol=1e-3)
    outcome = CliRunner().invoke(cli, ["export", "onnx", "--model", str(tmp_path / "run"), str(tmp_path / "pose.onnx")])
    assert outcome.exit_code == 0 and "17 landmarks" in outcome.output, outcome.output
    outcome = CliRunner().invoke(cli, ["predict", "--task", "pose", str(image), "--model", str(tmp_path / "run")])
    assert outcome.exit_code != 0 and "pose prediction needs person boxes" in outcome.output


def test_pose_runs_need_person_boxes(tmp_path):
    spec = specs()["mpii"]
    config = validate_config(tiny_pose_config(spec, spec, tmp_path / "run", data={
        "train": spec, "val": spec, "box": "landmarks", "input_size": list(SIZE), "workers": 0}))  # fmt: skip
    with pytest.raises(RunError, match="data.box: people are cropped from their person boxes"):
        train(config)
