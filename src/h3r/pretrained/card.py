"""The model card of a bundle (``MODEL_CARD.md``): ``model.json`` written out for people.

Everything in the card comes from ``model.json`` (see ``h3r.pretrained.bundle``), so the two cannot
disagree; the network is rebuilt only to count its parameters and multiply-accumulates.
"""

from h3r.models import build_model, count_macs, count_parameters

__all__ = ["model_card"]

BOX_SOURCES = {
    "landmarks": "the bounding box of the face's annotated landmarks (the paper's P1 protocol)",
    "dataset": "the dataset's own face boxes",
}
SCORE_KEYS = ("fr@0.08", "fr@0.10", "auc@0.08", "auc@0.10")
IMAGENET = "imagenet"
IMAGENET_BACKBONE = (
    "the ImageNet MobileNetV2 backbone that ships with h3r (torchvision's weights, `model.init: imagenet`; "
    "see `h3r/models/weights/MODEL_CARD.md`), the head from random weights"
)


def model_card(description: dict) -> str:
    """``MODEL_CARD.md`` for a bundle's ``model.json`` ``description``: use, model, data, training, scores,
    limitations and terms, as Markdown."""
    sections = (_summary, _intended_use, _model, _data, _training, _evaluation, _limitations, _terms)
    return "\n\n".join(section(description) for section in sections) + "\n"


def _summary(d: dict) -> str:
    args, size = d["model_args"], d["preprocessing"]["input_size"]
    return (
        f"# {d['name']}: {args['num_landmarks']}-point face landmarks, {args['backbone']} at {size}×{size} pixels\n\n"
        f"An h3r landmark model (heatmap regression via randomized rounding, Yu & Tao, TPAMI 2021). Load it with "
        f"`h3r.LandmarkDetector.from_pretrained(\"{d['name']}\")` or a path to this folder, or run "
        f"`h3r predict IMAGE --model {d['name']}`. `model.json` beside this card holds everything needed to "
        f"rebuild and run it, and the full training configuration; `model.safetensors` holds the weights."
    )


def _intended_use(d: dict) -> str:
    scheme = d["scheme"]
    refined = (
        ", and crops each face once more from the box of the landmarks it found (`--refine`)"
        if d["preprocessing"]["box"] == "landmarks" else ""
    )  # fmt: skip
    return (
        "## Intended use\n\n"
        f"Locating the {scheme['num_landmarks']} landmarks of the `{scheme['name']}` scheme (jaw line, eyebrows, "
        "nose, eyes, mouth) in faces that a face detector has found, for research, teaching, demonstrations and "
        "as a baseline. `h3r predict` finds the faces with an offline face detector (BlazeFace by default), "
        f"whose boxes it calibrates to landmark boxes{refined}.\n\n"
        "Not intended for: identifying or tracking people, surveillance, decisions about people (access, "
        "hiring, medical or legal matters), or commercial use (see Terms)."
    )


def _model(d: dict) -> str:
    args, codec, pre = d["model_args"], d["codec"], d["preprocessing"]
    model = build_model(**args)
    settings = ", ".join(f"{key}={value}" for key, value in codec["settings"].items())
    heatmap = pre["input_size"] // args["output_stride"]
    rows = [
        ("architecture", f"{args['backbone']} (width × {args['width_mult']}), output stride "
                         f"{args['output_stride']} ({heatmap}×{heatmap} heatmaps), {args['head']} head"
                         + (f" of {args['head_channels']} channels" if args["head_channels"] else "")),
        ("size", f"{count_parameters(model):,} parameters, "
                 f"{count_macs(model, pre['input_size']) / 1e9:.2f} G multiply-accumulates per crop"),
        ("landmarks", f"{args['num_landmarks']}, scheme `{d['scheme']['name']}`"),
        ("input", f"a {pre['input_size']}×{pre['input_size']} RGB crop: the square of {pre['crop_scale']} × the "
                  f"longer side of the face box, centred on it, normalised by mean {pre['mean']} and std {pre['std']}"),
        ("boxes at training", BOX_SOURCES.get(pre["box"], pre["box"])),
        ("codec", f"`{codec['name']}` ({settings})"),
        ("flip test", "on by default: the mirrored crop is run too and averaged in" if d["flip"] else "off by default"),
    ]  # fmt: skip
    return "## Model\n\n| | |\n| --- | --- |\n" + "\n".join(f"| {name} | {value} |" for name, value in rows)


def _data(d: dict) -> str:
    data, faces = d["config"]["data"], d["training"]["faces"]
    if d["config"]["data"]["val"] is not None:
        held_out = f"validation faces: `{data['val']}`"
    else:
        held_out = (f"validation faces: `{data['val_split']}` of the training faces, sorted by image path, held out "
                    "and never trained on")
    if faces is None:
        counts = "The faces were not counted: the data could not be read when this bundle was made."
    else:
        subsets = ", ".join(f"{tag} {count:,}" for tag, count in faces["subsets"].items())
        total = faces["train"] + faces["validation"]
        counts = (f"{total:,} faces ({subsets}): {faces['train']:,} for training and {faces['validation']:,} "
                  "for validation.")
    return (
        "## Training data\n\n"
        f"`{data['train']}`; {held_out}. {counts} Faces were cropped from "
        f"{BOX_SOURCES.get(data['box'], data['box'])} and augmented at random: "
        + ", ".join(f"{key} {value}" for key, value in (d["config"]["augment"] or {}).items())
        + "."
    )


def _training(d: dict) -> str:
    training, optim = d["training"], d["config"]["optim"]
    return (
        "## Training\n\n"
        f"```bash\n{training['command']}\n```\n\n"
        f"{optim['name']} (learning rate {optim['lr']}, {optim['schedule']} schedule), batch {optim['batch_size']}, "
        f"{training['epochs']} epochs from {_start(_initialisation(d))}, seed {d['config']['seed']}. The weights are those "
        f"of epoch {training['best_epoch']}, the best on the validation faces during training (NME "
        f"{training['best_validation_nme']:.2%}, plain crops without the flip test). Source: "
        f"`{training['checkpoint']}`, h3r {training['h3r_version']}; the whole configuration is `config` in "
        "`model.json`."
    )


def _evaluation(d: dict) -> str:
    parts = ["## Evaluation"]
    for split, report in d["metrics"].items():
        if report is None:
            parts.append(f"{split.capitalize()}: not evaluated.")
            continue
        parts.append(f"{split.capitalize()}: `{report['dataset']}`, {report['n']:,} faces, {report['box']} "
                     f"boxes, flip test {'on' if report['flip'] else 'off'}.\n\n```bash\n{report['command']}\n```\n\n"
                     + _score_table(report))
    parts.append(
        "NME: the mean landmark error over the normalising distance (300-W: inter-ocular, the outer eye corners; "
        "inter-pupil as well). FR: the fraction of faces whose NME exceeds the threshold; AUC: the area under "
        "the cumulative error curve up to it. Percentages. The faces are cropped from their ground-truth "
        "boxes, so these scores leave out the face detector's own error."
    )
    return "\n\n".join(parts)


def _score_table(report: dict) -> str:
    """A Markdown table of an ``h3r evaluate`` report: all faces, then each subset; percentages."""
    extra = [key for key in report if key.startswith("nme_")]
    headers = ["faces", "n", f"NME ({report['normalizer']})", *(f"NME ({key[4:].replace('_', '-')})" for key in extra),
               *(key.upper().replace("AUC", "AUC").replace("FR", "FR") for key in SCORE_KEYS)]
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" + " ---: |" * (len(headers) - 1)]
    for name, scores in {"all": report, **report["subsets"]}.items():
        values = [scores[key] for key in ("nme", *extra, *SCORE_KEYS)]
        lines.append(f"| {name} | {scores['n']} | " + " | ".join(f"{value:.2%}" for value in values) + " |")
    return "\n".join(lines)


def _initialisation(d: dict) -> list[str]:
    """Where the weights started, newest first (``training.initialisation``; bundles made before it: none)."""
    return d["training"].get("initialisation", [])


def _start(chain: list[str]) -> str:
    """Where training started, in words, from an initialisation chain (see ``_initialisation``)."""
    if not chain:
        return "random initialisation"
    if chain[0] == IMAGENET:
        return IMAGENET_BACKBONE
    return f"the weights of `{chain[0]}`, itself trained from {_start(chain[1:])}"


def _limitations(d: dict) -> str:
    faces = d["training"]["faces"]
    amount = "a few thousand faces" if faces is None else f"{faces['train']:,} faces"
    pretrained = IMAGENET in _initialisation(d)
    start = "from an ImageNet backbone" if pretrained else "from scratch, with no pretrained backbone,"
    return (
        "## Limitations\n\n"
        f"- Trained {start} on {amount} at {d['preprocessing']['input_size']} pixels: far less data than "
        "published 300-W models use, so its errors are larger than theirs "
        "(published HRNetV2-W18: 3.85 % NME on the 300-W test set).\n"
        "- It knows only the kinds of faces in its training data: poses, occlusions, expressions, lighting, "
        "ages and groups of people that are rare there give larger errors; no scores by group were measured.\n"
        "- It places every landmark, visible or not: points behind hair, hands or the face itself are guesses, "
        "as in the training annotations. Its scores are network confidences, not calibrated probabilities.\n"
        "- It needs a face box: faces the detector misses (profiles, faces under about 40 pixels) get no "
        "landmarks, and a loose or shifted box moves the landmarks."
    )


def _terms(d: dict) -> str:
    imagenet = (
        " The backbone started from torchvision's ImageNet weights (BSD 3-Clause), trained on ImageNet, whose "
        "images are for non-commercial research and education only."
        if IMAGENET in _initialisation(d) else ""
    )  # fmt: skip
    return (
        "## Terms\n\n"
        f"{d['terms']}{imagenet} The h3r code is MIT-licensed; these terms are those of the weights."
    )
