"""Loading the authors' torchalign checkpoints: conformance with their outputs and clear loader errors."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from h3r.models import OfficialCheckpointError, build_model, load_official
from h3r.models.official import IMAGENET_MEAN, IMAGENET_STD, WFLW_FLIP_PERMUTATION, torchalign_names

OFFICIAL_MODELS = (
    "wflw_mobilenet_128x128_p2",
    "wflw_mobilenet_160x160_p2",
    "wflw_mobilenet_256x256_p2",
    "lapa_mobilenet_128x128_p2",
    "lapa_mobilenet_256x256_p2",
)
TORCHALIGN_WFLW_FLIP_ORDER = [
    32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15,
    14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 46, 45, 44,
    43, 42, 50, 49, 48, 47, 37, 36, 35, 34, 33, 41, 40, 39, 38, 51, 52, 53,
    54, 59, 58, 57, 56, 55, 72, 71, 70, 69, 68, 75, 74, 73, 64, 63, 62, 61,
    60, 67, 66, 65, 82, 81, 80, 79, 78, 77, 76, 87, 86, 85, 84, 83, 92, 91,
    90, 89, 88, 95, 94, 93, 97, 96,
]  # fmt: skip

CONFIG = {
    "INPUT": {"SIZE": [64, 64], "FLIP_ORDER": [1, 0, 2, 4, 3]},
    "BACKBONE": {"ARCH": "mobilenetv2"},
    "HEATMAP": {"IN_CHANNEL": 152, "PROJ_CHANNEL": 152, "OUT_CHANNEL": 5, "TOPK": 4},
}


@pytest.mark.parametrize("name", OFFICIAL_MODELS)
def test_released_models_reproduce_the_authors_logits(official_dir, name):
    official = load_official(official_dir / "models" / name)
    image = torch.from_numpy(np.load(official_dir / "reference" / f"{name}_demo_input.npy"))
    expected = torch.from_numpy(np.load(official_dir / "reference" / f"{name}_demo_logits.npy"))
    size = official.input_size[0]
    assert image.shape == (1, 3, size, size)
    assert expected.shape == (1, 2, official.num_landmarks, size // 4, size // 4)
    with torch.no_grad():
        logits = official.model(image)
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", OFFICIAL_MODELS)
def test_released_settings(official_dir, name):
    official = load_official(official_dir / "models" / name)
    size = int(name.split("_")[2].split("x")[0])
    num_landmarks = 98 if name.startswith("wflw") else 106
    assert official.input_size == (size, size)
    assert official.num_landmarks == num_landmarks == official.model.num_landmarks
    assert (official.stride, official.topk, official.crop_scale, official.flip) == (4, 9, 1.25, True)
    assert (official.mean, official.std) == (IMAGENET_MEAN, IMAGENET_STD)
    assert not official.model.training
    permutation = official.flip_permutation
    assert sorted(permutation) == list(range(num_landmarks))
    assert [permutation[i] for i in permutation] == list(range(num_landmarks))
    if name.startswith("wflw"):
        assert permutation == WFLW_FLIP_PERMUTATION


def test_wflw_flip_permutation_is_torchaligns_default():
    assert WFLW_FLIP_PERMUTATION == TORCHALIGN_WFLW_FLIP_ORDER


def write_checkpoint(folder: Path, config: dict = CONFIG, state: dict | None = None, num_landmarks: int = 5) -> Path:
    """A torchalign-style model folder holding a randomly initialised network."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    if state is None:
        torch.manual_seed(0)
        net = build_model(num_landmarks=num_landmarks)
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                torch.nn.init.uniform_(module.running_var, 0.5, 2.0)
                torch.nn.init.normal_(module.running_mean)
        names = torchalign_names(net)
        state = {names[key]: value for key, value in net.state_dict().items()}
    torch.save(state, folder / "model.pth")
    return folder


def test_torchalign_state_dict_round_trips(tmp_path):
    torch.manual_seed(0)
    net = build_model(num_landmarks=5).eval()
    names = torchalign_names(net)
    folder = write_checkpoint(tmp_path / "m", state={names[key]: value for key, value in net.state_dict().items()})
    official = load_official(folder)
    image = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(official.model(image), net(image), rtol=0, atol=0)
    assert official.input_size == (64, 64) and official.topk == 4 and official.flip_permutation == [1, 0, 2, 4, 3]


def test_torchalign_names_follow_the_released_layout():
    names = set(torchalign_names(build_model(num_landmarks=98)).values())
    assert "backbone.features.0.0.weight" in names
    assert "backbone.features.1.conv.3.weight" in names and "backbone.features.1.conv.6.weight" not in names
    assert "backbone.features.13.conv.7.num_batches_tracked" in names
    assert "heatmap_head.head.layers.3.weight" in names
    assert len(names) == 241


def assert_load_fails(folder: Path, *fragments: str) -> None:
    with pytest.raises(OfficialCheckpointError) as caught:
        load_official(folder)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_missing_folder_or_files(tmp_path):
    assert_load_fails(tmp_path / "nowhere", str(tmp_path / "nowhere"), "model folder not found")
    folder = write_checkpoint(tmp_path / "m")
    (folder / "model.pth").unlink()
    assert_load_fails(folder, str(folder / "model.pth"), "file not found")
    (folder / "config.yaml").unlink()
    assert_load_fails(folder, str(folder / "config.yaml"), "file not found")


def test_corrupt_files(tmp_path):
    folder = write_checkpoint(tmp_path / "m")
    (folder / "model.pth").write_bytes(b"\x80\x02 not a checkpoint")
    assert_load_fails(folder, str(folder / "model.pth"), "cannot read the torch state dict")
    (folder / "config.yaml").write_text("INPUT: [unclosed")
    assert_load_fails(folder, str(folder / "config.yaml"), "cannot read YAML")


class Payload:
    """Stands for an arbitrary object that a safe loader must refuse to unpickle."""


def test_arbitrary_objects_are_not_unpickled(tmp_path):
    folder = write_checkpoint(tmp_path / "m")
    torch.save({"backbone.features.0.0.weight": Payload()}, folder / "model.pth")
    assert_load_fails(folder, str(folder / "model.pth"), "cannot read the torch state dict")


def test_non_tensor_contents(tmp_path):
    folder = write_checkpoint(tmp_path / "m", state={"weights": [1, 2, 3]})
    assert_load_fails(folder, "expected a dict of tensors")


def test_missing_and_unexpected_keys(tmp_path):
    folder = write_checkpoint(tmp_path / "m")
    state = torch.load(folder / "model.pth", weights_only=True)
    state["backbone.extra.weight"] = state.pop("backbone.features.5.conv.3.weight")
    torch.save(state, folder / "model.pth")
    assert_load_fails(
        folder,
        str(folder / "model.pth"),
        "missing keys backbone.features.5.conv.3.weight",
        "unexpected keys backbone.extra.weight",
    )


def test_wrong_shapes(tmp_path):
    folder = write_checkpoint(tmp_path / "m", num_landmarks=6)
    assert_load_fails(folder, "heatmap_head.head.layers.3.weight has shape (12, 152, 1, 1), expected (10, 152, 1, 1)")


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("BACKBONE", "ARCH", "hrnet18", "BACKBONE.ARCH must be 'mobilenetv2'"),
        ("HEATMAP", "IN_CHANNEL", 270, "HEATMAP.IN_CHANNEL must be 152"),
        ("HEATMAP", "STRIDE", 8, "HEATMAP.STRIDE must be 4"),
        ("HEATMAP", "OUT_CHANNEL", 0, "HEATMAP.OUT_CHANNEL must be an int >= 1"),
        ("INPUT", "SIZE", [64], "INPUT.SIZE must be two ints >= 1"),
        ("INPUT", "FLIP_ORDER", [0, 1, 2, 3, 3], "INPUT.FLIP_ORDER must be a permutation of 0..4"),
        ("INPUT", "FLIP_ORDER", "reverse", "INPUT.FLIP_ORDER must be a list of ints"),
        ("INPUT", "MEAN", [0.5, 0.5, 0.5], "unknown keys in INPUT: MEAN"),
    ],
)
def test_unsupported_configs(tmp_path, section, key, value, message):
    config = {name: dict(values) for name, values in CONFIG.items()}
    config[section][key] = value
    folder = write_checkpoint(tmp_path / "m", config=config)
    assert_load_fails(folder, str(folder / "config.yaml"), message)


def test_missing_architecture_means_torchaligns_default_hrnet(tmp_path):
    config = {name: dict(values) for name, values in CONFIG.items() if name != "BACKBONE"}
    assert_load_fails(write_checkpoint(tmp_path / "m", config=config), "BACKBONE.ARCH must be 'mobilenetv2'")
