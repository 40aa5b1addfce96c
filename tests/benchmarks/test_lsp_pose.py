"""benchmarks/lsp_pose.py: the runs' overrides and the README table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))  # benchmarks/ is no package
import lsp_pose  # noqa: E402

from h3r.engine.config import load_config  # noqa: E402


def test_each_run_changes_only_codec_loss_stride_and_folder():
    base = load_config(lsp_pose.CONFIG).to_dict()
    vanilla = load_config(lsp_pose.CONFIG, lsp_pose.run_overrides("vanilla-round", 8, 120)).to_dict()
    assert vanilla["codec"] == {"name": "vanilla-round", "settings": {}} and vanilla["loss"] == "auto"
    assert vanilla["model"] == {**base["model"], "output_stride": 8}
    assert vanilla["output_dir"] == "runs/lsp_pose/vanilla-round_stride8"
    assert {key for key in base if base[key] != vanilla[key]} == {"codec", "loss", "model", "output_dir"}
    one_hot = load_config(lsp_pose.CONFIG, lsp_pose.run_overrides("h3r", 4, 120)).to_dict()
    assert one_hot["codec"] == {"name": "h3r", "settings": {"topk": 9}}  # the config's sigma is reset
    gaussian = load_config(lsp_pose.CONFIG, lsp_pose.run_overrides("h3r-gaussian", 4, 120)).to_dict()
    assert {key for key in base if base[key] != gaussian[key]} == {"output_dir"}  # the config is this run


def test_the_table_has_a_row_per_result_in_percent():
    rows = {
        "mean_pose": {"codec": "mean pose in the box", "pck": 0.048, "pck_limbs": 0.052,
                      "pck_no_flip": 0.048, "pck_limbs_no_flip": 0.052},
        "h3r_stride4": {"codec": "h3r", "stride": 4, "heatmap": [32, 24], "pck": 0.1434, "pck_limbs": 0.1213,
                        "pck_no_flip": 0.1458, "pck_limbs_no_flip": 0.1241},
    }  # fmt: skip
    lines = lsp_pose.markdown_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[2] == "| mean pose in the box | – | 4.8 % | 5.2 % | 4.8 % | 5.2 % |"
    assert lines[3] == "| `h3r`, stride 4 | 32 × 24 | 14.3 % | 12.1 % | 14.6 % | 12.4 % |"
