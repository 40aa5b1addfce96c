"""ONNX export: the graph holds network and decoder, has a dynamic batch axis, describes itself, and ONNX Runtime
gives PyTorch's landmarks (to 1e-3 crop pixels) for a tiny random model and for the authors' released models."""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from h3r import __version__
from h3r.codecs import H3RCodec
from h3r.inference.detector import LandmarkDetector
from h3r.inference.network import DecodingNetwork
from h3r.inference.onnx import OnnxModelError, OnnxRunner, export_onnx, max_difference
from h3r.load import load_detector
from h3r.models import build_model

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TOLERANCE_PX = 1e-3
TINY_SIZE, TINY_LANDMARKS = 64, 7
SETTINGS = {"crop_scale": 1.25, "flip": True, "flip_permutation": [6, 5, 4, 3, 2, 1, 0],
            "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
OFFICIAL_MODELS = ["wflw_mobilenet_128x128_p2", "wflw_mobilenet_160x160_p2", "wflw_mobilenet_256x256_p2",
                   "lapa_mobilenet_128x128_p2", "lapa_mobilenet_256x256_p2"]


@contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread for session fixtures, which run before conftest's per-test setting (see there)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_network(head: str) -> DecodingNetwork:
    """A random MobileNetV2 at half width, 7 landmarks, 64-pixel crops, in eval mode."""
    torch.manual_seed(0)
    model = build_model("mobilenetv2", num_landmarks=TINY_LANDMARKS, head=head, width_mult=0.5)
    return DecodingNetwork(model, H3RCodec(input_size=TINY_SIZE, stride=4, topk=9)).eval()


@pytest.fixture(scope="session", params=["binary", "heatmap"])
def tiny_export(request, tmp_path_factory) -> tuple[DecodingNetwork, OnnxRunner]:
    network = tiny_network(request.param)
    with one_thread():
        path = export_onnx(network, tmp_path_factory.mktemp("onnx") / f"tiny_{request.param}.onnx", metadata=SETTINGS)
    return network, OnnxRunner(path, threads=1)


def random_crops(batch: int, size: int = TINY_SIZE) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))


@pytest.mark.parametrize("batch", [1, 5])
def test_tiny_model_matches_pytorch_at_any_batch(tiny_export, batch):
    network, runner = tiny_export
    crops = random_crops(batch)
    with torch.inference_mode():
        expected_keypoints, expected_scores = network(crops)
    keypoints, scores = runner(crops)
    assert keypoints.shape == (batch, TINY_LANDMARKS, 2) and scores.shape == (batch, TINY_LANDMARKS)
    assert keypoints.dtype == scores.dtype == torch.float32
    assert (keypoints - expected_keypoints).abs().max() <= TOLERANCE_PX
    torch.testing.assert_close(scores, expected_scores, rtol=1e-4, atol=1e-5)


def test_batched_equals_one_by_one(tiny_export):
    _, runner = tiny_export
    crops = random_crops(4)
    keypoints, _ = runner(crops)
    one_by_one = torch.cat([runner(crop[None])[0] for crop in crops])
    torch.testing.assert_close(keypoints, one_by_one, rtol=0, atol=1e-4)


def test_empty_batch_gives_empty_outputs(tiny_export):
    _, runner = tiny_export
    keypoints, scores = runner(torch.zeros(0, 3, TINY_SIZE, TINY_SIZE))
    assert keypoints.shape == (0, TINY_LANDMARKS, 2) and scores.shape == (0, TINY_LANDMARKS)


def test_metadata_describes_the_model(tiny_export):
    network, runner = tiny_export
    meta = runner.metadata
    assert runner.input_size == meta["input_size"] == (TINY_SIZE, TINY_SIZE)
    assert runner.num_landmarks == meta["num_landmarks"] == TINY_LANDMARKS
    assert (meta["stride"], meta["topk"], meta["codec"], meta["h3r_version"]) == (4, 9, "h3r", __version__)
    assert meta["mean"] == tuple(SETTINGS["mean"]) and meta["std"] == tuple(SETTINGS["std"])
    assert meta["flip_permutation"] == SETTINGS["flip_permutation"]
    assert (meta["crop_scale"], meta["flip"]) == (1.25, True)


def test_graph_holds_the_decoder_with_a_dynamic_batch_axis(tiny_export):
    _, runner = tiny_export
    model = onnx.load(runner.path)
    onnx.checker.check_model(model, full_check=True)
    assert model.producer_name == "h3r" and model.opset_import[0].version == 17
    assert {"TopK", "Softmax"} <= {node.op_type for node in model.graph.node}
    shapes = {value.name: [dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim]
              for value in [*model.graph.input, *model.graph.output]}
    assert shapes == {"crops": ["N", 3, TINY_SIZE, TINY_SIZE], "keypoints": ["N", TINY_LANDMARKS, 2],
                      "scores": ["N", TINY_LANDMARKS]}


def test_runner_checks_the_crop_shape(tiny_export):
    _, runner = tiny_export
    with pytest.raises(ValueError, match=r"crops must have shape \(N, 3, 64, 64\), got \(1, 3, 32, 32\)"):
        runner(torch.zeros(1, 3, 32, 32))


def test_runner_names_the_file_it_cannot_use(tmp_path):
    missing = tmp_path / "missing.onnx"
    with pytest.raises(OnnxModelError, match=f"{missing}: file not found"):
        OnnxRunner(missing)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf")
    with pytest.raises(OnnxModelError, match=f"{garbage}: cannot load as an ONNX model"):
        OnnxRunner(garbage)
    foreign = tmp_path / "foreign.onnx"
    onnx.save(identity_model(["crops"], ["keypoints", "scores"]), foreign)
    with pytest.raises(OnnxModelError, match=f"{foreign}: not an h3r export: its metadata lacks input_size"):
        OnnxRunner(foreign)
    renamed = tmp_path / "renamed.onnx"
    onnx.save(identity_model(["image"], ["out"]), renamed)
    with pytest.raises(OnnxModelError, match=f"{renamed}: not an h3r landmark model: expected input 'crops'"):
        OnnxRunner(renamed)


def identity_model(inputs: list[str], outputs: list[str]) -> onnx.ModelProto:
    """A valid ONNX model without h3r metadata: each output a copy of the first input."""
    helper = onnx.helper
    values = [helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, [1]) for name in inputs + outputs]
    nodes = [helper.make_node("Identity", [inputs[0]], [name]) for name in outputs]
    graph = helper.make_graph(nodes, "foreign", values[: len(inputs)], values[len(inputs):])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_an_export_loads_as_a_model_like_any_other(tiny_export):
    """``--model x.onnx``: the file's metadata sets up the detector, which finds PyTorch's landmarks."""
    network, runner = tiny_export
    detector = load_detector(runner.path, threads=1, flip=False)
    expected = LandmarkDetector.from_model(network.model, network.codec, **{**SETTINGS, "flip": False})
    assert (detector.input_size, detector.num_landmarks, detector.crop_scale) == (TINY_SIZE, TINY_LANDMARKS, 1.25)
    assert detector.flip_permutation == tuple(SETTINGS["flip_permutation"]) and load_detector(runner.path).flip
    image = np.random.default_rng(0).integers(0, 256, (90, 80, 3), dtype=np.uint8)
    boxes = [[10, 10, 60, 70], [30, 20, 79, 89]]
    np.testing.assert_allclose(detector.predict(image, boxes)[0], expected.predict(image, boxes)[0], atol=TOLERANCE_PX)


def test_export_refuses_incomplete_metadata_and_unknown_opsets(tmp_path):
    network = tiny_network("binary")
    with pytest.raises(ValueError, match="metadata lacks flip_permutation, mean"):
        export_onnx(network, tmp_path / "a.onnx", metadata={"crop_scale": 1.25, "flip": True, "std": [1, 1, 1]})
    with pytest.raises(ValueError, match="metadata flip_permutation has 3 entries, the network 7 landmarks"):
        export_onnx(network, tmp_path / "a.onnx", metadata={**SETTINGS, "flip_permutation": [2, 1, 0]})
    with pytest.raises(ValueError, match="opset must be in 13..20, got 9"):
        export_onnx(network, tmp_path / "a.onnx", metadata=SETTINGS, opset=9)
    assert not (tmp_path / "a.onnx").exists()


def official_export(official_dir, name, tmp_path_factory) -> tuple[DecodingNetwork, OnnxRunner, torch.Tensor]:
    """A released model exported to ONNX, with the authors' normalised demo crop (1, 3, S, S)."""
    detector = LandmarkDetector.from_official(official_dir / "models" / name)
    network = detector.runner
    path = export_onnx(network, tmp_path_factory.mktemp("official") / f"{name}.onnx",
                       metadata={**detector.preprocessing(), "source": name})
    demo = torch.from_numpy(np.load(official_dir / "reference" / f"{name}_demo_input.npy"))
    return network, OnnxRunner(path, threads=1), demo


def demo_batch(demo: torch.Tensor) -> torch.Tensor:
    """Five real crops from the demo crop (1, 3, S, S): itself, mirrored, shifted, darker, and upside down."""
    return torch.cat([demo, demo.flip(-1), demo.roll(8, dims=-1), 0.8 * demo, demo.flip(-2)])


@pytest.mark.parametrize("name", OFFICIAL_MODELS)
def test_released_models_match_pytorch_on_the_demo_crop(official_dir, name, tmp_path_factory):
    network, runner, demo = official_export(official_dir, name, tmp_path_factory)
    assert runner.metadata["source"] == name
    assert runner.metadata["num_landmarks"] == len(runner.metadata["flip_permutation"])
    for crops in (demo, demo_batch(demo)):
        assert max_difference(network, runner, crops) <= TOLERANCE_PX
