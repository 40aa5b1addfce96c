"""PCK@0.2 on LSP-extended: the h3r codec against vanilla-round at strides 4 and 8, and the mean pose in the box.

Trains ``configs/lsp_mobilenetv2_128x96.yaml`` four times (codec ``h3r`` / ``vanilla-round`` × output stride
4 / 8, everything else equal), and a fifth time with ``h3r`` drawing a Gaussian target (sigma 2 cells, as
vanilla-round's) around its randomly rounded cell instead of a one-hot one, on the 300 training images of
``../shared/data/lspet-400``. Scores each run's final weights (``last.ckpt``: no epoch is chosen on the
images reported) on the 100 held-out images (every 4th in file order) with and without the flip test, and
the trivial baseline: the mean training pose (in crop pixels of each person's plain crop) placed in each
held-out person's crop. Writes ``docs/results/lsp_pose.json``.

Each step is skipped when its result is already in the JSON file, and a run whose folder holds a finished
``last.ckpt`` is not trained again (an interrupted one resumes), so rerunning after a stop loses at most
one epoch. Run from the project root (20-30 minutes per run on one core of the development VM):

    python benchmarks/lsp_pose.py [--epochs 120] [--json docs/results/lsp_pose.json]
"""

import argparse
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
from machine import describe_machine

from h3r.data.datasets import read_dataset
from h3r.engine.checkpoint import read_checkpoint
from h3r.engine.config import load_config
from h3r.engine.pose import evaluate_estimator, mean_pose, place_mean_pose, pose_report
from h3r.engine.train import train
from h3r.load import load_pose_estimator
from h3r.utils.malloc import tune_allocator

CONFIG = Path("configs/lsp_mobilenetv2_128x96.yaml")
class Variant(NamedTuple):
    """A codec with its settings (YAML), loss and name in the table."""

    codec: str
    settings: str
    loss: str
    label: str


CODECS = {
    "h3r": Variant("h3r", "{topk: 9}", "auto", "h3r"),
    "vanilla-round": Variant("vanilla-round", "{}", "auto", "vanilla-round"),
    "h3r-gaussian": Variant("h3r", "{topk: 9, sigma: 2.0}", "binary-ce", "h3r, Gaussian target (sigma 2)"),
}
RUNS = [(variant, stride) for variant in ("h3r", "vanilla-round") for stride in (4, 8)] + [("h3r-gaussian", 4)]
SCORES = ("pck", "pck_limbs", "Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")


def run_overrides(variant: str, stride: int, epochs: int) -> list[str]:
    """The config overrides of one run of ``CODECS[variant]``; its settings replace the config's (h3r: top-9)."""
    chosen = CODECS[variant]
    return [
        f"codec.name={chosen.codec}",
        f"codec.settings={chosen.settings}",
        f"loss={chosen.loss}",
        f"model.output_stride={stride}",
        f"optim.epochs={epochs}",
        f"output_dir=runs/lsp_pose/{variant}_stride{stride}",
    ]


def trained(run_dir: Path, epochs: int) -> bool:
    """Whether ``run_dir/last.ckpt`` has completed ``epochs`` epochs."""
    last = run_dir / "last.ckpt"
    return last.is_file() and read_checkpoint(last)["epoch"] >= epochs


def score_run(variant: str, stride: int, epochs: int) -> dict:
    """Train (or resume) one run; score its final weights on the held-out people, with and without the flip test."""
    overrides = run_overrides(variant, stride, epochs)
    config = load_config(CONFIG, overrides)
    run_dir = Path(config.output_dir)
    if not trained(run_dir, epochs):
        train(config, resume=(run_dir / "last.ckpt").is_file())
    last = read_checkpoint(run_dir / "last.ckpt")
    people = read_dataset(config.data.val)
    estimator = load_pose_estimator(run_dir / "last.ckpt")
    with_flip, without_flip = (evaluate_estimator(estimator, people, flip=flip).report for flip in (True, False))
    return {
        "codec": CODECS[variant].label,
        "codec_settings": CODECS[variant].settings,
        "stride": stride,
        "heatmap": [side // stride for side in config.data.size],
        "epochs": last["epoch"],
        **{key: with_flip[key] for key in SCORES},
        **{f"{key}_no_flip": without_flip[key] for key in ("pck", "pck_limbs")},
        "n_scored": with_flip["n_scored"],
        "train_minutes": round(sum(row["seconds"] for row in last["history"]) / 60, 1),
        "command": f"h3r train {CONFIG} {' '.join(overrides)}",
    }


def score_mean_pose() -> dict:
    """The mean training pose placed in each held-out person's crop (no network, so no flip test)."""
    config = load_config(CONFIG)
    train_people, val_people = read_dataset(config.data.train), read_dataset(config.data.val)
    pose = mean_pose(train_people, config.data.size, config.data.crop_scale)
    joints = place_mean_pose(pose, val_people, config.data.size, config.data.crop_scale)
    report = pose_report(joints, np.zeros(joints.shape[:2]), val_people)  # scores: unused by PCK
    scores = {key: report[key] for key in SCORES} | {f"{key}_no_flip": report[key] for key in ("pck", "pck_limbs")}
    return {"codec": "mean pose in the box", **scores, "n_scored": report["n_scored"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=120, help="training epochs of each run")
    parser.add_argument("--json", type=Path, default=Path("docs/results/lsp_pose.json"))
    args = parser.parse_args()
    tune_allocator()
    results = json.loads(args.json.read_text()) if args.json.is_file() else {"rows": {}}
    steps = {"mean_pose": score_mean_pose}
    for variant, stride in RUNS:
        steps[f"{variant}_stride{stride}"] = lambda v=variant, s=stride: score_run(v, s, args.epochs)
    for name, step in steps.items():
        if name in results["rows"]:
            print(f"{name}: done already, skipped")
            continue
        results["rows"][name] = step()
        results["machine"] = describe_machine()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"{name}: PCK@0.2 {results['rows'][name]['pck']:.4f} (limbs {results['rows'][name]['pck_limbs']:.4f})")
    print(markdown_table(results["rows"]))


def markdown_table(rows: dict[str, dict]) -> str:
    """The README's table: PCK@0.2 of every row, 14 and 12 limb joints, with and without the flip test."""
    lines = [
        "| model | heatmap | PCK@0.2, 14 joints | 12 limb joints | no flip test: 14 joints | 12 limb joints |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows.values():
        name = row["codec"] if "stride" not in row else f"`{row['codec']}`, stride {row['stride']}"
        heatmap = " × ".join(map(str, row["heatmap"])) if "heatmap" in row else "–"
        scores = (row[key] for key in ("pck", "pck_limbs", "pck_no_flip", "pck_limbs_no_flip"))
        lines.append(f"| {name} | {heatmap} | " + " | ".join(f"{100 * value:.1f} %" for value in scores) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
