"""``h3r export onnx``: writes a self-describing ONNX file from a torchalign folder or a training run, with clear errors."""

import sys

import pytest
import torch
import yaml
from click.testing import CliRunner

from engine.tiny_faces import tiny_config, write_tiny_300w

from h3r.cli.main import cli
from h3r.engine.config import validate_config
from h3r.engine.train import train
from h3r.inference.detector import LandmarkDetector
from h3r.inference.onnx import OnnxRunner, max_difference
from h3r.models import build_model
from h3r.models.official import torchalign_names

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SIZE, LANDMARKS, FLIP_ORDER = 64, 5, [4, 3, 2, 1, 0]


@pytest.fixture(scope="session")
def torchalign_dir(tmp_path_factory):
    """A model folder in the authors' format (config.yaml + model.pth) holding a random MobileNetV2."""
    folder = tmp_path_factory.mktemp("torchalign") / "tiny_mobilenet_64x64"
    folder.mkdir()
    torch.manual_seed(0)  # session fixtures run before conftest's per-test seed
    model = build_model("mobilenetv2", num_landmarks=LANDMARKS, head="binary", head_channels=32)
    names = torchalign_names(model)
    torch.save({names[key]: tensor for key, tensor in model.state_dict().items()}, folder / "model.pth")
    config = {
        "INPUT": {"SIZE": [SIZE, SIZE], "SCALE": 1.4, "FLIP_ORDER": FLIP_ORDER},
        "BACKBONE": {"ARCH": "mobilenetv2"},
        "HEATMAP": {"IN_CHANNEL": 152, "PROJ_CHANNEL": 32, "OUT_CHANNEL": LANDMARKS, "TOPK": 4},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_export_writes_a_self_describing_file(torchalign_dir, tmp_path):
    output = tmp_path / "tiny.onnx"
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(output), "--opset", "18"])
    assert result.exit_code == 0, result.output
    assert f"wrote {output}" in result.output and "ONNX opset 18" in result.output
    assert f"crops     tensor(float) (N, 3, {SIZE}, {SIZE})" in result.output
    assert f"keypoints tensor(float) (N, {LANDMARKS}, 2)" in result.output
    assert "ONNX Runtime vs PyTorch on 3 random crops: max landmark difference" in result.output
    runner = OnnxRunner(output)
    meta = runner.metadata
    assert (meta["input_size"], meta["num_landmarks"], meta["topk"], meta["crop_scale"]) == ((SIZE, SIZE), 5, 4, 1.4)
    assert (meta["flip_permutation"], meta["flip"], meta["source"]) == (FLIP_ORDER, True, "tiny_mobilenet_64x64")
    assert meta["mean"] == (0.485, 0.456, 0.406)
    network = LandmarkDetector.from_pretrained(torchalign_dir).runner
    assert network.codec.topk == 4
    assert max_difference(network, runner, torch.randn(2, 3, SIZE, SIZE)) <= 1e-3


def test_bad_inputs_get_clear_messages(torchalign_dir, tmp_path):
    runner = CliRunner()
    output = str(tmp_path / "out.onnx")
    result = runner.invoke(cli, ["export", "onnx", "--model", str(tmp_path / "nowhere"), output])
    assert result.exit_code == 2 and "no such model folder" in result.output and "--model" in result.output
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(cli, ["export", "onnx", "--model", str(empty), output])
    assert result.exit_code == 2 and f"{empty}: not a model folder" in result.output
    result = runner.invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(tmp_path / "no" / "out.onnx")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(tmp_path)])
    assert result.exit_code == 2 and "is a directory" in result.output
    result = runner.invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), output, "--opset", "9"])
    assert result.exit_code == 2 and "9 is not in the range 13<=x<=20" in result.output
    assert not (tmp_path / "out.onnx").exists()


def test_export_never_overwrites_other_files_and_writes_atomically(torchalign_dir, tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0 a JPEG")
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(photo)])
    assert result.exit_code == 2 and "photo.jpg: exists and is not an ONNX model" in result.output
    model_file = torchalign_dir / "model.pth"
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(model_file)])
    assert result.exit_code == 2 and "model.pth: is one of the inputs" in result.output
    assert photo.read_bytes() == b"\xff\xd8\xff\xe0 a JPEG"
    for flags in ([], ["--force"]):  # an ONNX file is replaced; anything with --force
        result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(photo), *flags])
        assert result.exit_code == (0 if flags else 2), result.output
    assert OnnxRunner(photo).num_landmarks == LANDMARKS
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(photo)])
    assert result.exit_code == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]
    exported = photo.rename(tmp_path / "exported.onnx")
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(exported), str(tmp_path / "again.onnx")])
    assert result.exit_code == 2 and "already an ONNX model" in result.output


def test_export_takes_a_training_run(tmp_path):
    faces = write_tiny_300w(tmp_path / "faces")
    train(validate_config(tiny_config(faces, tmp_path / "run", optim={"epochs": 1, "milestones": []})))
    output = tmp_path / "run.onnx"
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(tmp_path / "run"), str(output)])
    assert result.exit_code == 0, result.output
    meta = OnnxRunner(output).metadata
    assert (meta["num_landmarks"], meta["input_size"], meta["source"]) == (68, (32, 32), "run")
    assert len(meta["flip_permutation"]) == 68 and meta["flip_permutation"] != list(range(68))
    network = LandmarkDetector.from_pretrained(tmp_path / "run").runner
    assert max_difference(network, OnnxRunner(output), torch.randn(2, 3, 32, 32)) <= 1e-3


def test_missing_onnx_package_is_named(torchalign_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    result = CliRunner().invoke(cli, ["export", "onnx", "--model", str(torchalign_dir), str(tmp_path / "out.onnx")])
    assert result.exit_code == 1 and "ONNX export needs the Python module 'onnx': pip install 'onnx'" in result.output
