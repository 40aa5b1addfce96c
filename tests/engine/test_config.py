"""Experiment configs: every shipped config validates; unknown keys, bad values and overrides are reported clearly."""

import itertools
import random
from pathlib import Path

import pytest
import yaml

from h3r.data.augment import AugmentSettings
from h3r.engine.config import ConfigError, apply_overrides, holdout, load_config, validate_config
from h3r.engine.train import learning_rate_factor

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
MINIMAL = {"data": {"train": "300w:faces", "val_split": "every_10th"}}


def write(path: Path, raw) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def problems(raw: dict) -> str:
    with pytest.raises(ConfigError) as error:
        validate_config(raw)
    return str(error.value)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.name)
def test_every_shipped_config_validates_without_data(path):
    config = load_config(path)
    if config.data.train.startswith(("coco-pose:", "mpii:", "lsp:")):  # people: a validation set of their own
        assert config.data.val is not None and config.data.box == "dataset"
    else:
        assert config.data.val_split == "every_10th"
    assert config.head in ("binary", "heatmap")


def test_the_paper_setups_are_all_shipped():
    names = {path.stem for path in CONFIGS}
    for dataset in ("wflw", "300w", "cofw", "aflw"):
        assert {f"{dataset}_mobilenetv2_128", f"{dataset}_mobilenetv2_256", f"{dataset}_hrnet_w18_256"} <= names
    assert "300w_subset_mobilenetv2_128" in names
    assert {"coco_hrnet_w32_256x192", "mpii_hrnet_w32_256", "lsp_mobilenetv2_128x96"} <= names
    assert load_config(CONFIGS[0].parent / "coco_hrnet_w32_256x192.yaml").data.size == (256, 192)


def test_defaults_fill_a_minimal_config():
    config = validate_config(MINIMAL)
    assert config.head == "binary" and config.loss_name == "binary-ce"
    assert config.augment == AugmentSettings()
    assert config.codec_settings() == {"input_size": 128, "stride": 4}
    assert validate_config(config.to_dict()) == config


def test_an_unknown_key_is_named_with_close_suggestions():
    message = problems({**MINIMAL, "optim": {"lrr": 0.1}, "augment": {"rotatoin": 10}, "sede": 1})
    assert "optim.lrr: unknown key; did you mean 'lr'?" in message
    assert "augment.rotatoin: unknown key; did you mean 'rotation'?" in message
    assert "sede: unknown key; did you mean 'seed'?" in message


def test_an_unknown_key_without_a_close_match_lists_the_known_ones():
    assert "trainer.zzz: unknown key; known keys: accelerator, devices" in problems({**MINIMAL, "trainer": {"zzz": 1}})


def test_bad_values_name_the_key_and_the_value():
    message = problems({**MINIMAL, "optim": {"lr": "fast", "batch_size": 0}, "model": {"backbone": "resnet"}})
    assert "optim.lr: bad value 'fast'" in message
    assert "optim.batch_size: bad value 0: Input should be greater than or equal to 1" in message
    assert "model.backbone: bad value 'resnet'" in message and "'mobilenetv2'" in message


def test_augmentation_limits_come_from_augment_settings():
    message = problems({**MINIMAL, "augment": {"rotation": 400}})
    assert "AugmentSettings.rotation must be a number in [0, 180]" in message
    assert validate_config({**MINIMAL, "augment": None}).augment is None


def test_missing_and_conflicting_data_sources_are_reported():
    assert "data: required key is missing" in problems({})
    both = {"data": {"train": "300w:a", "val": "300w:b", "val_split": "every_10th"}}
    assert "give exactly one of val" in problems(both)
    assert "give exactly one of val" in problems({"data": {"train": "300w:a"}})
    assert "data.val_split: bad value 'every_1st'" in problems({"data": {**MINIMAL["data"], "val_split": "every_1st"}})


def test_codec_settings_are_checked_against_the_codec():
    assert "settings.topkk: unknown setting of codec 'h3r'; did you mean 'topk'?" in problems(
        {**MINIMAL, "codec": {"settings": {"topkk": 9}}}
    )
    assert "settings.stride cannot be set" in problems({**MINIMAL, "codec": {"settings": {"stride": 2}}})
    assert "topk must be an int in [1, 1024]" in problems({**MINIMAL, "codec": {"settings": {"topk": 0}}})
    assert "data.input_size=130 must be a multiple of model.output_stride=4" in problems(
        {"data": {**MINIMAL["data"], "input_size": 130}}
    )


def test_impossible_codec_and_loss_combinations_are_rejected():
    message = problems({**MINIMAL, "codec": {"name": "dark"}, "loss": "binary-ce"})
    assert "loss: codec 'dark' cannot be trained with loss 'binary-ce'" in message
    config = validate_config({**MINIMAL, "codec": {"name": "soft-argmax", "settings": {"beta": 2.0}}})
    assert (config.head, config.loss_name) == ("heatmap", "l1")


def test_schedule_must_fit_the_epochs():
    assert "milestones=[70]" in problems({**MINIMAL, "optim": {"epochs": 60, "milestones": [70]}})
    message = problems({**MINIMAL, "optim": {"epochs": 5, "warmup_epochs": 5}})
    assert "warmup_epochs=5.0 must be below epochs=5" in message
    assert validate_config({**MINIMAL, "optim": {"schedule": "cosine", "milestones": [99]}}).optim.milestones == [99]


def test_overrides_set_dotted_keys_read_as_yaml_and_are_type_checked(tmp_path):
    path = write(tmp_path / "run.yaml", {**MINIMAL, "optim": {"lr": 0.1}})
    overrides = ["optim.lr=1e-3", "optim.milestones=[10, 20]", "trainer.devices=2", "augment.rotation=5"]
    config = load_config(path, overrides)
    assert config.optim.lr == 0.001 and config.optim.milestones == [10, 20]
    assert config.trainer.devices == 2 and config.augment.rotation == 5.0
    with pytest.raises(ConfigError, match="optim.lr: bad value 'abc'"):
        load_config(path, ["optim.lr=abc"])
    with pytest.raises(ConfigError, match="optim.lrr: unknown key; did you mean 'lr'"):
        load_config(path, ["optim.lrr=1"])


def test_malformed_overrides_are_rejected():
    with pytest.raises(ConfigError, match="must look like dotted.key=value"):
        apply_overrides({}, ["optim.lr"])
    with pytest.raises(ConfigError, match="seed is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.value=2"])


def test_overrides_leave_the_input_untouched():
    raw = {"optim": {"lr": 0.1}}
    assert apply_overrides(raw, ["optim.lr=0.2", "model.width_mult=0.5"]) == {
        "optim": {"lr": 0.2},
        "model": {"width_mult": 0.5},
    }
    assert raw == {"optim": {"lr": 0.1}}


def test_unreadable_config_files_are_named(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: cannot read YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(tmp_path / "list.yaml")
    write(tmp_path / "typo.yaml", {**MINIMAL, "optimm": {}})
    with pytest.raises(ConfigError, match=r"typo.yaml: invalid config:\n  optimm: unknown key; did you mean 'optim'"):
        load_config(tmp_path / "typo.yaml")


def test_holdout_is_every_nth_face_by_sorted_path_whatever_the_reading_order():
    paths = [f"{folder}/img{i:03d}.jpg" for folder in ("afw", "helen/trainset", "lfpw/trainset") for i in range(40)]
    _, held = holdout(len(paths), "every_10th", paths)
    held_paths = {paths[i] for i in held}
    assert len(held) == 12  # 10 % of 120
    assert held_paths == {sorted(paths)[i] for i in range(9, 120, 10)}
    shuffled = random.Random(0).sample(paths, len(paths))
    train, held_again = holdout(len(shuffled), "every_10th", shuffled)
    assert {shuffled[i] for i in held_again} == held_paths
    assert sorted(train + held_again) == list(range(120))


def test_learning_rate_schedules():
    config = validate_config({**MINIMAL, "optim": {"epochs": 10, "warmup_epochs": 2, "milestones": [5, 8]}})
    factors = [learning_rate_factor(step, config.optim, steps_per_epoch=10) for step in range(100)]
    assert factors[0] == pytest.approx(1 / 20) and factors[19] == 1.0
    assert factors[49] == 1.0 and factors[50] == pytest.approx(0.1) and factors[80] == pytest.approx(0.01)
    cosine = validate_config({**MINIMAL, "optim": {"epochs": 10, "warmup_epochs": 0, "schedule": "cosine",
                                                   "final_lr_ratio": 0.1}})  # fmt: skip
    factors = [learning_rate_factor(step, cosine.optim, steps_per_epoch=10) for step in range(101)]
    assert factors[0] == 1.0 and factors[50] == pytest.approx(0.55) and factors[100] == pytest.approx(0.1)
    assert all(a >= b for a, b in itertools.pairwise(factors))
