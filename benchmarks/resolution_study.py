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

Second edition (``--edition imagenet``): the same design with the backbone started from the ImageNet
MobileNetV2 shipped in the package (``model.init=imagenet``) and a longer budget (default 40 epochs),
two seeds per cell; its results, table, plot and validation curves go to ``resolution_study_imagenet*``
beside the first edition's. It trains the runs the stability benchmark needs first (``vanilla-round`` and
``h3r`` at strides 4 and 8). Each record keeps the validation NME of every epoch, so the curves show
whether a run had converged (flat over its last fifth).

Run from the project root:  python benchmarks/resolution_study.py [--edition imagenet] [--shard K/N] [--report]
"""

import argparse
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
BASE_CONFIG = REPO / "configs" / "300w_subset_mobilenetv2_128.yaml"
TRAIN_SET = "300w:{shared}/data/300w-subset"
TEST_SET = "300w:{shared}/data/300w-private:test"
WILD_SETS = {
    "wflw": ("wflw-68:{shared}/data/wflw-test-half:test", "landmarks"),
    "mtfl": ("mtfl:{shared}/data/mtfl-5pt:test", "dataset"),
}
"""The second edition's in-the-wild sets: part → (dataset, crop box). WFLW's 139 faces on their 68 points'
box (the study's training protocol); MTFL's 2,995 AFLW faces (5 points, scored through 300w-68 → mtfl-5)
on their crop, the only box they have."""
DOCS = REPO / "docs" / "results"

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


@dataclass(frozen=True)
class Edition:
    name: str
    title: str
    init: str | None
    epochs: int
    second_seed_strides: tuple[int, ...]

    @property
    def stem(self) -> str:
        return "resolution_study" if self.init is None else f"resolution_study_{self.name}"

    @property
    def results(self) -> Path:
        return DOCS / self.stem

    def planned_runs(self) -> list[Run]:
        """Every run, most telling first: the first edition seed 0 at strides 16, 4, 8 then the second seeds;
        the second edition first the stability benchmark's four runs, then seed 0 everywhere, then seed 1."""
        if self.init is None:
            first = [Run(codec, stride, 0) for stride in (16, 4, 8) for codec in CODECS]
            return first + [Run(codec, stride, 1) for stride in self.second_seed_strides for codec in CODECS]
        stability = [Run(codec, stride, 0) for stride in (4, 8) for codec in ("vanilla-round", "h3r")]
        rest = [Run(codec, stride, seed) for seed in (0, 1) for stride in (16, 4, 8) for codec in CODECS]
        return stability + [run for run in rest if run not in stability]


EDITIONS = {
    "random": Edition("random", "from random weights", None, 15, SECOND_SEED_STRIDES),
    "imagenet": Edition("imagenet", "from ImageNet weights", "imagenet", 40, STRIDES),
}


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N) with 1 <= K <= N."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must be K/N, e.g. 1/2, got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be between 1 and N")
    return index, count


def run_config(run: Run, epochs: int, run_root: Path, shared: Path, init: str | None = None):
    """The study's TrainConfig of ``run``: the base config with the run's stride, codec, seed, budget and
    backbone initialisation (None: random weights)."""
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
            *([f"model.init={init}"] if init else []),
        ],
    )


def train_and_score(run: Run, epochs: int, run_root: Path, shared: Path, edition: Edition) -> dict:
    """Train ``run`` (resuming an interrupted one), score its final weights, return the result record."""
    import torch

    from h3r.data.datasets import read_dataset
    from h3r.engine.evaluate import evaluate_detector
    from h3r.engine.train import load_faces, train
    from h3r.load import load_detector
    from h3r.models import count_macs, count_parameters

    config = run_config(run, epochs, run_root, shared, edition.init)
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
    if edition.init is not None:
        scores |= wild_scores(detector, shared)
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
        "init": edition.init or "random",
        "epochs": result.epochs,
        "val_nme_per_epoch": [row["val_nme"] for row in result.history],
        "macs": count_macs(result.model, INPUT_SIZE),
        "parameters": count_parameters(result.model),
        **{part: summary_of(report) for part, report in scores.items()},
        "train_seconds": sum(row["seconds"] for row in result.history),
        "machine": describe_machine(),
        "date": datetime.date.today().isoformat(),
        "command": "python benchmarks/resolution_study.py"
        + ("" if edition.init is None else f" --edition {edition.name}"),
    }


def summary_of(report: dict) -> dict:
    return {key: report[key] for key in ("n", "nme", "fr@0.10", "auc@0.10")}


def wild_scores(detector, shared: Path) -> dict[str, dict]:
    """Part → the evaluation report of ``detector`` (a run's final weights) on each of ``WILD_SETS`` (flip test)."""
    from h3r.data.datasets import read_dataset
    from h3r.engine.evaluate import evaluate_detector

    return {
        part: evaluate_detector(detector, read_dataset(spec.format(shared=shared)), box=box, flip=True).report
        for part, (spec, box) in WILD_SETS.items()
    }


def add_wild_scores(edition: Edition, run_root: Path, shared: Path) -> None:
    """Score the finished runs whose records lack an in-the-wild set (recorded before it was added)."""
    import torch

    from h3r.load import load_detector

    torch.set_num_threads(1)
    for path in sorted(edition.results.glob("*.json")):
        record = json.loads(path.read_text())
        run_dir = run_root / record["run"]
        if set(WILD_SETS) <= set(record) or not (run_dir / "last.ckpt").is_file():
            continue
        print(f"scoring {record['run']} on {', '.join(WILD_SETS)}", flush=True)
        detector = load_detector(run_dir / "last.ckpt")
        record |= {part: summary_of(report) for part, report in wild_scores(detector, shared).items()}
        path.write_text(json.dumps(record, indent=1))


def load_results(edition: Edition) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(edition.results.glob("*.json"))]


def summarize(results: list[dict]) -> dict[tuple[str, int], dict]:
    """(codec, stride) → mean and spread over seeds of val/test NME and FR, plus MACs and the seed count."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for record in results:
        groups.setdefault((record["codec"], record["stride"]), []).append(record)
    summary = {}
    for key, records in groups.items():
        row = {"seeds": len(records), "macs": records[0]["macs"]}
        for part in [part for part in ("val", "test", *WILD_SETS) if all(part in r for r in records)]:
            for metric in ("nme", "fr@0.10"):
                values = np.array([record[part][metric] for record in records])
                row[f"{part}_{metric}"] = values.mean()
                row[f"{part}_{metric}_range"] = values.max() - values.min()
        summary[key] = row
    return summary


def codec_rows(summary: dict[tuple[str, int], dict], header: Callable[[int], str], cells) -> list[str]:
    """Markdown lines of a table with one row per codec and two columns per stride: ``header(stride)`` names a
    stride's two columns, ``cells(row)`` fills them from its summary row (None where the cell has no run)."""
    lines = ["| codec | " + " | ".join(header(stride) for stride in STRIDES) + " |"]
    lines.append("|---|" + "---|---|" * len(STRIDES))
    for codec in CODECS:
        row_cells = [cell for stride in STRIDES for cell in cells(summary.get((codec, stride)))]
        lines.append(f"| {codec} | " + " | ".join(row_cells) + " |")
    return lines


def markdown_table(summary: dict[tuple[str, int], dict]) -> str:
    """The study's table: one row per codec, per stride NME and FR@0.10 on validation and test (percent)."""

    def cells(row: dict | None) -> list[str]:
        if row is None:
            return ["–", "–"]
        texts = []
        for part in ("val", "test"):
            spread = f" ±{row[f'{part}_nme_range'] / 2:.2%}" if row["seeds"] > 1 else ""
            texts.append(f"{row[f'{part}_nme']:.2%}{spread} / {row[f'{part}_fr@0.10']:.1%}")
        return texts

    lines = codec_rows(
        summary, lambda stride: f"stride {stride} ({INPUT_SIZE // stride}²) val NME / FR | test NME / FR", cells
    )
    macs = [next((row["macs"] for (_, s), row in summary.items() if s == stride), None) for stride in STRIDES]
    lines.append("| MACs | " + " | ".join(f"{m / 1e9:.3f} G | " if m else "– | " for m in macs) + "|")
    return "\n".join(lines).replace("%", " %")


def wild_table(summary: dict[tuple[str, int], dict]) -> str:
    """NME on the in-the-wild sets: one row per codec, per stride WFLW and MTFL NME (percent)."""

    def cells(row: dict | None) -> list[str]:
        return [f"{row[f'{part}_nme']:.2%}" if row and f"{part}_nme" in row else "–" for part in WILD_SETS]

    lines = codec_rows(summary, lambda stride: f"stride {stride} WFLW half (139) | MTFL test (2,995)", cells)
    return "\n".join(lines).replace("%", " %")


def growth_claim(summary: dict[tuple[str, int], dict], part: str = "test") -> str | None:
    """The claim under test, in words: ``h3r``'s NME growth from stride 4 to 16 against a third of
    ``vanilla-round``'s; None until the four cells exist."""
    keys = [(codec, stride) for codec in ("h3r", "vanilla-round") for stride in (4, 16)]
    if not all(key in summary for key in keys):
        return None
    h3r, vanilla = (
        summary[codec, 16][f"{part}_nme"] - summary[codec, 4][f"{part}_nme"] for codec in ("h3r", "vanilla-round")
    )
    holds = h3r < vanilla / 3
    return (
        f"Claim ({part} NME, stride 4 → 16): h3r grows by {100 * h3r:+.2f} points, vanilla-round by "
        f"{100 * vanilla:+.2f}; a third of that is {100 * vanilla / 3:+.2f}, so the claim "
        + ("holds." if holds else "does not hold.")
    )


def plot(results: list[dict], path: Path, edition: Edition) -> None:
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
    figure.suptitle(f"MobileNetV2 at {INPUT_SIZE} px {edition.title}, 300-W training subset, equal budget per run")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def converged(curve: list[float]) -> bool:
    """Whether a validation NME curve is flat over its last fifth: its range there is under 2 % of its end."""
    tail = curve[-max(2, len(curve) // 5) :]
    return max(tail) - min(tail) < 0.02 * curve[-1]


def plot_curves(results: list[dict], path: Path) -> None:
    """Validation NME per epoch of every run that recorded it, one panel per stride, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    figure, axes = plt.subplots(1, len(STRIDES), figsize=(5 * len(STRIDES), 4), sharey=True)
    colors = dict(zip(CODECS, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for axis, stride in zip(axes, STRIDES):
        for record in results:
            if record["stride"] == stride and "val_nme_per_epoch" in record:
                curve = 100 * np.array(record["val_nme_per_epoch"])
                axis.plot(
                    np.arange(1, len(curve) + 1), curve, color=colors[record["codec"]],
                    linestyle="-" if record["seed"] == 0 else "--",
                    label=record["codec"] if record["seed"] == 0 else None,
                )
        axis.set_yscale("log")
        axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.yaxis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_title(f"stride {stride} ({INPUT_SIZE // stride}²)")
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("validation NME (%, log scale)")
    axes[0].legend()
    figure.suptitle("validation NME per epoch (solid: seed 0, dashed: seed 1)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(results: list[dict], edition: Edition) -> str:
    summary = summarize(results)
    table = markdown_table(summary)
    command = "python benchmarks/resolution_study.py" + ("" if edition.init is None else f" --edition {edition.name}")
    curves = [record for record in results if "val_nme_per_epoch" in record]
    flat = [record["run"] for record in curves if converged(record["val_nme_per_epoch"])]
    text = (
        f"# Heatmap resolution study, {edition.title}\n\n"
        f"{len(results)} of {len(edition.planned_runs())} runs done; rerun with `{command}`. "
        "Mean over seeds; ± is half the range between the two seeds where there are two.\n\n"
        f"{table}\n"
    )
    claims = [claim for part in ("val", "test") if (claim := growth_claim(summary, part))]
    if claims:
        text += "\n" + "\n".join(f"- {claim}" for claim in claims) + "\n"
    if any(part in record for record in results for part in WILD_SETS):
        text += (
            "\nIn the wild (final weights, flip test): WFLW test half on its 68-point lines and landmark boxes, "
            "MTFL's AFLW test faces on their crops (68 points converted to MTFL's 5).\n\n"
            f"{wild_table(summary)}\n"
        )
    if curves:
        text += (
            f"\nConverged (validation NME within 2 % of its last value over the last fifth of training): "
            f"{len(flat)} of {len(curves)} runs"
            + (f"; not: {', '.join(sorted({r['run'] for r in curves} - set(flat)))}" if len(flat) < len(curves) else "")
            + f". Curves: `{edition.stem}_curves.png`.\n"
        )
        plot_curves(curves, DOCS / f"{edition.stem}_curves.png")
    (DOCS / f"{edition.stem}.md").write_text(text)
    if results:
        plot(results, DOCS / f"{edition.stem}.png", edition)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edition", choices=EDITIONS, default="random", help="backbone initialisation")
    parser.add_argument("--epochs", type=int, help="training budget of every run (default: the edition's)")
    parser.add_argument("--shard", type=parse_shard, default=(1, 1), help="K/N: take every Nth missing run")
    parser.add_argument("--report", action="store_true", help="only rebuild the table and plot")
    parser.add_argument(
        "--rescore", action="store_true", help="only add the in-the-wild scores that finished runs lack"
    )
    parser.add_argument("--runs", help="folder of the training runs (default: runs/<the edition's name>)")
    parser.add_argument("--shared", default=str(REPO.parent / "shared"), help="the shared data folder")
    args = parser.parse_args()
    edition = EDITIONS[args.edition]
    epochs = args.epochs or edition.epochs
    run_root = REPO / (args.runs or f"runs/{edition.stem}")
    edition.results.mkdir(parents=True, exist_ok=True)
    if not args.report:
        from h3r.utils.malloc import tune_allocator

        tune_allocator()
        shared = Path(args.shared)
        if not (shared / "data" / "300w-subset").is_dir():
            parser.error(f"{shared}/data/300w-subset not found: the study needs the shared data (--shared)")
        if args.rescore:
            add_wild_scores(edition, run_root, shared)
            print(write_report(load_results(edition), edition))
            return
        done = {path.stem for path in edition.results.glob("*.json")}
        missing = [run for run in edition.planned_runs() if run.name not in done]
        index, count = args.shard
        for run in missing[index - 1 :: count]:
            if (edition.results / f"{run.name}.json").is_file():  # finished by another shard meanwhile
                continue
            print(f"=== {run.name} ({epochs} epochs, {edition.title})", flush=True)
            record = train_and_score(run, epochs, run_root, shared, edition)
            if record["epochs"] != epochs:
                raise SystemExit(f"{run.name}: trained {record['epochs']} epochs, expected {epochs}")
            (edition.results / f"{run.name}.json").write_text(json.dumps(record, indent=1))
            print(f"{run.name}: val NME {record['val']['nme']:.2%}, test NME {record['test']['nme']:.2%}")
            write_report(load_results(edition), edition)
    print(write_report(load_results(edition), edition))


if __name__ == "__main__":
    main()
