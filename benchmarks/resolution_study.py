"""Heatmap resolution study: does ``h3r`` keep its accuracy as the heatmap shrinks, where rounding does not?

MobileNetV2 at 128x128 px with output strides 4, 8 and 16 (heatmaps 32², 16², 8²), trained from scratch on
the 300-W training subset (``configs/300w_subset_mobilenetv2_128.yaml``: 1,811 training faces, the fixed
``every_10th`` validation split of 201 faces) with six codecs, each with its own standard loss:

=============== ============================================ ================================
codec           target                                       loss
=============== ============================================ ================================
vanilla-round   Gaussian (sigma 2 cells) at the rounded cell MSE, argmax decoding
dark            Gaussian (sigma 2 cells) at the exact point  MSE, DARK decoding
soft-argmax     the exact point                              L1 of the soft-argmax
h3r             one-hot at a randomly rounded cell           2-class cross-entropy, top-9
h3r-expected    the bilinear (expected) one-hot target       2-class cross-entropy, top-9
h3r-gaussian    Gaussian (sigma 2 cells) at a randomly       2-class cross-entropy, top-9
                rounded cell
=============== ============================================ ================================

Every run has the same budget (``--epochs``, default 15, cosine schedule, Adam 1e-3, batch 16, one
thread) and seed 0; strides 4 and 16 get a second seed to show the noise. The final weights (not the
best epoch's, which would be chosen on the validation set) are scored with the flip test on the
validation split and on the 300-W test set (591 faces, landmark-box crops), NME by the outer eye
corners and FR@0.10.

Each finished run leaves ``docs/results/resolution_study/RUN.json``; a run with a result is never
retrained, an interrupted one resumes from its ``last.ckpt`` (runs/resolution_study/RUN), so the
command below can be stopped and started again at will. Two processes can share the work:
``--shard 1/2`` and ``--shard 2/2`` take every other missing run. The table
(``docs/results/resolution_study.md``) and the plot (``docs/results/resolution_study.png``) are
rebuilt from all results after every run, or alone with ``--report``.

Run from the project root:  python benchmarks/resolution_study.py [--shard K/N] [--report]
"""

import argparse
import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "300w_subset_mobilenetv2_128.yaml"
TRAIN_SET = "300w:{shared}/data/300w-subset"
TEST_SET = "300w:{shared}/data/300w-private:test"
RESULTS = REPO / "docs" / "results" / "resolution_study"
REPORT = REPO / "docs" / "results" / "resolution_study.md"
PLOT = REPO / "docs" / "results" / "resolution_study.png"

CODECS: dict[str, tuple[str, dict, str]] = {
    "vanilla-round": ("vanilla-round", {}, "auto"),
    "dark": ("dark", {}, "auto"),
    "soft-argmax": ("soft-argmax", {}, "auto"),
    "h3r": ("h3r", {"topk": 9}, "auto"),
    "h3r-expected": ("h3r", {"topk": 9, "expected": True}, "auto"),
    "h3r-gaussian": ("h3r", {"topk": 9, "sigma": 2.0}, "binary-ce"),  # auto would be mse for a Gaussian
}
"""Study name → (codec, its settings, loss: ``auto`` for the codec's default, see ``h3r.engine.losses``)."""
STRIDES = (4, 8, 16)
SECOND_SEED_STRIDES = (4, 16)
INPUT_SIZE = 128


@dataclass(frozen=True)
class Run:
    codec: str
    stride: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.codec}_s{self.stride}_seed{self.seed}"


def planned_runs() -> list[Run]:
    """Every run of the study, most telling first: seed 0 at strides 16, 4, 8, then the second seeds."""
    first = [Run(codec, stride, 0) for stride in (16, 4, 8) for codec in CODECS]
    second = [Run(codec, stride, 1) for stride in SECOND_SEED_STRIDES for codec in CODECS]
    return first + second


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N) with 1 <= K <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must be K/N, e.g. 1/2, got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be between 1 and N")
    return index, count


def run_config(run: Run, epochs: int, run_root: Path, shared: Path):
    """The study's TrainConfig of ``run``: the base config with the run's stride, codec, seed and budget."""
    from h3r.engine.config import load_config

    codec, settings, loss = CODECS[run.codec]
    return load_config(
        BASE_CONFIG,
        [
            f"data.train={TRAIN_SET.format(shared=shared)}",
            f"output_dir={run_root / run.name}",
            f"seed={run.seed}",
            f"model.output_stride={run.stride}",
            f"codec.name={codec}",
            f"codec.settings={json.dumps(settings)}",
            f"loss={loss}",
            f"optim.epochs={epochs}",
            "data.workers=0",
        ],
    )


def train_and_score(run: Run, epochs: int, run_root: Path, shared: Path) -> dict:
    """Train ``run`` (resuming an interrupted one), score its final weights, return the result record."""
    import torch

    from h3r.data.datasets import read_dataset
    from h3r.engine.evaluate import evaluate_detector
    from h3r.engine.train import load_faces, train
    from h3r.load import load_detector
    from h3r.models import count_macs, count_parameters

    config = run_config(run, epochs, run_root, shared)
    run_dir = Path(config.output_dir)
    resume = (run_dir / "last.ckpt").is_file()
    result = train(config, resume=resume, force=not resume)
    torch.set_num_threads(1)
    detector = load_detector(run_dir / "last.ckpt")
    _, val_faces = load_faces(config)
    test_faces = read_dataset(TEST_SET.format(shared=shared))
    scores = {
        part: evaluate_detector(detector, faces, box="landmarks", flip=True).report
        for part, faces in (("val", val_faces), ("test", test_faces))
    }
    codec, settings, _ = CODECS[run.codec]
    return {
        "run": run.name,
        "codec": run.codec,
        "codec_name": codec,
        "codec_settings": settings,
        "loss": config.loss_name,
        "stride": run.stride,
        "heatmap": INPUT_SIZE // run.stride,
        "seed": run.seed,
        "epochs": result.epochs,
        "macs": count_macs(result.model, INPUT_SIZE),
        "parameters": count_parameters(result.model),
        **{
            part: {key: report[key] for key in ("n", "nme", "fr@0.10", "auc@0.10")}
            for part, report in scores.items()
        },
        "train_seconds": sum(row["seconds"] for row in result.history),
        "machine": describe_machine(),
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/resolution_study.py",
    }


def load_results() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]


def summarize(results: list[dict]) -> dict[tuple[str, int], dict]:
    """(codec, stride) → mean and spread over seeds of val/test NME and FR, plus MACs and the seed count."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in results:
        groups.setdefault((record["codec"], record["stride"]), []).append(record)
    summary = {}
    for key, records in groups.items():
        row = {"seeds": len(records), "macs": records[0]["macs"]}
        for part in ("val", "test"):
            for metric in ("nme", "fr@0.10"):
                values = np.array([record[part][metric] for record in records])
                row[f"{part}_{metric}"] = values.mean()
                row[f"{part}_{metric}_range"] = values.max() - values.min()
        summary[key] = row
    return summary


def markdown_table(summary: dict[tuple[str, int], dict]) -> str:
    """The study's table: one row per codec, per stride NME and FR@0.10 on validation and test (percent)."""
    header = "| codec | " + " | ".join(
        f"stride {stride} ({INPUT_SIZE // stride}²) val NME / FR | test NME / FR" for stride in STRIDES
    ) + " |"
    lines = [header, "|---|" + "---|---|" * len(STRIDES)]
    for codec in CODECS:
        cells = []
        for stride in STRIDES:
            row = summary.get((codec, stride))
            if row is None:
                cells += ["–", "–"]
                continue
            for part in ("val", "test"):
                spread = f" ±{row[f'{part}_nme_range'] / 2:.2%}" if row["seeds"] > 1 else ""
                cells.append(f"{row[f'{part}_nme']:.2%}{spread} / {row[f'{part}_fr@0.10']:.1%}")
        lines.append(f"| {codec} | " + " | ".join(cells) + " |")
    macs = [next((row["macs"] for (_, s), row in summary.items() if s == stride), None) for stride in STRIDES]
    lines.append("| MACs | " + " | ".join(f"{m / 1e9:.3f} G | " if m else "– | " for m in macs) + "|")
    return "\n".join(lines).replace("%", " %")


def plot(results: list[dict], path: Path) -> None:
    """NME against heatmap stride per codec, validation and test side by side; dots are single seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summarize(results)
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for axis, part, title in zip(axes, ("val", "test"), ("validation split (201 faces)", "300-W test (591 faces)")):
        for codec in CODECS:
            strides = [stride for stride in STRIDES if (codec, stride) in summary]
            if not strides:
                continue
            (line,) = axis.plot(
                strides, [100 * summary[codec, s][f"{part}_nme"] for s in strides], marker="o", label=codec
            )
            single = [r for r in results if r["codec"] == codec]
            axis.scatter(
                [r["stride"] for r in single], [100 * r[part]["nme"] for r in single],
                color=line.get_color(), s=12, alpha=0.5,
            )
        axis.set_xscale("log", base=2)
        axis.set_xticks(STRIDES, [f"{s}\n({INPUT_SIZE // s}²)" for s in STRIDES])
        axis.set_xlabel("output stride (heatmap size)")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("NME (%, outer eye corners)")
    axes[0].legend()
    figure.suptitle(f"MobileNetV2 at {INPUT_SIZE} px, 300-W training subset, equal budget per run")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(results: list[dict]) -> str:
    table = markdown_table(summarize(results))
    REPORT.write_text(
        "# Heatmap resolution study\n\n"
        f"{len(results)} of {len(planned_runs())} runs done; rerun with `python benchmarks/resolution_study.py`. "
        "Mean over seeds; ± is half the range between the two seeds where there are two.\n\n"
        f"{table}\n"
    )
    if results:
        plot(results, PLOT)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15, help="training budget of every run")
    parser.add_argument("--shard", type=parse_shard, default=(1, 1), help="K/N: take every Nth missing run")
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plot")
    parser.add_argument("--runs", default="runs/resolution_study", help="folder of the training runs")
    parser.add_argument("--shared", default=str(REPO.parent / "shared"), help="the shared data folder")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.report:
        from h3r.utils.malloc import tune_allocator

        tune_allocator()
        shared = Path(args.shared)
        if not (shared / "data" / "300w-subset").is_dir():
            parser.error(f"{shared}/data/300w-subset not found: the study needs the shared data (--shared)")
        done = {path.stem for path in RESULTS.glob("*.json")}
        missing = [run for run in planned_runs() if run.name not in done]
        index, count = args.shard
        for run in missing[index - 1 :: count]:
            if (RESULTS / f"{run.name}.json").is_file():  # finished by another shard meanwhile
                continue
            print(f"=== {run.name} ({args.epochs} epochs)", flush=True)
            record = train_and_score(run, args.epochs, REPO / args.runs, shared)
            if record["epochs"] != args.epochs:
                raise SystemExit(f"{run.name}: trained {record['epochs']} epochs, expected {args.epochs}")
            (RESULTS / f"{run.name}.json").write_text(json.dumps(record, indent=1))
            print(f"{run.name}: val NME {record['val']['nme']:.2%}, test NME {record['test']['nme']:.2%}")
            write_report(load_results())
    print(write_report(load_results()))


if __name__ == "__main__":
    main()
