"""Training experiments as typed settings: a YAML file, ``key=value`` overrides, one validated ``TrainConfig``.

A config file holds the sections below (every key is optional except ``data.train`` and one of
``data.val`` / ``data.val_split``; see ``configs/*.yaml`` for complete examples)::

    seed: 0                      # base seed of model init, data order, augmentation and codec draws
    output_dir: runs/NAME        # the run folder: checkpoints, logs, the resolved config
    data:
      train: 300w:PATH           # READER:PATH[:SPLIT], see h3r.data.datasets.read_dataset (faces or people)
      val: null                  # a separate validation dataset spec, or
      val_split: every_10th      # a fixed part of ``train`` held out for validation (see ``holdout``)
      box: landmarks             # crop box: ``landmarks`` (bounding box, the paper's P1) or ``dataset``
      input_size: 128            # side of the square network input, or [H, W] (pose: e.g. [256, 192])
      crop_scale: 1.25           # crop side over the longer box side (pose: over the box side it keeps)
      workers: 2                 # DataLoader worker processes
      skip_bad: false            # leave out malformed samples and unreadable images instead of stopping
      exif_transpose: true       # read images as displayed (EXIF orientation applied); false: as stored
    model: {backbone: mobilenetv2, width_mult: 1.0, output_stride: 4, head_channels: null,
            init: null}          # init: imagenet (the shipped ImageNet backbone), or a model to start from
                                 #   (face68, a bundle or run folder, a .ckpt)
    codec: {name: h3r, settings: {topk: 9}}  # input_size and stride come from data and model
    loss: auto                   # or binary-ce, mse, l1 (see h3r.engine.losses.head_and_loss)
    augment: {rotation: 30, ...}  # h3r.data.augment.AugmentSettings; null for none
    optim: {name: adam, lr: 1.0e-3, batch_size: 16, epochs: 60, warmup_epochs: 1, schedule: step, ...}
    trainer: {accelerator: auto, devices: auto, strategy: auto, precision: 32-true, ...}

Relative paths (dataset specs, ``output_dir``) are taken from the working directory.

Human pose: a pose dataset (``coco-pose``, ``mpii``, ``lsp``, see ``h3r.data.pose``) makes the run a pose
run: top-down crops of the person boxes (``box: dataset``) at the aspect ratio of ``input_size``,
``augment.half_body`` available, and the dataset's own metric for validation and ``best.ckpt`` (see
``h3r.engine.pose``).

Validation split: ``val_split: every_Nth`` sorts the training faces by image path relative to their
common folder (ties, e.g. the faces of one WFLW image or of a COFW .mat file, keep the reader's order)
and holds out faces N, 2N, 3N, ... (1-based) of that order: ``every_10th`` keeps 10 % of the faces for
validation, the same ones on every run and machine, and never trains on them.

Overrides are ``dotted.key=value`` with the value read as YAML (``optim.lr=1e-3``,
``optim.milestones=[30,50]``, ``data.val=null``), then validated with the rest.
"""

import dataclasses
import difflib
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from h3r.codecs import CODECS, build_codec
from h3r.data.augment import AugmentSettings
from h3r.engine.losses import LOSSES, head_and_loss
from h3r.models import BACKBONES
from h3r.models.imagenet import IMAGENET_BACKBONES

__all__ = ["IMAGENET_INIT", "ConfigError", "TrainConfig", "apply_overrides", "holdout", "load_config", "validate_config"]

_VAL_SPLIT = re.compile(r"every_(\d+)(st|nd|rd|th)")
_DERIVED_SETTINGS = {"input_size", "stride", "ndim", "generator"}
IMAGENET_INIT = "imagenet"
"""``model.init`` value that starts the backbone from the ImageNet weights shipped in ``h3r.models.imagenet``."""


class ConfigError(ValueError):
    """A config that cannot be read or validated; the message names each bad key and value."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(_Section):
    """Where the faces come from and how they are cropped (see the module docstring)."""

    train: str
    val: str | None = None
    val_split: str | None = None
    box: Literal["landmarks", "dataset"] = "landmarks"
    input_size: int | tuple[int, int] = 128
    crop_scale: float = Field(1.25, gt=0)
    workers: int = Field(2, ge=0)
    skip_bad: bool = False
    exif_transpose: bool = True

    @field_validator("input_size")
    @classmethod
    def _large_enough(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        if min((value,) if isinstance(value, int) else value) < 8:
            raise ValueError("every side must be at least 8 pixels")
        return value

    @property
    def size(self) -> tuple[int, int]:
        """``input_size`` as (H, W)."""
        return (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size

    @field_validator("val_split")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        match = None if value is None else _VAL_SPLIT.fullmatch(value)
        if value is not None and (match is None or int(match[1]) < 2):
            raise ValueError("must be every_Nth with N >= 2, e.g. every_10th")
        return value

    @model_validator(mode="after")
    def _one_validation_source(self) -> "DataConfig":
        if (self.val is None) == (self.val_split is None):
            raise ValueError("give exactly one of val (a dataset spec) and val_split (e.g. every_10th)")
        return self


class ModelConfig(_Section):
    """The network; the head type follows from the codec and loss."""

    backbone: Literal[BACKBONES] = "mobilenetv2"
    width_mult: float = Field(1.0, gt=0)
    output_stride: Literal[4, 8, 16] = 4
    head_channels: int | None = Field(None, ge=1)
    init: str | None = None

    @model_validator(mode="after")
    def _imagenet_weights_exist(self) -> "ModelConfig":
        if self.init == IMAGENET_INIT and (self.backbone not in IMAGENET_BACKBONES or self.width_mult != 1.0):
            raise ValueError(
                f"init: imagenet: ImageNet weights ship for {', '.join(IMAGENET_BACKBONES)} at width_mult 1.0 only, "
                f"not {self.backbone!r} at width_mult {self.width_mult}"
            )
        return self


class CodecConfig(_Section):
    """A codec of ``h3r.codecs.CODECS`` and its settings other than ``input_size`` and ``stride``."""

    name: Literal[tuple(CODECS)] = "h3r"
    settings: dict[str, Any] = {}

    @model_validator(mode="after")
    def _known_settings(self) -> "CodecConfig":
        derived = sorted(_DERIVED_SETTINGS & set(self.settings))
        if derived:
            raise ValueError(
                f"settings.{', '.join(derived)} cannot be set: input_size is data.input_size, stride is "
                "model.output_stride, and ndim and generator are fixed for training"
            )
        known = [name for name in inspect.signature(CODECS[self.name]).parameters if name not in _DERIVED_SETTINGS]
        for name in self.settings:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
                hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"known: {', '.join(known)}"
                raise ValueError(f"settings.{name}: unknown setting of codec {self.name!r}; {hint}")
        return self


class OptimConfig(_Section):
    """Optimiser and schedule: linear warm-up over ``warmup_epochs``, then ``schedule``.

    ``step`` multiplies the rate by ``gamma`` at each epoch of ``milestones``; ``cosine`` decays it to
    ``lr * final_lr_ratio`` at the last epoch; ``constant`` keeps it. ``batch_size`` is per process.
    """

    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(60, ge=1)
    warmup_epochs: float = Field(1.0, ge=0)
    schedule: Literal["step", "cosine", "constant"] = "step"
    milestones: list[int] = [40, 55]
    gamma: float = Field(0.1, gt=0, le=1)
    final_lr_ratio: float = Field(0.0, ge=0, le=1)
    grad_clip: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _fits_epochs(self) -> "OptimConfig":
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"warmup_epochs={self.warmup_epochs} must be below epochs={self.epochs}")
        increasing = sorted(set(self.milestones)) == self.milestones
        if self.schedule == "step" and not (increasing and all(0 < m < self.epochs for m in self.milestones)):
            raise ValueError(
                f"milestones={self.milestones} must increase strictly and lie in 1..epochs-1 ({self.epochs - 1})"
            )
        return self


class TrainerConfig(_Section):
    """Devices and run-time plumbing (Lightning Fabric).

    Under ``torchrun`` the processes come from its environment: ``devices`` must be ``auto`` or the
    per-node process count. ``threads``: intra-op threads per process (None: torch's default, divided
    among the processes of a node on CPU). ``deterministic``: deterministic algorithms where torch has
    them. ``log_every``: steps between logged training losses.
    """

    accelerator: Literal["auto", "cpu", "cuda", "gpu", "mps"] = "auto"
    devices: int | Literal["auto"] = Field("auto")
    strategy: Literal["auto", "ddp", "ddp_spawn"] = "auto"
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    channels_last: bool = True
    deterministic: bool = True
    threads: int | None = Field(None, ge=1)
    log_every: int = Field(20, ge=1)

    @field_validator("devices")
    @classmethod
    def _positive(cls, value):
        if isinstance(value, int) and value < 1:
            raise ValueError("must be a positive int or 'auto'")
        return value


class TrainConfig(_Section):
    """A whole training experiment (see the module docstring)."""

    seed: int = Field(0, ge=0)
    output_dir: str = "runs/default"
    data: DataConfig
    model: ModelConfig = ModelConfig()
    codec: CodecConfig = CodecConfig()
    loss: Literal[("auto", *LOSSES)] = "auto"
    augment: AugmentSettings | None = AugmentSettings()
    optim: OptimConfig = OptimConfig()
    trainer: TrainerConfig = TrainerConfig()

    @model_validator(mode="after")
    def _codec_fits(self) -> "TrainConfig":
        if any(side % self.model.output_stride for side in self.data.size):
            raise ValueError(
                f"data.input_size={self.data.input_size} must be a multiple of "
                f"model.output_stride={self.model.output_stride}"
            )
        try:
            build_codec(self.codec.name, **self.codec_settings())
        except ValueError as error:
            raise ValueError(f"codec.settings: {error}") from None
        try:
            head_and_loss(self.codec.name, self.codec.settings, self.loss)
        except ValueError as error:
            raise ValueError(f"loss: {error}") from None
        return self

    @property
    def head(self) -> str:
        """The model head the codec and loss need: ``"binary"`` or ``"heatmap"``."""
        return head_and_loss(self.codec.name, self.codec.settings, self.loss)[0]

    @property
    def loss_name(self) -> str:
        """The loss, ``loss`` itself or the codec's default for ``auto``."""
        return head_and_loss(self.codec.name, self.codec.settings, self.loss)[1]

    def codec_settings(self) -> dict[str, Any]:
        """All the arguments of ``build_codec`` but the name: the settings plus input size and stride."""
        return {"input_size": self.data.input_size, "stride": self.model.output_stride, **self.codec.settings}

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-ready values; ``validate_config`` of it gives this config back."""
        return self.model_dump(mode="json")


def holdout(count: int, rule: str, sort_keys: list[str]) -> tuple[list[int], list[int]]:
    """Split ``count`` faces by ``rule`` (``every_Nth``): (training indices, validation indices).

    Faces are ordered by ``sort_keys`` (their relative image paths; ties keep their order) and every
    N-th of that order, 1-based, is held out.

    Examples:
        >>> holdout(5, "every_2nd", ["e", "d", "c", "b", "a"])
        ([0, 2, 4], [1, 3])
    """
    match = _VAL_SPLIT.fullmatch(rule)
    if match is None:
        raise ValueError(f"unknown validation split {rule!r}; expected every_Nth, e.g. every_10th")
    every = int(match[1])
    order = sorted(range(count), key=lambda index: sort_keys[index])
    held = {index for position, index in enumerate(order, start=1) if position % every == 0}
    return [i for i in range(count) if i not in held], sorted(held)


class _Loader(yaml.SafeLoader):
    """YAML 1.1 loader that also reads ``1e-3`` as a float (PyYAML wants ``1.0e-3``)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config, apply ``key=value`` overrides and validate it.

    Raises:
        ConfigError: the file is missing or not YAML, an override is malformed, or a key or value is bad.
    """
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read YAML: {error}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections, got {type(raw).__name__}")
    return validate_config(apply_overrides(raw, overrides), source=str(path))


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """A copy of ``raw`` with each ``dotted.key=value`` override set (value read as YAML).

    Examples:
        >>> apply_overrides({"optim": {"lr": 0.1}}, ["optim.lr=1e-3", "seed=3"])
        {'optim': {'lr': 0.001}, 'seed': 3}
    """
    raw = _copy(raw)
    for override in overrides:
        key, equals, text = override.partition("=")
        if not equals or not key.strip():
            raise ConfigError(f"override {override!r} must look like dotted.key=value, e.g. optim.lr=1e-3")
        try:
            value = yaml.load(text, Loader=_Loader) if text.strip() else ""
        except yaml.YAMLError as error:
            raise ConfigError(f"override {override!r}: cannot read the value as YAML: {error}") from None
        *parents, leaf = key.strip().split(".")
        section = raw
        for depth, name in enumerate(parents):
            if section.get(name) is None:
                section[name] = {}
            if not isinstance(section[name], dict):
                where = ".".join(parents[: depth + 1])
                raise ConfigError(f"override {override!r}: {where} is a value, not a section")
            section = section[name]
        section[leaf] = value
    return raw


def _copy(value):
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


def validate_config(raw: dict, source: str = "config") -> TrainConfig:
    """A ``TrainConfig`` from plain values, or a ``ConfigError`` listing every bad key and value."""
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as error:
        problems = "\n".join(f"  {_describe(item)}" for item in error.errors())
        raise ConfigError(f"{source}: invalid config:\n{problems}") from None


def _describe(item: dict) -> str:
    """One line for a pydantic error: the dotted key, then an unknown-key hint or the bad value and why."""
    loc = [str(part) for part in item["loc"]]
    key = ".".join(loc) or "(top level)"
    if item["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"known keys: {', '.join(known)}"
        return f"{key}: unknown key; {hint}"
    if item["type"] == "missing":
        return f"{key}: required key is missing"
    message = item["msg"].removeprefix("Value error, ")
    if not loc:
        return message
    if isinstance(item.get("input"), dict):
        return f"{key}: {message}"
    return f"{key}: bad value {item.get('input')!r}: {message}"


def _known_keys(path: list[str]) -> list[str]:
    """The keys allowed at ``path`` (a list of section names) of a ``TrainConfig``."""
    kind: Any = TrainConfig
    for name in path:
        kind = _fields(kind).get(name)
        if kind is None:
            return []
    return list(_fields(kind))


def _fields(kind) -> dict[str, Any]:
    """Field name → type of a pydantic model or dataclass (``X | None`` unwrapped); {} for other types."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        kinds = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        kind = kinds[0] if len(kinds) == 1 else None
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return {name: field.annotation for name, field in kind.model_fields.items()}
    if dataclasses.is_dataclass(kind):
        return {field.name: field.type for field in dataclasses.fields(kind)}
    return {}
