"""Bundles: ``h3r export bundle`` writes weights, description and card; a bundle runs exactly as its checkpoint;
bad bundle files are named; the shipped ``face68`` loads by name and finds landmarks on real faces."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from engine.tiny_faces import tiny_config, write_tiny_300w
from safetensors.torch import save_file
from shared_data import shared_path

from h3r.cli.main import cli
from h3r.data.datasets import read_dataset
from h3r.engine.config import validate_config
from h3r.engine.evaluate import evaluate_detector
from h3r.engine.train import train
from h3r.inference.detector import LandmarkDetector
from h3r.load import BUNDLED_MODELS, load_detector
from h3r.pretrained import CARD_FILE, DESCRIPTION_FILE, WEIGHTS_FILE
from h3r.pretrained.bundle import BundleError, read_description

BOXES = [[8.0, 10.0, 56.0, 60.0], [0.0, 0.0, 40.0, 30.0]]


@pytest.fixture(scope="module")
def run_and_bundle(tmp_path_factory):
    """A tiny run trained for one epoch, and its bundle made by the CLI with validation and test scores."""
    root = tmp_path_factory.mktemp("bundle")
    faces = write_tiny_300w(root / "faces")
    train(validate_config(tiny_config(faces, root / "run", optim={"epochs": 1, "milestones": []})))
    result = CliRunner().invoke(cli, [
        "export", "bundle", str(root / "run"), str(root / "tiny"), "--name", "tiny",
        "--test-data", f"300w:{faces}", "--training-command", "h3r train tiny.yaml", "--threads", "1",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return root / "run", root / "tiny", result.output


def test_export_writes_the_three_files_with_scores_and_commands(run_and_bundle):
    run, folder, output = run_and_bundle
    assert {path.name for path in folder.iterdir()} == {WEIGHTS_FILE, DESCRIPTION_FILE, CARD_FILE}
    assert "validation: " in output and "3 faces" in output and "test: " in output and "12 faces" in output
    description = read_description(folder)
    assert description["name"] == "tiny" and description["training"]["command"] == "h3r train tiny.yaml"
    assert description["training"]["faces"] == {"train": 9, "validation": 3, "subsets": {"afw": 6, "helen": 6}}
    validation, test = description["metrics"]["validation"], description["metrics"]["test"]
    assert validation["n"] == 3 and test["n"] == 12 and validation["flip"] is True
    assert validation["command"] == "h3r evaluate --model tiny --data val --box landmarks --flip"
    assert test["command"].startswith("h3r evaluate --model tiny --data 300w:")
    card = (folder / CARD_FILE).read_text()
    assert "# tiny: 68-point face landmarks" in card and validation["command"] in card
    assert f"| all | 12 | {test['nme']:.2%} |" in card and "research only" in card


def test_a_bundle_runs_exactly_as_its_checkpoint(run_and_bundle):
    run, folder, _ = run_and_bundle
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    for flip in (True, False):
        expected, expected_scores = load_detector(run / "best.ckpt").predict(image, BOXES, flip=flip)
        landmarks, scores = LandmarkDetector.from_pretrained(folder).predict(image, BOXES, flip=flip)
        assert np.array_equal(landmarks, expected) and np.array_equal(scores, expected_scores)
    assert load_detector(folder).flip is True and load_detector(folder, flip=False).flip is False


def test_evaluate_scores_a_bundle_on_the_faces_its_config_held_out(run_and_bundle, tmp_path):
    _, folder, _ = run_and_bundle
    out = tmp_path / "val.json"
    result = CliRunner().invoke(cli, ["evaluate", "--model", str(folder), "--data", "val", "--json", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert scores["n"] == 3 and scores["nme"] == pytest.approx(read_description(folder)["metrics"]["validation"]["nme"])


def copy_bundle(folder, target):
    target.mkdir()
    for name in (WEIGHTS_FILE, DESCRIPTION_FILE, CARD_FILE):
        (target / name).write_bytes((folder / name).read_bytes())
    return target


def test_bad_bundle_files_are_named(run_and_bundle, tmp_path):
    _, folder, _ = run_and_bundle
    broken = copy_bundle(folder, tmp_path / "no_weights")
    (broken / WEIGHTS_FILE).unlink()
    with pytest.raises(BundleError, match=f"{WEIGHTS_FILE}: file not found"):
        LandmarkDetector.from_pretrained(broken)
    broken = copy_bundle(folder, tmp_path / "corrupt")
    (broken / WEIGHTS_FILE).write_bytes(b"not safetensors")
    with pytest.raises(BundleError, match=f"{WEIGHTS_FILE}: cannot read as safetensors"):
        load_detector(broken)
    broken = copy_bundle(folder, tmp_path / "other_network")
    save_file({"backbone.weight": torch.zeros(2)}, broken / WEIGHTS_FILE)
    with pytest.raises(BundleError, match=f"{WEIGHTS_FILE}: does not fit the network of {DESCRIPTION_FILE}"):
        load_detector(broken)
    broken = copy_bundle(folder, tmp_path / "version")
    description = json.loads((broken / DESCRIPTION_FILE).read_text())
    (broken / DESCRIPTION_FILE).write_text(json.dumps({**description, "version": 99}))
    with pytest.raises(BundleError, match="bundle version 99; this h3r reads version 1"):
        load_detector(broken)
    (broken / DESCRIPTION_FILE).write_text(json.dumps({k: v for k, v in description.items() if k != "codec"}))
    with pytest.raises(BundleError, match="lacks codec.name, codec.settings"):
        load_detector(broken)
    (broken / DESCRIPTION_FILE).write_text("{")
    with pytest.raises(BundleError, match=f"{DESCRIPTION_FILE}: cannot read as JSON"):
        load_detector(broken)


def test_export_refuses_what_is_not_a_run(tmp_path):
    (tmp_path / "foreign.ckpt").write_bytes(b"junk")
    result = CliRunner().invoke(cli, ["export", "bundle", str(tmp_path / "foreign.ckpt"), str(tmp_path / "out")])
    assert result.exit_code == 1 and "foreign.ckpt" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_the_shipped_face68_finds_landmarks_on_test_faces():
    faces = read_dataset(f"300w:{shared_path('300w-private')}:test")
    faces.samples = faces.samples[::30]  # 20 faces across indoor and outdoor
    detector = LandmarkDetector.from_pretrained("face68")
    assert detector.num_landmarks == 68 and detector.flip and BUNDLED_MODELS["face68"].is_dir()
    report = evaluate_detector(detector, faces, "landmarks").report
    assert report["nme"] < 0.10, f"face68 NME {report['nme']:.2%} on 20 test faces"


def test_the_card_says_where_the_weights_started(run_and_bundle):
    from h3r.pretrained.card import model_card

    description = read_description(run_and_bundle[1])
    assert description["training"]["initialisation"] == []
    assert "from random initialisation" in model_card(description) and "ImageNet" not in model_card(description)
    description["training"]["initialisation"] = ["runs/stage1", "imagenet"]
    card = model_card(description)
    assert "from the weights of `runs/stage1`, itself trained from the ImageNet MobileNetV2 backbone" in card
    assert "Trained from an ImageNet backbone" in card and "ImageNet, whose images are for non-commercial" in card


def test_the_initialisation_chain_follows_model_init_back_to_its_start(run_and_bundle, tmp_path):
    import click

    from h3r.cli.export import initialisation_chain

    run = run_and_bundle[0]
    assert initialisation_chain(None) == [] and initialisation_chain("imagenet") == ["imagenet"]
    assert initialisation_chain(str(run)) == [str(run)]  # the tiny run started from random weights
    with pytest.raises(click.ClickException, match="model.init missing"):
        initialisation_chain("missing")
