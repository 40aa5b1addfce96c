"""benchmarks/resolution_study.py: the planned runs, each run's config, and the report from the results so far."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # benchmarks/ is no package
import resolution_study  # noqa: E402


def test_every_codec_runs_at_every_stride_and_twice_at_strides_4_and_16():
    runs = resolution_study.EDITIONS["random"].planned_runs()
    assert len({run.name for run in runs}) == len(runs) == 6 * 3 + 6 * 2
    assert {run.stride for run in runs if run.seed == 1} == {4, 16}


def test_the_imagenet_edition_runs_every_cell_twice_and_the_stability_runs_first():
    runs = resolution_study.EDITIONS["imagenet"].planned_runs()
    assert len({run.name for run in runs}) == len(runs) == 6 * 3 * 2
    assert {(run.codec, run.stride) for run in runs[:4]} == {
        (codec, stride) for codec in ("vanilla-round", "h3r") for stride in (4, 8)
    }
    assert {run.seed for run in runs[:4]} == {0}


def test_the_imagenet_edition_starts_the_backbone_from_imagenet(tmp_path):
    run = resolution_study.Run("h3r", 16, 0)
    assert resolution_study.run_config(run, 3, tmp_path, tmp_path / "shared").model.init is None
    config = resolution_study.run_config(run, 3, tmp_path, tmp_path / "shared", init="imagenet")
    assert config.model.init == "imagenet"


@pytest.mark.parametrize(("curve", "flat"), [
    ([0.3, 0.1, 0.06, 0.05, 0.0501, 0.0500, 0.0499, 0.05, 0.0501, 0.05], True),
    ([0.3, 0.2, 0.15, 0.12, 0.1, 0.09, 0.08, 0.07, 0.065, 0.06], False),
])  # fmt: skip
def test_a_run_has_converged_when_its_last_fifth_is_flat(curve, flat):
    assert resolution_study.converged(curve) is flat


@pytest.mark.parametrize(("name", "head", "loss"), [
    ("vanilla-round", "heatmap", "mse"), ("soft-argmax", "heatmap", "l1"), ("h3r", "binary", "binary-ce"),
    ("h3r-expected", "binary", "binary-ce"), ("h3r-gaussian", "binary", "binary-ce"),
])  # fmt: skip
def test_each_run_trains_its_codec_with_its_loss_at_its_stride(name, head, loss, tmp_path):
    run = resolution_study.Run(name, 8, 1)
    config = resolution_study.run_config(run, 3, tmp_path, tmp_path / "shared")
    assert (config.head, config.loss_name) == (head, loss)
    assert (config.model.output_stride, config.seed, config.optim.epochs) == (8, 1, 3)
    assert config.codec.name == resolution_study.CODECS[name][0]
    assert Path(config.output_dir) == tmp_path / run.name


def test_the_table_has_a_row_per_codec_and_dashes_for_missing_runs():
    record = {"codec": "h3r", "stride": 8, "macs": 81e6, "val": {"nme": 0.0669, "fr@0.10": 0.04},
              "test": {"nme": 0.0894, "fr@0.10": 0.269}}
    table = resolution_study.markdown_table(resolution_study.summarize([record, {**record, "val": {
        "nme": 0.0671, "fr@0.10": 0.05}}]))
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert set(rows) == {*resolution_study.CODECS, "MACs"}
    assert "6.70 % ±0.01 % / 4.5 %" in rows["h3r"] and "8.94 % ±0.00 % / 26.9 %" in rows["h3r"]
    assert rows["dark"].count("–") == 6


def _record(codec, stride, test_nme):
    return {"codec": codec, "stride": stride, "macs": 1e8, "val": {"nme": test_nme, "fr@0.10": 0.0},
            "test": {"nme": test_nme, "fr@0.10": 0.0}}


@pytest.mark.parametrize(("h3r_growth", "holds"), [(0.004, True), (0.006, False)])
def test_the_claim_compares_h3rs_growth_with_a_third_of_vanilla_rounds(h3r_growth, holds):
    summary = resolution_study.summarize([
        _record("vanilla-round", 4, 0.05), _record("vanilla-round", 16, 0.065),
        _record("h3r", 4, 0.05), _record("h3r", 16, 0.05 + h3r_growth),
    ])  # fmt: skip
    claim = resolution_study.growth_claim(summary)
    assert claim.endswith("holds.") is holds and "+1.50" in claim
    assert resolution_study.growth_claim(resolution_study.summarize([_record("h3r", 4, 0.05)])) is None
