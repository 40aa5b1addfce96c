"""MTCNN (Zhang et al., "Joint Face Detection and Alignment using Multi-task Cascaded Convolutional
Networks", 2016) in plain torch, with the weights facenet-pytorch converted from the authors' Caffe models.

Three networks in a cascade, as facenet-pytorch runs them (its defaults):
    1. P-Net, fully convolutional, on an image pyramid: scales 12 / ``min_face`` × 0.709^k while the
       shorter side stays ≥ 12 pixels; each output cell is a 12×12 window (stride 2) scoring face
       probability ≥ 0.6; per scale NMS at IoU 0.5, over all scales 0.7; each box moved by its
       regression and made square.
    2. R-Net on 24×24 crops of those boxes: probability > 0.7, NMS 0.7, regression, square.
    3. O-Net on 48×48 crops: probability > 0.7, regression, then NMS 0.7 by intersection over the smaller
       box.
Pixels are scaled as (v − 127.5) / 128; crops are resized by area averaging. Unlike facenet-pytorch,
which clips a crop to the image (and so stretches faces at its border), a crop that leaves the image is
filled with black there, as the authors' code does.

The weights (``weights/mtcnn.safetensors``, float32, 0.5 M parameters, MIT: see the model card) are
read once; the networks run on the CPU with torch's current thread count.
"""

from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from h3r.inference.detectors.common import by_score, check_image, nms

__all__ = ["MTCNN_WEIGHTS", "ONet", "PNet", "RNet", "load_mtcnn", "mtcnn_boxes", "pyramid_scales"]

MTCNN_WEIGHTS = Path(__file__).resolve().parent / "weights" / "mtcnn.safetensors"
THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_FACTOR = 0.709
CELL, CELL_STRIDE = 12, 2  # P-Net's window and step, pixels of its input


class PNet(nn.Module):
    """Proposal network: (N, 3, H, W) → box offsets (N, 4, H', W'), face probability (N, H', W')."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)[:, 1]


class RNet(nn.Module):
    """Refinement network: (N, 3, 24, 24) → box offsets (N, 4), face probability (N,)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu4(self.dense4(_caffe_flatten(self.prelu3(self.conv3(x)))))
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)[:, 1]


class ONet(nn.Module):
    """Output network: (N, 3, 48, 48) → box offsets (N, 4), face probability (N,) (its 5 points unused)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_caffe_flatten(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_1(x).softmax(dim=1)[:, 1]


def _caffe_flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N, W·H·C): the dense layers were trained in Caffe's transposed (W, H) layout."""
    return x.permute(0, 3, 2, 1).flatten(1)


@cache
def load_mtcnn(path: Path = MTCNN_WEIGHTS) -> tuple[PNet, RNet, ONet]:
    """The three networks with their weights (safetensors keys ``pnet.*``, ``rnet.*``, ``onet.*``), eval mode."""
    from safetensors.torch import load_file

    state = load_file(str(path))
    networks = PNet(), RNet(), ONet()
    for prefix, network in zip(("pnet.", "rnet.", "onet."), networks):
        network.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        network.eval()
    return networks


def pyramid_scales(height: int, width: int, min_face: float) -> list[float]:
    """P-Net's image scales: 12 / ``min_face`` × 0.709^k while the scaled shorter side is ≥ 12 pixels.

    Examples:
        >>> [round(s, 3) for s in pyramid_scales(100, 200, 40)]
        [0.3, 0.213, 0.151]
    """
    if min_face <= 0:
        raise ValueError(f"min_face must be positive, got {min_face}")
    scales, scale = [], CELL / min_face
    while min(height, width) * scale >= CELL:
        scales.append(scale)
        scale *= PYRAMID_FACTOR
    return scales


@torch.inference_mode()
def mtcnn_boxes(image: np.ndarray, min_face: float = 20.0) -> np.ndarray:
    """Raw boxes of MTCNN (see the module docstring).

    Args:
        image: (H, W, 3) uint8 RGB.
        min_face: the smallest face searched for, pixels (the side of P-Net's 12-pixel window at the
            pyramid's first scale); smaller values search larger scales, at more time.

    Returns:
        (F, 5) float64 rows (x1, y1, x2, y2, score), image pixels (top-left pixel centred on (0, 0));
        score is O-Net's face probability, > 0.7, best first.
    """
    check_image(image)
    pnet, rnet, onet = load_mtcnn()
    pixels = (torch.from_numpy(image.copy()).permute(2, 0, 1).float() - 127.5) / 128  # (3, H, W)
    boxes = _refine(rnet, pixels, _proposals(pnet, pixels, min_face), 24, THRESHOLDS[1])
    boxes = _refine(onet, pixels, _square(boxes[nms(boxes, 0.7)]), 48, THRESHOLDS[2])
    boxes = boxes[nms(boxes, 0.7, over="min")]
    boxes[:, :4] -= 0.5  # the cascade's edge frame (pixel k spans [k, k + 1]) → pixel centres
    return by_score(boxes)


def _proposals(pnet: PNet, pixels: torch.Tensor, min_face: float) -> np.ndarray:
    """P-Net over the pyramid → (N, 5) regressed square boxes, edge frame of the image."""
    height, width = pixels.shape[1:]
    found = []
    for scale in pyramid_scales(height, width, min_face):
        scaled = F.interpolate(pixels[None], size=(int(height * scale + 1), int(width * scale + 1)), mode="area")
        offsets, scores = pnet(scaled)
        rows, columns = np.nonzero(scores[0].numpy() >= THRESHOLDS[0])
        corner = np.column_stack([columns, rows]) * CELL_STRIDE / scale
        boxes = np.column_stack([corner, corner + CELL / scale, scores[0].numpy()[rows, columns],
                                 offsets[0][:, rows, columns].numpy().T])
        found.append(boxes[nms(boxes, 0.5)])
    boxes = np.concatenate(found) if found else np.zeros((0, 9))
    boxes = boxes[nms(boxes, 0.7)]
    return _square(_regress(boxes[:, :5], boxes[:, 5:9]))


def _refine(network: nn.Module, pixels: torch.Tensor, boxes: np.ndarray, size: int, threshold: float) -> np.ndarray:
    """R-Net or O-Net on ``size``-pixel crops of (N, 5) boxes → the regressed boxes it scores above ``threshold``."""
    if len(boxes) == 0:
        return boxes
    offsets, scores = network(_crops(pixels, boxes, size))
    keep = scores.numpy() > threshold
    return _regress(np.column_stack([boxes[keep, :4], scores.numpy()[keep]]), offsets.numpy()[keep])


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Move each corner of (N, 5) boxes by (N, 4) offsets in fractions of the box's width and height."""
    size = np.tile(boxes[:, 2:4] - boxes[:, 0:2], 2)
    return np.column_stack([boxes[:, :4] + offsets * size, boxes[:, 4]])


def _square(boxes: np.ndarray) -> np.ndarray:
    """(N, 5) boxes → squares of their longer side on the same centres."""
    centre, half = (boxes[:, 0:2] + boxes[:, 2:4]) / 2, (boxes[:, 2:4] - boxes[:, 0:2]).max(axis=1, keepdims=True) / 2
    return np.column_stack([centre - half, centre + half, boxes[:, 4]])


def _crops(pixels: torch.Tensor, boxes: np.ndarray, size: int) -> torch.Tensor:
    """(N, 3, size, size) area-resized crops of (3, H, W) pixels at the boxes rounded to whole pixels, 0 outside."""
    height, width = pixels.shape[1:]
    crops = []
    for x1, y1, x2, y2 in np.round(boxes[:, :4]).astype(int):
        crop = torch.zeros(3, max(y2 - y1, 1), max(x2 - x1, 1))
        u1, v1, u2, v2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
        if u2 > u1 and v2 > v1:
            crop[:, v1 - y1:v2 - y1, u1 - x1:u2 - x1] = pixels[:, v1:v2, u1:u2]
        crops.append(F.interpolate(crop[None], size=(size, size), mode="area"))
    return torch.cat(crops)
