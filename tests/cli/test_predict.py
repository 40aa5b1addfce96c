"""``h3r predict``: JSON and overlays, box files, failures reported and skipped, the authors' landmarks."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner
from PIL import Image

from h3r.cli.main import cli
from h3r.cli.predict_record import record_path
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
        ("10 20 60 70\n10 20 sixty 70\n", "{boxes} line 2: expected x1 y1 x2 y2 [more columns], got '10 20 sixty 70'"),
        ("\n10 20 60\n", "{boxes} line 2: expected x1 y1 x2 y2"),
        ("10 20 60 nan\n", "{boxes} line 1: expected x1 y1 x2 y2"),
        ("10 20 60 70\n\n\n60 20 10 70 0.9\n", "{boxes} line 4: box [60.0, 20.0, 10.0, 70.0] needs x1 < x2"),
        ("", "{boxes}: no boxes in the box file"),
        ("10 10 10.1 10.1\n", "{image}: box 0: box [10.0, 10.0, 10.1, 10.1] is smaller than 1 pixel"),
        ("-1e5 -1e5 1e5 1e5\n", "{image}: box 0: box [-100000.0, -100000.0, 100000.0, 100000.0] is 1667 times"),
    ],
)
def test_bad_box_files_and_boxes_are_named(model_dir, tmp_path, content, message):
    """Malformed lines name the file and line; an empty file, and boxes that cannot hold a face (under a pixel,
    over 10 times the image), fail the image too."""
    image = write_image(tmp_path / "face.png")
    boxes = tmp_path / "boxes.txt"
    boxes.write_text(content)
    result = run(image, "--model", model_dir, "--boxes", boxes)
    assert result.exit_code == 1 and f"error: {message.format(boxes=boxes, image=image)}" in result.output


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


def test_a_photograph_stored_sideways_gets_upright_landmarks(model_dir, tmp_path):
    """Phones store photographs sideways with an EXIF Orientation tag: predict reads them as displayed, so
    that boxes given in the picture people see fit the face (--no-exif-transpose: the stored pixels)."""
    upright = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    Image.fromarray(upright).save(tmp_path / "upright.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate the stored pixels 90° clockwise
    Image.fromarray(np.ascontiguousarray(np.rot90(upright))).save(tmp_path / "phone.png", exif=exif)
    boxes = tmp_path / "boxes.txt"
    boxes.write_text("10 20 60 70\n")
    results = {}
    for name, flags in {"upright.png": [], "phone.png": [], "stored": ["--no-exif-transpose"]}.items():
        image = tmp_path / ("phone.png" if name == "stored" else name)
        json_path, out = tmp_path / f"{name}.json", tmp_path / name.replace(".", "_")
        result = run(image, "--model", model_dir, "--boxes", boxes, "--json", json_path, "--out", out, *flags)
        assert result.exit_code == 0, result.output
        (entry,) = json.loads(json_path.read_text())["images"]
        results[name] = entry["faces"][0]["landmarks"]
        assert Image.open(entry["overlay"]).size == ((90, 120) if name == "stored" else (120, 90))
    assert results["phone.png"] == results["upright.png"] and results["stored"] != results["upright.png"]


def test_outputs_never_overwrite_inputs_or_files_of_another_kind(model_dir, tmp_path):
    images = [write_image(tmp_path / name, seed=seed) for seed, name in enumerate(("a.png", "b.png"))]
    photo, notes = images[1].read_bytes(), tmp_path / "notes.txt"
    notes.write_text("not results\n")
    result = run(*images, "--model", model_dir, "--json", images[1])
    assert result.exit_code == 2 and "b.png: is one of the inputs; not overwriting it (--force does)" in result.output
    result = run(images[0], "--model", model_dir, "--json", notes)
    assert result.exit_code == 2 and "notes.txt: exists and is not a JSON file" in result.output
    stray = write_image(tmp_path / "a_landmarks.png", seed=5)  # an input that is also a's overlay name
    result = run(images[0], stray, "--model", model_dir, "--out", tmp_path)
    assert result.exit_code == 2 and "a_landmarks.png: is one of the inputs" in result.output
    assert images[1].read_bytes() == photo and notes.read_text() == "not results\n"
    (tmp_path / "a.png.bbox").write_text("10 10 70 60\n")
    result = run(images[0], "--model", model_dir, "--boxes", tmp_path, "--json", notes, "--force")
    assert result.exit_code == 0, result.output
    assert len(json.loads(notes.read_text())["images"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary files left


def test_a_model_giving_nan_stops_the_run_naming_the_model(model_dir, tmp_path):
    """A broken network (NaN weights) stops predict before any image, naming the model: no NaN reaches a JSON."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.yaml").write_bytes((model_dir / "config.yaml").read_bytes())
    state = torch.load(model_dir / "model.pth", weights_only=True)
    torch.save({name: value * torch.nan if value.is_floating_point() else value for name, value in state.items()},
               broken / "model.pth")  # fmt: skip
    image, json_path = write_image(tmp_path / "face.png"), tmp_path / "result.json"
    (tmp_path / "face.png.bbox").write_text("10 10 70 60\n")
    result = run(image, "--model", broken, "--boxes", tmp_path, "--json", json_path)
    assert result.exit_code == 1 and not json_path.exists()
    assert f"--model {broken}: the network gave landmarks or scores that are not finite" in result.output


def test_files_that_are_no_models_are_refused_without_unsafe_advice(tmp_path):
    image = write_image(tmp_path / "face.png")
    (tmp_path / "random.ckpt").write_bytes(np.random.default_rng(0).bytes(1000))
    torch.save({"model": Payload()}, tmp_path / "pickled.ckpt")
    for name in ("random.ckpt", "pickled.ckpt"):
        result = run(image, "--model", tmp_path / name, "--boxes", tmp_path)
        assert result.exit_code == 2 and f"{name}: cannot read the checkpoint" in result.output
        assert "weights_only" not in result.output and "h3r never unpickles" in result.output


class Payload:
    """Stands for an object a checkpoint must not hold."""


def test_folders_report_subfolders_broken_links_and_hidden_files_or_recurse(model_dir, tmp_path):
    folder = tmp_path / "images"
    (folder / "trip").mkdir(parents=True)
    for path in (write_image(folder / "a.png"), write_image(folder / "trip" / "b.png", seed=1)):
        path.with_name(f"{path.name}.bbox").write_text("10 10 70 60\n")
    (folder / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    (folder / "._a.png").write_bytes(b"macOS metadata")
    json_path = tmp_path / "result.json"
    result = run(folder, "--model", model_dir, "--boxes", folder, "--json", json_path)
    assert result.exit_code == 0, result.output
    assert f"note: {folder}: 1 subfolder(s) not read (trip); --recursive reads them" in result.output
    assert f"note: {folder / 'gone.jpg'}: a broken link, skipped" in result.output
    assert f"note: {folder / '._a.png'}: a hidden file, skipped" in result.output
    assert [entry["path"] for entry in json.loads(json_path.read_text())["images"]] == [str(folder / "a.png")]
    result = run(folder, "--model", model_dir, "--boxes", folder, "--json", json_path, "--recursive")
    assert result.exit_code == 0, result.output
    paths = [entry["path"] for entry in json.loads(json_path.read_text())["images"]]
    assert paths == [str(folder / "a.png"), str(folder / "trip" / "b.png")]


def start_predict(arguments: list) -> subprocess.Popen:
    command = [sys.executable, "-c", "from h3r.cli.main import cli; cli()", "predict", *map(str, arguments)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_lines(path, count: int, process: subprocess.Popen) -> None:
    """Wait until the file ``path`` has ``count`` lines (the run's record grows as images are done)."""
    deadline = time.monotonic() + 120
    while not (path.is_file() and len(path.read_text().splitlines()) >= count):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run recorded no images"
        time.sleep(0.02)


def test_a_terminated_or_killed_run_is_resumed(model_dir, tmp_path):
    """SIGTERM (``timeout``, job schedulers) writes the JSON of the images done; kill -9 leaves the record of
    those images, line by line; ``--resume`` skips them and completes the JSON, in the inputs' order."""
    folder = tmp_path / "images"
    folder.mkdir()
    count = 200
    for index in range(count):
        write_image(folder / f"{index:03d}.png", size=(40, 40), seed=index)
        (folder / f"{index:03d}.png.bbox").write_text("5 5 35 35\n")
    json_path = tmp_path / "result.json"
    record = record_path(json_path)
    arguments = [folder, "--model", model_dir, "--boxes", folder, "--json", json_path, "--no-flip", "--threads", 1]
    process = start_predict(arguments)
    wait_for_lines(record, 3, process)
    process.send_signal(signal.SIGTERM)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM and "--resume continues the run" in errors
    done = json.loads(json_path.read_text())["images"]
    assert 3 <= len(done) < count and not record.exists()
    assert [entry["path"] for entry in done] == [str(folder / f"{index:03d}.png") for index in range(len(done))]

    process = start_predict([*arguments, "--resume"])
    wait_for_lines(record, len(done) + 3, process)
    process.kill()
    process.communicate(timeout=60)
    recorded = [json.loads(line) for line in record.read_text().splitlines()]
    assert recorded[: len(done)] == done and len(json.loads(json_path.read_text())["images"]) == len(done)
    with open(record, "a") as file:
        file.write('{"path": "torn by the ki')  # what a kill in the middle of a line would leave

    result = run(*arguments, "--resume")
    assert result.exit_code == 0, result.output
    assert f"{count - len(recorded)} images, {count - len(recorded)} faces" in result.output
    assert f"{len(recorded)} images done by the run resumed" in result.output
    final = json.loads(json_path.read_text())
    assert [entry["path"] for entry in final["images"]] == [str(folder / f"{index:03d}.png") for index in range(count)]
    assert final["images"][: len(recorded)] == recorded and not record.exists()
