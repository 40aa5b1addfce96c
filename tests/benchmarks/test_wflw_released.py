"""benchmarks/wflw_released.py: the decoders on cached maps, and a short run of the whole benchmark."""

import json
import sys
from pathlib import Path

import numpy as np
from shared_data import shared_path

from h3r.data.datasets import read_dataset
from h3r.engine.evaluate import evaluate_detector

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))  # benchmarks/ is no package
import wflw_released  # noqa: E402


def test_every_decoder_reads_the_maps_of_one_network_pass(monkeypatch):
    shared_path("wflw-test-half")
    shared_path("official-h3r")
    monkeypatch.chdir(REPO)  # the benchmark's data paths are relative to the project root
    faces = read_dataset(wflw_released.WFLW_98)
    faces.samples = faces.samples[:3]
    detector, _ = wflw_released.load(wflw_released.RELEASED[0])
    network = wflw_released.CachedNetwork(detector.runner.model)

    decoders = wflw_released.decoder_scores(network, detector, faces)

    assert len(network.outputs) == 3  # one batch (the crop and its mirror) per face, whatever decoded it
    assert list(decoders) == list(wflw_released.DECODERS)
    as_released = evaluate_detector(detector, faces, "dataset")
    assert decoders["top-9 (released)"]["report"] == as_released.report
    replayed = evaluate_detector(network.detector(detector, detector.runner.codec), faces, "dataset")
    np.testing.assert_array_equal(replayed.landmarks, as_released.landmarks)
    nmes = {label: decoder["report"]["nme"] for label, decoder in decoders.items()}
    assert all(0 < nme < 0.2 for nme in nmes.values())
    assert len(set(nmes.values())) > 1


def test_a_short_run_scores_what_it_can_and_says_why_not_the_rest(tmp_path, monkeypatch, capsys):
    shared_path("wflw-test-half")
    shared_path("official-h3r")
    monkeypatch.chdir(REPO)
    out = tmp_path / "wflw.json"
    wflw_released.main(["--limit", "2", "--json", str(out), "--markdown", str(tmp_path / "wflw.md")])
    assert "## Decoders on the same maps" in capsys.readouterr().out
    results = json.loads(out.read_text())
    rows_98, rows_68 = results[wflw_released.WFLW_98], results[wflw_released.WFLW_68]
    scored_68 = [row["model"] for row in rows_68 if "report" in row]
    assert scored_68 == ["face68", "face68", *map(_name, wflw_released.RELEASED)]
    assert all("neither scheme converts" in row["not_scored"] for row in rows_98 + rows_68 if "report" not in row)
    assert {row["conversion"] for row in rows_68 if row["model"].startswith("wflw")} == {
        "predictions: wflw-98 -> 300w-68"
    }
    assert list(results["decoders"]) == [_name(model) for model in wflw_released.RELEASED]
    assert (tmp_path / "wflw.md").read_text().count("not scored") == 4


def _name(model: str) -> str:
    return Path(model).name
