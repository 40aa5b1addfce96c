"""benchmarks/box_refinement.py: argument checks and a short run of face68 on its validation faces."""

import json
import sys
from pathlib import Path

import pytest
from shared_data import shared_path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))  # benchmarks/ is no package
import box_refinement  # noqa: E402


@pytest.mark.parametrize("passes", ["1,x", "0,-1"])
def test_bad_passes_are_refused(passes, capsys):
    with pytest.raises(SystemExit):
        box_refinement.parse_args(["--passes", passes])
    assert "--passes" in capsys.readouterr().err


def test_a_model_without_validation_faces_is_a_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="--model: .*no such model folder"):
        box_refinement.main(["--model", str(tmp_path / "absent")])


def test_a_short_run_scores_every_setting_on_the_same_faces(tmp_path, monkeypatch, capsys):
    shared_path("300w-subset")
    monkeypatch.chdir(REPO)  # face68's config names its faces relative to the project root
    out = tmp_path / "refine.json"
    box_refinement.main(["--limit", "4", "--passes", "0,1", "--json", str(out)])
    assert "validation faces" in capsys.readouterr().out
    results = json.loads(out.read_text())["results"]
    settings = [(row["boxes"], row["refine"]) for row in results]
    assert settings == [("dlib-hog-up1", 0), ("dlib-hog-up1", 1), ("landmarks", 0), ("landmarks", 1)]
    assert len({row["faces"] for row in results}) == 1 and results[0]["faces"] >= 3
    assert all(0 < row["nme"] < 0.1 and row["ms"] > 0 for row in results)
    assert results[0]["nme"] != results[1]["nme"]  # the second pass changed the landmarks
