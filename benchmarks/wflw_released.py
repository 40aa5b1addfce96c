"""The authors' released models on real WFLW test faces (P2 boxes), and what the decoder alone is worth.

Data (``../shared/data/wflw-test-half``): 103 WFLW test faces with WFLW's own 98-point lines, on the
original photographs, and the 139 faces of those photographs with the 68-point lines derived from the 98
(``wflw-68``); of WFLW's 2,500 test faces, half of the images found. Every face is cropped from WFLW's face
rectangle (``--box dataset``, the paper's P2 protocol), with each model's own flip test.

Models: the authors' released MobileNetV2 models (``../shared/data/official-h3r/models``) and our bundled
``face68``:
    - the WFLW models (98 points) on the 98-point lines, and on the 68-point lines through the conversion
      of their predictions (wflw-98 -> 300w-68, the mapping that made the 68-point lines);
    - ``face68`` (300-W's 68 points) on the 68-point lines, from the P2 boxes and, as it was trained, from
      the bounding boxes of the landmarks (P1);
    - the LaPa models (106 points): no conversion to either scheme is known, so they are listed as not
      scored, with ``h3r evaluate``'s reason.
Every score is ``h3r.engine.evaluate.evaluate_detector``'s, the function ``h3r evaluate`` runs; the command
that gives the same numbers is printed for each model.

Decoders: each WFLW model's network runs once per face (``CachedNetwork``); its outputs are then decoded by
each codec's decoder in ``DECODERS`` through ``LandmarkDetector``'s own path (crop, decode, flip test, map
back), so only the decoder differs. The flip test averages landmarks, not maps: each decoder decodes the
direct and the mirrored crop's maps, and the mirrored landmarks are mirrored back and averaged with the
direct ones in crop pixels. Top-k and soft-argmax read the foreground logits of the binary head (the
released top-9 weights its cells by a softmax of them), the others the foreground probabilities of its
2-class softmax (``h3r.inference.network.decode_output``). DARK's sigma is the codec's default, 2 cells, the
width of the Gaussian targets DARK is trained with; these maps are per-cell probabilities, not Gaussians.

Run from the project root (data paths are relative to it):
    python benchmarks/wflw_released.py [--limit N] [--json OUT.json] [--markdown OUT.md] [--threads 1]
"""

import argparse
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import torch
from machine import describe_machine
from torch import nn

from h3r.cli.evaluate import evaluation_command
from h3r.codecs import Codec, build_codec
from h3r.data.datasets import FaceDataset, read_dataset
from h3r.engine.evaluate import evaluate_detector
from h3r.inference.detector import LandmarkDetector
from h3r.inference.network import decode_output
from h3r.load import load_detector, model_description
from h3r.utils.malloc import tune_allocator

SHARED = Path("../shared/data")
OFFICIAL = SHARED / "official-h3r" / "models"
RELEASED = tuple(str(OFFICIAL / f"wflw_mobilenet_{side}x{side}_p2") for side in (128, 160, 256))
LAPA = tuple(str(OFFICIAL / f"lapa_mobilenet_{side}x{side}_p2") for side in (128, 256))
OURS = "face68"
WFLW_98 = f"wflw:{SHARED / 'wflw-test-half'}:test"
WFLW_68 = f"wflw-68:{SHARED / 'wflw-test-half'}:test"
BOX = "dataset"
OURS_BOXES = ("dataset", "landmarks")
TOPK = (1, 4, 9, 16, 25)
DECODERS: dict[str, tuple[str, dict]] = {
    "argmax": ("vanilla-round", {}),
    "quarter offset": ("quarter-offset", {}),
    "DARK (sigma 2)": ("dark", {"sigma": 2.0}),
    "soft-argmax": ("soft-argmax", {}),
    **{f"top-{k}" + (" (released)" if k == 9 else ""): ("h3r", {"topk": k}) for k in TOPK},
}
"""Row label → (codec name, settings) of the decoders compared on the same maps."""


class CachedNetwork:
    """A network run once per distinct batch of crops, its raw outputs kept to be decoded by any codec.

    ``LandmarkDetector`` makes the same crops of a face whatever decodes them, so a batch is known by the
    digest of its bytes and every decoder sees the very maps of the first pass.
    """

    def __init__(self, model: nn.Module):
        self.model = model
        self.outputs: dict[bytes, torch.Tensor] = {}

    def output(self, crops: torch.Tensor) -> torch.Tensor:
        """The network's output for (N, 3, H, W) normalised crops, computed on the first call only."""
        key = hashlib.sha256(crops.cpu().numpy().tobytes()).digest()
        if key not in self.outputs:
            self.outputs[key] = self.model(crops)
        return self.outputs[key]

    def detector(self, detector: LandmarkDetector, codec: Codec) -> LandmarkDetector:
        """``detector`` with this network's outputs decoded by ``codec``."""
        return replace(detector, runner=lambda crops: decode_output(self.output(crops), codec))


def load(model: str) -> tuple[LandmarkDetector, str | None]:
    """A model as ``h3r evaluate`` loads it, and the scheme it describes (None for torchalign folders)."""
    description = model_description(model)
    return load_detector(model), None if description is None else description["scheme"]["name"]


def score(
    model: str, detector: LandmarkDetector, spec: str, faces: FaceDataset, scheme: str | None = None, box: str = BOX
) -> dict:
    """``evaluate_detector``'s scores on ``faces`` cropped from ``box`` boxes, or the reason it gives none."""
    command = evaluation_command(model, spec, box, detector.flip)
    row = {"model": Path(model).name, "data": spec, "box": box, "command": command}
    try:
        result = evaluate_detector(detector, faces, box, scheme=scheme)
    except ValueError as error:
        return {**row, "not_scored": str(error)}
    return {**row, "conversion": result.conversion, "report": result.report}


def decoder_scores(network: CachedNetwork, detector: LandmarkDetector, faces: FaceDataset) -> dict[str, dict]:
    """Decoder label → ``evaluate_faces`` report of the network's maps decoded by each of ``DECODERS``."""
    released = detector.runner.codec
    reports = {}
    for label, (name, settings) in DECODERS.items():
        codec = build_codec(name, input_size=released.input_size, stride=released.stride, **settings)
        reports[label] = {
            "map": "foreground logits" if codec.decodes_logits else "foreground probabilities",
            "report": evaluate_detector(network.detector(detector, codec), faces, BOX).report,
        }
    return reports


def run(faces_98: FaceDataset, faces_68: FaceDataset) -> dict:
    """Every model on both lists, and the decoder comparison of each released WFLW model on the 98 points."""
    results = {WFLW_98: [], WFLW_68: [], "decoders": {}}
    for model in RELEASED:
        print(f"scoring {model}")
        detector, _ = load(model)
        network = CachedNetwork(detector.runner.model)
        as_released = network.detector(detector, detector.runner.codec)
        results[WFLW_98].append(score(model, as_released, WFLW_98, faces_98))
        results[WFLW_68].append(score(model, as_released, WFLW_68, faces_68))
        results["decoders"][Path(model).name] = decoder_scores(network, detector, faces_98)
    print(f"scoring {OURS}")
    detector, scheme = load(OURS)
    results[WFLW_68][:0] = [score(OURS, detector, WFLW_68, faces_68, scheme, box) for box in OURS_BOXES]
    for model in LAPA:
        detector, _ = load(model)
        for spec, faces in ((WFLW_98, faces_98), (WFLW_68, faces_68)):
            results[spec].append(score(model, detector, spec, faces))
    return results


def cell(scores: dict) -> str:
    """``NME / FR@0.10 / AUC@0.10`` in percent."""
    return f"{scores['nme']:.2%} / {scores['fr@0.10']:.1%} / {scores['auc@0.10']:.2%}".replace("%", " %")


def markdown_table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """A markdown table, its first ``left`` columns left-aligned and the others right-aligned."""
    rule = "|" + " --- |" * left + " ---: |" * (len(header) - left)
    return ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(row) + " |" for row in rows]


def subset_table(rows: list[dict], faces: FaceDataset) -> list[str]:
    """Subsets down, models across: the scored rows of one list, then the models it could not score."""
    scored = [row for row in rows if "report" in row]
    first = scored[0]["report"]
    subsets = {"all": first, **first["subsets"]}
    header = ["subset", "faces", *(_column(row) for row in scored)]
    body = [
        [name, str(scores["n"]), *(cell(_subset(row["report"], name)) for row in scored)]
        for name, scores in subsets.items()
    ]
    lines = [
        f"{faces.name}: {len(faces)} faces, dataset boxes (P2) unless the column says otherwise, flip test on; "
        f"NME by {faces.scheme.normalizer_label()}; each cell NME / FR@0.10 / AUC@0.10.",
        "",
        *markdown_table(header, body),
        "",
    ]
    lines += [f"- {_column(row)}: `{row['command']}`" + _conversion(row) for row in scored]
    lines += [f"- `{row['model']}`: not scored: {row['not_scored']}" for row in rows if "not_scored" in row]
    return lines


def _column(row: dict) -> str:
    return f"`{row['model']}`" + (", landmark boxes (P1)" if row["box"] == "landmarks" else "")


def _subset(report: dict, name: str) -> dict:
    return report if name == "all" else report["subsets"][name]


def _conversion(row: dict) -> str:
    return f" (converted, {row['conversion']})" if row["conversion"] else ""


def decoder_table(decoders: dict[str, dict[str, dict]], faces: FaceDataset) -> list[str]:
    """Decoders down, released models across, on the same maps."""
    models = list(decoders)
    header = ["decoder", "map decoded", *(f"`{model}`" for model in models)]
    body = [
        [label, decoders[models[0]][label]["map"], *(cell(decoders[model][label]["report"]) for model in models)]
        for label in DECODERS
    ]
    return [
        f"{faces.name}: {len(faces)} faces, dataset boxes (P2), flip test on; the same maps of each network decoded "
        f"by each decoder; each cell NME / FR@0.10 / AUC@0.10. No `h3r evaluate` command chooses the decoder: "
        f"the released top-9 row is the command's.",
        "",
        *markdown_table(header, body, left=2),
    ]


def report_markdown(results: dict, faces_98: FaceDataset, faces_68: FaceDataset, machine: str) -> str:
    lines = [
        "# The released models on WFLW test faces, and what the decoder alone is worth",
        "",
        "`python benchmarks/wflw_released.py --json docs/results/wflw_released.json "
        "--markdown docs/results/wflw_released.md`",
        "",
        f"Machine: {machine}; the run took {results['seconds']:.0f} s.",
        "",
        "## 98-point lines",
        "",
        *subset_table(results[WFLW_98], faces_98),
        "",
        "## 68-point lines",
        "",
        *subset_table(results[WFLW_68], faces_68),
        "",
        "## Decoders on the same maps (98-point lines)",
        "",
        *decoder_table(results["decoders"], faces_98),
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="only the first N faces of each list")
    parser.add_argument("--json", type=Path, default=None, help="write the results to this JSON file")
    parser.add_argument("--markdown", type=Path, default=None, help="write the tables to this markdown file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tune_allocator()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    try:
        faces_98, faces_68 = read_dataset(WFLW_98), read_dataset(WFLW_68)
    except ValueError as error:
        raise SystemExit(f"{error} (run from the project root, with ../shared beside it)") from None
    for faces in (faces_98, faces_68):
        faces.samples = faces.samples[: args.limit]
    results = {**run(faces_98, faces_68), "seconds": time.perf_counter() - started}
    machine = describe_machine()
    text = report_markdown(results, faces_98, faces_68, machine)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        settings = {"box": BOX, "threads": args.threads, "limit": args.limit, "machine": machine}
        args.json.write_text(json.dumps({"settings": settings, **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
