"""Load the authors' released torchalign checkpoints (``model.pth`` + ``config.yaml``) into our modules.

A model folder holds ``config.yaml`` (torchalign's yacs settings, overriding the defaults below) and
``model.pth`` (a torch pickle of an ``OrderedDict`` state dict), read with ``weights_only=True`` so that no
arbitrary object is unpickled. Only the released MobileNetV2 models are supported. torchalign names
the backbone ``backbone.features.{i}`` (``0`` the stem, ``1``-``13`` the inverted residual blocks in order,
each a flat ``conv`` sequence of conv/BN/ReLU6 triples) and the head ``heatmap_head.head.layers.{0,1,3}``
(conv, BN, conv).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from torch import nn

from h3r.data.datasets.schemes import WFLW_98
from h3r.models.landmark_model import LandmarkNet, build_model
from h3r.utils.formats import load_torch_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WFLW_FLIP_PERMUTATION = list(WFLW_98.flip_permutation)  # torchalign's default FLIP_ORDER

TORCHALIGN_DEFAULTS = {
    "INPUT": {
        "SIZE": [256, 256],
        "SCALE": 1.25,
        "DATASET": "WFLW",
        "BBOX": "P1",
        "FLIP": True,
        "FLIP_ORDER": WFLW_FLIP_PERMUTATION,
    },
    "BACKBONE": {"ARCH": "hrnet18"},
    "HEATMAP": {
        "ARCH": "HeatmapHead",
        "IN_CHANNEL": 270,
        "PROJ_CHANNEL": 270,
        "OUT_CHANNEL": 98,
        "STRIDE": 4.0,
        "ENCODER": "Coordinate2BinaryHeatmap",
        "DECODER": "BinaryHeatmap2Coordinate",
        "BLOCK": "BinaryHeadBlock",
        "TOPK": 9,
    },
}


class OfficialCheckpointError(ValueError):
    """A released model folder is missing a file, or a file cannot be read or does not fit the network."""


@dataclass(frozen=True)
class OfficialModel:
    """A released model (in eval mode) with the settings its authors used at test time.

    ``input_size`` is (H, W) of the network input; ``stride`` is the heatmap stride; ``topk`` the number of
    cells averaged when decoding; the face box's longer side times ``crop_scale`` is the crop side;
    ``flip`` turns on flip testing, where landmark ``i`` is read from landmark ``flip_permutation[i]`` of
    the prediction on the mirrored image; ``mean``/``std`` normalise RGB values in [0, 1].
    """

    model: LandmarkNet
    input_size: tuple[int, int]
    num_landmarks: int
    flip_permutation: list[int]
    stride: int = 4
    topk: int = 9
    crop_scale: float = 1.25
    flip: bool = True
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def load_official(model_dir: str | Path) -> OfficialModel:
    """Load a released torchalign MobileNetV2 model folder (``config.yaml`` + ``model.pth``).

    Raises:
        OfficialCheckpointError: (a ``ValueError``) naming the file and the problem when a file is missing
            or unreadable, the config is unsupported, or the state dict has missing, unexpected or
            mis-shaped entries.
    """
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise OfficialCheckpointError(f"{model_dir}: model folder not found")
    config = read_config(model_dir / "config.yaml")
    settings = _settings(config, model_dir / "config.yaml")
    model = build_model(
        "mobilenetv2",
        num_landmarks=settings["num_landmarks"],
        head="binary",
        head_channels=config["HEATMAP"]["PROJ_CHANNEL"],
    )
    state = read_state_dict(model_dir / "model.pth")
    model.load_state_dict(from_torchalign(state, model, model_dir / "model.pth"))
    return OfficialModel(model=model.eval(), **settings)


def read_config(path: Path) -> dict:
    """torchalign's defaults overridden by the yaml file at ``path``, as {section: {key: value}}."""
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: file not found")
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise OfficialCheckpointError(f"{path}: cannot read YAML: {_first_line(error)}") from error
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, dict):
        raise OfficialCheckpointError(f"{path}: expected a mapping of sections, got {type(loaded).__name__}")
    config = {section: dict(values) for section, values in TORCHALIGN_DEFAULTS.items()}
    for section, values in loaded.items():
        if section not in config or not isinstance(values, dict):
            raise OfficialCheckpointError(f"{path}: unknown section or not a mapping: {section!r}")
        unknown = sorted(set(values) - set(config[section]))
        if unknown:
            raise OfficialCheckpointError(f"{path}: unknown keys in {section}: {', '.join(unknown)}")
        config[section].update(values)
    return config


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a torch checkpoint, loaded with ``weights_only=True`` on the CPU."""
    if not path.is_file():
        raise OfficialCheckpointError(f"{path}: file not found")
    state = load_torch_file(path, OfficialCheckpointError, "torch state dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise OfficialCheckpointError(f"{path}: expected a dict of tensors, got {type(state).__name__}")
    return state


def from_torchalign(state: dict[str, torch.Tensor], model: LandmarkNet, path: Path) -> dict[str, torch.Tensor]:
    """Rename a torchalign state dict to ``model``'s keys, checking that keys and shapes match exactly."""
    ours = model.state_dict()
    our_key = {theirs: key for key, theirs in torchalign_names(model).items()}
    problems = []
    missing = sorted(set(our_key) - set(state))
    unexpected = sorted(set(state) - set(our_key))
    if missing:
        problems.append(f"missing keys {_listing(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_listing(unexpected)}")
    for key in sorted(set(state) & set(our_key)):
        expected = tuple(ours[our_key[key]].shape)
        if tuple(state[key].shape) != expected:
            problems.append(f"{key} has shape {tuple(state[key].shape)}, expected {expected}")
    if problems:
        raise OfficialCheckpointError(f"{path}: state dict does not fit MobileNetV2: {'; '.join(problems)}")
    return {our_key[key]: tensor for key, tensor in state.items()}


def torchalign_names(model: LandmarkNet) -> dict[str, str]:
    """Each of ``model``'s state-dict keys -> torchalign's name for it (MobileNetV2 + binary head).

    Examples:
        >>> names = torchalign_names(build_model(num_landmarks=98))
        >>> names["backbone.levels.0.1.depthwise.1.running_var"]
        'backbone.features.2.conv.4.running_var'
        >>> names["head.logits.weight"]
        'heatmap_head.head.layers.3.weight'
    """
    modules = _torchalign_modules(model)
    names = {}
    for key in model.state_dict():
        module, leaf = key.rsplit(".", 1)
        names[key] = f"{modules.get(module, module)}.{leaf}"
    return names


def _torchalign_modules(model: LandmarkNet) -> dict[str, str]:
    """Our module path -> torchalign's, for every module holding parameters or buffers."""
    names = {
        "backbone.stem.0": "backbone.features.0.0",
        "backbone.stem.1": "backbone.features.0.1",
        "head.project.0": "heatmap_head.head.layers.0",
        "head.project.1": "heatmap_head.head.layers.1",
        "head.logits": "heatmap_head.head.layers.3",
    }
    blocks = [
        (f"backbone.levels.{level_index}.{block_index}", block)
        for level_index, level in enumerate(model.backbone.levels)
        for block_index, block in enumerate(level)
    ]
    for feature_index, (name, block) in enumerate(blocks, start=1):
        parts = ["expand", "depthwise", "project"]
        if isinstance(block.expand, nn.Identity):
            parts.remove("expand")
        for slot, part in enumerate(parts):
            for layer in (0, 1):
                names[f"{name}.{part}.{layer}"] = f"backbone.features.{feature_index}.conv.{3 * slot + layer}"
    return names


def _settings(config: dict, path: Path) -> dict:
    """OfficialModel's settings from a torchalign config, refusing what our network cannot reproduce."""
    inputs, heatmap = config["INPUT"], config["HEATMAP"]
    checks = {
        "BACKBONE.ARCH must be 'mobilenetv2'": config["BACKBONE"]["ARCH"] == "mobilenetv2",
        "HEATMAP.IN_CHANNEL must be 152 (MobileNetV2 at width 1)": heatmap["IN_CHANNEL"] == 152,
        "HEATMAP.BLOCK must be 'BinaryHeadBlock'": heatmap["BLOCK"] == "BinaryHeadBlock",
        "HEATMAP.STRIDE must be 4": heatmap["STRIDE"] == 4,
        "HEATMAP.OUT_CHANNEL must be an int >= 1": _is_positive_int(heatmap["OUT_CHANNEL"]),
        "HEATMAP.PROJ_CHANNEL must be an int >= 1": _is_positive_int(heatmap["PROJ_CHANNEL"]),
        "HEATMAP.TOPK must be an int >= 1": _is_positive_int(heatmap["TOPK"]),
        "INPUT.SIZE must be two ints >= 1": _is_size(inputs["SIZE"]),
        "INPUT.SCALE must be a positive number": _is_positive_number(inputs["SCALE"]),
        "INPUT.FLIP must be true or false": isinstance(inputs["FLIP"], bool),
        "INPUT.FLIP_ORDER must be a list of ints": _is_int_list(inputs["FLIP_ORDER"]),
    }
    failed = [message for message, ok in checks.items() if not ok]
    if failed:
        raise OfficialCheckpointError(f"{path}: unsupported config: {'; '.join(failed)}")
    num_landmarks = heatmap["OUT_CHANNEL"]
    permutation = list(inputs["FLIP_ORDER"])
    if sorted(permutation) != list(range(num_landmarks)):
        raise OfficialCheckpointError(
            f"{path}: INPUT.FLIP_ORDER must be a permutation of 0..{num_landmarks - 1} "
            f"(HEATMAP.OUT_CHANNEL landmarks), got {len(permutation)} entries"
        )
    return {
        "input_size": tuple(inputs["SIZE"]),
        "num_landmarks": num_landmarks,
        "flip_permutation": permutation,
        "topk": heatmap["TOPK"],
        "crop_scale": float(inputs["SCALE"]),
        "flip": bool(inputs["FLIP"]),
    }


def _is_positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _is_int_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in value)


def _is_size(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_positive_int, value))


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _listing(keys: list[str], shown: int = 5) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
