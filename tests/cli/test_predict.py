"""``h3r predict``: JSON and overlays, box files, failures reported and skipped, the authors' landmarks."""

import json

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from h3r.cli.main import cli
from h3r.models import build_model
from h3r.models.official import torchalign_names

SIZE = 64


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A torchalign-style folder (config.yaml + model.pth) of a random 5-landmark network on 64-pixel crops."""
    folder = tmp_path_factory.mktemp("model")
    config = {
        "INPUT": {"SIZE": [SIZE, SIZE], "FLIP_ORDER": [1, 0, 2, 4, 3]},
        "BACKBONE": {"ARCH": "mobilenetv2"},
        "HEATMAP": {"IN_CHANNEL": 152, "PROJ_CHANNEL": 152, "OUT_CHANNEL": 5, "TOPK": 4},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    net = build_model(num_landmarks=5)
    names = torchalign_names(net)
    torch.save({names[key]: value for key, value in net.state_dict().items()}, folder / "model.pth")
    return folder


def write_image(path, size=(90, 120), seed=0):
    """A random RGB image of (H, W) = ``size``."""
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def run(*args):
    return CliRunner().invoke(cli, ["predict", *map(str, args)])


def test_one_image_with_a_box_file_gives_json_and_an_overlay(model_dir, tmp_path):
    image = write_image(tmp_path / "face.png")
    boxes = tmp_path / "face.png.bbox"
    boxes.write_text("10 20 60 70 0.99 1 2 3\n\n30.5 5 80 40\n")
    out, json_path = tmp_path / "out", tmp_path / "result.json"
    result = run(image, "--model", model_dir, "--boxes", boxes, "--out", out, "--json", json_path, "--threads", 1)
    assert result.exit_code == 0, result.output
    assert "1 images, 2 faces" in result.output and "ms per face" in result.output
    results = json.loads(json_path.read_text())
    assert results["failed"] == []
    (entry,) = results["images"]
    assert entry["path"] == str(image) and len(entry["faces"]) == 2
    assert entry["faces"][0]["box"] == [10.0, 20.0, 60.0, 70.0]
    assert entry["faces"][1]["box"] == [30.5, 5.0, 80.0, 40.0]
    for face in entry["faces"]:
        assert np.array(face["landmarks"]).shape == (5, 2) and len(face["scores"]) == 5
    overlay = Image.open(entry["overlay"])
    assert entry["overlay"] == str(out / "face_landmarks.png") and overlay.size == (120, 90)


def test_bad_images_are_reported_and_skipped(model_dir, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "a.jpg", seed=1)
    write_image(folder / "c.PNG", seed=2)
    (folder / "b.jpg").write_bytes(b"this is not an image")
    truncated = (folder / "c.PNG").read_bytes()
    (folder / "d.png").write_bytes(truncated[: len(truncated) // 2])
    (folder / "notes.txt").write_text("skipped: not an image suffix")
    for name in ("a.jpg", "b.jpg", "c.PNG", "d.png"):
        (folder / f"{name}.bbox").write_text("10 10 70 60\n")
    json_path = tmp_path / "result.json"
    result = run(folder, "--model", model_dir, "--boxes", folder, "--json", json_path, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert f"error: {folder / 'b.jpg'}: cannot read as an image" in result.output
    assert f"error: {folder / 'd.png'}: cannot decode image data" in result.output
    assert "Traceback" not in result.output
    assert "2 images, 2 faces" in result.output and "2 of 4 images failed and were skipped" in result.output
    results = json.loads(json_path.read_text())
    assert [entry["path"] for entry in results["images"]] == [str(folder / "a.jpg"), str(folder / "c.PNG")]
    assert [entry["path"] for entry in results["failed"]] == [str(folder / "b.jpg"), str(folder / "d.png")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_landmarks.png", "c_landmarks.png"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("10 20 60 70\n10 20 sixty 70\n", "line 2: expected x1 y1 x2 y2 [more columns], got '10 20 sixty 70'"),
        ("\n10 20 60\n", "line 2: expected x1 y1 x2 y2"),
        ("10 20 60 nan\n", "line 1: expected x1 y1 x2 y2"),
        ("10 20 60 70\n\n\n60 20 10 70 0.9\n", "line 4: box [60.0, 20.0, 10.0, 70.0] needs x1 < x2 and y1 < y2"),
    ],
)
def test_malformed_box_lines_are_named_by_file_and_line(model_dir, tmp_path, content, message):
    image = write_image(tmp_path / "face.png")
    boxes = tmp_path / "boxes.txt"
    boxes.write_text(content)
    result = run(image, "--model", model_dir, "--boxes", boxes)
    assert result.exit_code == 1 and f"error: {boxes} {message}" in result.output, result.output


def test_box_problems_found_on_the_image_name_it_and_the_box(model_dir, tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "a.png")
    write_image(folder / "b.png")
    (folder / "a.png.bbox").write_text("10 10 70 60\n500 10 560 60\n")
    result = run(folder, "--model", model_dir, "--boxes", folder)
    assert result.exit_code == 1
    assert f"error: {folder / 'a.png'}: box 1: box [500.0, 10.0, 560.0, 60.0] lies wholly outside" in result.output
    assert f"error: {folder / 'b.png.bbox'}: no such box file" in result.output


def test_without_boxes_the_faces_are_detected(model_dir, tmp_path, monkeypatch):
    seen = []

    def detect_faces(image, detector):
        seen.append((image.shape, detector))
        return np.array([[10.0, 10.0, 70.0, 60.0, 0.9], [60.0, 30.0, 110.0, 85.0, 0.5]])

    monkeypatch.setattr("h3r.cli.predict.detect_faces", detect_faces)
    image = write_image(tmp_path / "face.png")
    (tmp_path / "face.png.bbox").write_text("not used unless asked for\n")
    json_path = tmp_path / "result.json"
    result = run(image, "--model", model_dir, "--json", json_path, "--detector", "dlib-hog")
    assert result.exit_code == 0, result.output
    assert seen == [((90, 120, 3), "dlib-hog")]
    faces = json.loads(json_path.read_text())["images"][0]["faces"]
    assert [face["box"] for face in faces] == [[10.0, 10.0, 70.0, 60.0], [60.0, 30.0, 110.0, 85.0]]


def test_usage_errors(model_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(empty, "--model", model_dir)
    assert result.exit_code == 2 and "no images found in" in result.output
    images = [write_image(tmp_path / f"{name}.png") for name in ("a", "b")]
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("10 10 70 60\n")
    result = run(*images, "--model", model_dir, "--boxes", boxes)
    assert result.exit_code == 2 and "a box file serves one image, got 2 images" in result.output
    result = run(images[0], "--model", tmp_path / "nowhere", "--boxes", boxes)
    assert result.exit_code == 2 and "no such model folder" in result.output
    result = run(images[0], "--model", empty, "--boxes", boxes)
    assert result.exit_code == 2 and "not a model folder" in result.output
    result = run(images[0], "--model", model_dir, "--onnx", boxes)
    assert result.exit_code == 2 and "needs --runtime onnxruntime" in result.output
    result = run(images[0], "--model", model_dir, "--crop", "square")
    assert result.exit_code == 2


def test_flip_and_crop_options_reach_the_detector(model_dir, tmp_path):
    image = write_image(tmp_path / "face.png")
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("10 10 70 60\n")
    landmarks = {}
    for options in (("--crop", "exact"), ("--crop", "official"), ("--no-flip",)):
        json_path = tmp_path / "result.json"
        result = run(image, "--model", model_dir, "--boxes", boxes, "--json", json_path, *options)
        assert result.exit_code == 0, result.output
        landmarks[options] = json.loads(json_path.read_text())["images"][0]["faces"][0]["landmarks"]
    assert len({json.dumps(value) for value in landmarks.values()}) == 3


def test_onnxruntime_gives_the_torch_landmarks(model_dir, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    image = write_image(tmp_path / "face.png")
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("10 10 70 60\n-20 30 90 100\n")
    landmarks = {}
    for runtime in ("torch", "onnxruntime"):
        json_path = tmp_path / f"{runtime}.json"
        result = run(image, "--model", model_dir, "--boxes", boxes, "--json", json_path, "--runtime", runtime)
        assert result.exit_code == 0, result.output
        landmarks[runtime] = [face["landmarks"] for face in json.loads(json_path.read_text())["images"][0]["faces"]]
    np.testing.assert_allclose(landmarks["onnxruntime"], landmarks["torch"], atol=1e-3)


def test_reproduces_the_authors_landmarks(official_dir, official_reference, tmp_path):
    image = official_dir / "images" / "demo2.jpg"
    json_path = tmp_path / "out.json"
    result = run(image, "--boxes", official_dir / "images" / "demo2.jpg.bbox",
                 "--model", official_dir / "models" / "wflw_mobilenet_256x256_p2", "--crop", "official",
                 "--json", json_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    (face,) = json.loads(json_path.read_text())["images"][0]["faces"]
    expected = np.array(official_reference["wflw/mobilenet_256x256_p2"]["demo2.jpg"]["landmarks_flip"][0])
    assert np.linalg.norm(np.array(face["landmarks"]) - expected, axis=-1).mean() <= 0.05


def test_the_default_face_detector_finds_the_demo_face(official_dir, tmp_path):
    """No mocks: the offline detector finds the face, and the landmarks sit inside the authors' box."""
    json_path = tmp_path / "demo.json"
    model = official_dir / "models" / "wflw_mobilenet_128x128_p2"
    result = run(official_dir / "images" / "demo.jpg", "--model", model, "--json", json_path, "--no-flip")
    assert result.exit_code == 0, result.output
    faces = json.loads(json_path.read_text())["images"][0]["faces"]
    x1, y1, x2, y2 = map(float, (official_dir / "images" / "demo.jpg.bbox").read_text().split()[:4])
    assert len(faces) == 1
    landmarks = np.array(faces[0]["landmarks"])
    assert landmarks.shape == (98, 2)
    margin = 0.1 * (x2 - x1)
    assert (landmarks[:, 0] > x1 - margin).all() and (landmarks[:, 0] < x2 + margin).all()
    assert (landmarks[:, 1] > y1 - margin).all() and (landmarks[:, 1] < y2 + margin).all()


def test_refinement_is_on_by_default_for_models_trained_on_landmark_boxes(model_dir, tmp_path):
    from h3r.cli.predict import default_refinement

    assert default_refinement("face68") == 1  # trained on landmark boxes
    assert default_refinement(str(model_dir)) == 0  # torchalign: trained on the dataset's boxes
    image = write_image(tmp_path / "face.png")
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("10 10 70 60\n")
    landmarks = {}
    for name, flags in {"default": [], "0": ["--refine", 0], "1": ["--refine", 1]}.items():
        json_path = tmp_path / f"refine_{name}.json"
        result = run(image, "--model", "face68", "--boxes", boxes, "--json", json_path, *flags)
        assert result.exit_code == 0, result.output
        landmarks[name] = np.array(json.loads(json_path.read_text())["images"][0]["faces"][0]["landmarks"])
    np.testing.assert_array_equal(landmarks["default"], landmarks["1"])
    assert np.abs(landmarks["1"] - landmarks["0"]).max() > 0.1
