"""MediaPipe's BlazeFace short-range face detector, tiled over large images, with our own pre- and post-processing.

The network (Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on Mobile GPUs", 2019)
is MediaPipe's ``face_detection_short_range.tflite``, shipped in ``weights/`` (see its model card) and
run by ``ai-edge-litert``'s TFLite interpreter on one thread. Its input is a 128×128 RGB image scaled to
[-1, 1]; it scores 896 anchors (a 16×16 grid of 2 anchors per cell at stride 8, an 8×8 grid of 6 per
cell at stride 16) and regresses, per anchor, a box centre and size and 6 keypoints in input pixels
relative to the anchor's centre. We keep boxes with a sigmoid score above 0.5 and merge them by
MediaPipe's weighted non-maximum suppression (IoU 0.3), as MediaPipe's own graph does.

The network finds faces whose landmark box spans about 0.2-0.8 of its input's side, so a large
photograph letterboxed into 128 pixels loses its small faces. ``blazeface_boxes`` therefore searches
square windows: the whole image, then windows of half its longer side, a quarter, ... while they are at
least ``min_window`` pixels, each level overlapping by half a window, so that every face of at most half
a window lies wholly inside one. A box that crosses a window edge inside the image is dropped (its face
is cut; another window holds it whole); the boxes of all windows are then merged by the same weighted
non-maximum suppression. Each window costs one run of the network: 1 for a 256×256 crop, 42 for a
1024×768 photograph.
"""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from h3r.inference.detectors.common import by_score, check_image, require, weighted_nms

__all__ = ["BLAZEFACE_SHORT_RANGE", "SsdModel", "blazeface_boxes", "decode_boxes", "ssd_anchors", "window_grid"]

WEIGHTS = Path(__file__).resolve().parent / "weights"
LITERT_PACKAGE = "ai-edge-litert"
MIN_SCORE = 0.5
NMS_IOU = 0.3
MIN_WINDOW = 192


@dataclass(frozen=True)
class SsdModel:
    """A BlazeFace network and its anchor layout.

    Attributes:
        file: the ``.tflite`` file in ``weights/``.
        size: input side, pixels (square input).
        strides: the stride of each anchor grid, input pixels.
        anchors_per_cell: anchors per cell of each grid.
    """

    file: str
    size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]


BLAZEFACE_SHORT_RANGE = SsdModel("blazeface_short_range.tflite", 128, (8, 16), (2, 6))


def ssd_anchors(size: int, strides: tuple[int, ...], anchors_per_cell: tuple[int, ...]) -> np.ndarray:
    """Anchor centres of MediaPipe's SSD layout: (A, 2) (x, y) as fractions of the input side.

    Grid by grid, row by row, each cell's centre repeated ``anchors_per_cell`` times (MediaPipe's
    ``SsdAnchorsCalculator`` with fixed anchor sizes, which the BlazeFace graphs use).

    Examples:
        >>> ssd_anchors(4, (2,), (1,)).tolist()
        [[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]
        >>> ssd_anchors(128, (8, 16), (2, 6)).shape
        (896, 2)
    """
    grids = []
    for stride, count in zip(strides, anchors_per_cell, strict=True):
        centres = (np.arange(size // stride) + 0.5) / (size // stride)
        x, y = np.meshgrid(centres, centres)
        grids.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), count, axis=0))
    return np.concatenate(grids)


def decode_boxes(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray, size: int,
                 min_score: float = MIN_SCORE) -> np.ndarray:
    """The network's raw outputs → boxes scoring above ``min_score``, in input pixels.

    Args:
        regressors: (A, 16) per anchor: box centre offset (x, y), box size (w, h), then 6 keypoints,
            input pixels, the centre relative to the anchor's.
        logits: (A,) face scores before the sigmoid.
        anchors: (A, 2) anchor centres, fractions of the input side (``ssd_anchors``).
        size: input side, pixels.

    Returns:
        (N, 5) rows (x1, y1, x2, y2, score), float64, in the input's edge frame (its top-left corner at
        (0, 0), its side ``size``), unordered.

    Examples:
        >>> regressors = np.zeros((1, 16)); regressors[0, :4] = [2, 0, 8, 4]
        >>> decode_boxes(regressors, np.array([2.0]), np.array([[0.5, 0.5]]), 16).round(3).tolist()
        [[6.0, 6.0, 14.0, 10.0, 0.881]]
    """
    keep = logits > np.log(min_score / (1 - min_score))  # sigmoid(logit) > min_score
    offsets, anchors = regressors[keep].astype(np.float64), anchors[keep]
    centre = anchors * size + offsets[:, 0:2]
    half = offsets[:, 2:4] / 2
    scores = 1 / (1 + np.exp(-logits[keep].astype(np.float64)))
    return np.concatenate([centre - half, centre + half, scores[:, None]], axis=1)


def window_grid(height: int, width: int, min_window: int = MIN_WINDOW) -> list[tuple[int, int, int]]:
    """Square search windows (x, y, side), image pixels: the whole image, then levels of half the side.

    The first window is the whole image (side = its longer side; the network's input letterboxes it).
    Each next level halves the side while it stays ≥ ``min_window`` and covers the image with windows
    that overlap by half a side, spread evenly from edge to edge.

    Examples:
        >>> window_grid(256, 256)
        [(0, 0, 256)]
        >>> window_grid(300, 500, 200)
        [(0, 0, 500), (0, 0, 250), (125, 0, 250), (250, 0, 250), (0, 50, 250), (125, 50, 250), (250, 50, 250)]
    """
    if height < 1 or width < 1 or min_window < 1:
        raise ValueError(f"need a positive image size and min_window, got {height}x{width} and {min_window}")
    windows = [(0, 0, max(height, width))]
    side = max(height, width) // 2
    while side >= min_window:
        windows += [(x, y, side) for y in _starts(height, side) for x in _starts(width, side)]
        side //= 2
    return windows


def _starts(length: int, side: int) -> list[int]:
    """Window starts along one axis: first at 0, last at ``length − side``, steps of at most half a side."""
    if length <= side:
        return [0]
    count = -(-(length - side) * 2 // side) + 1  # ceil((length − side) / (side / 2)) + 1
    return np.round(np.linspace(0, length - side, count)).astype(int).tolist()


def blazeface_boxes(image: np.ndarray, min_window: int = MIN_WINDOW) -> np.ndarray:
    """Raw boxes of BlazeFace short-range searched over the image (see the module docstring).

    Args:
        image: (H, W, 3) uint8 RGB.
        min_window: the smallest search window, pixels; faces with a landmark box down to about a
            fifth of the smallest window used (between ``min_window`` and twice it) are found.

    Returns:
        (F, 5) float64 rows (x1, y1, x2, y2, score), image pixels (top-left pixel centred on (0, 0));
        score is the network's face probability, > 0.5, best first.
    """
    check_image(image)
    height, width = image.shape[:2]
    found = [_window_boxes(image, window, inner=window[2] < max(height, width))
             for window in window_grid(height, width, min_window)]
    return by_score(weighted_nms(np.concatenate(found), NMS_IOU))


def _window_boxes(image: np.ndarray, window: tuple[int, int, int], inner: bool) -> np.ndarray:
    """Boxes found in one square window, image pixels; ``inner``: drop those crossing an edge inside the image."""
    x, y, side = window
    height, width = image.shape[:2]
    crop = image[y:y + side, x:x + side]
    boxes = _detect(crop)
    if inner:  # an edge that is the image's own may be crossed
        low = np.where([x > 0, y > 0], -0.5, -np.inf)
        high = np.where([x + side < width, y + side < height], [crop.shape[1] - 0.5, crop.shape[0] - 0.5], np.inf)
        boxes = boxes[np.all(boxes[:, 0:2] >= low, axis=1) & np.all(boxes[:, 2:4] <= high, axis=1)]
    return boxes + (x, y, x, y, 0)


def _detect(window: np.ndarray) -> np.ndarray:
    """Boxes in one (h, w, 3) window letterboxed into the network's input: (N, 5), window pixels, unmerged."""
    model = BLAZEFACE_SHORT_RANGE
    tensor, scale, offset = _letterbox(window, model.size)
    regressors, logits = _run(tensor)
    boxes = decode_boxes(regressors, logits, _anchors(model), model.size)
    boxes[:, 0:4] = (boxes[:, 0:4] - offset) / scale - 0.5  # input edges → window pixel centres
    return boxes


def _letterbox(window: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h, w, 3) uint8 → (size, size, 3) float32 in [-1, 1], the window scaled to fit and centred on black.

    Returns the tensor, then the scale from window to input and the offset of the scaled window in the
    input, input pixels, each as (x, y, x, y) to apply to box corners.
    """
    height, width = window.shape[:2]
    fit = size / max(height, width)
    new_width, new_height = max(round(width * fit), 1), max(round(height * fit), 1)
    interpolation = cv2.INTER_AREA if fit < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(window, (new_width, new_height), interpolation=interpolation)
    left, top = (size - new_width) // 2, (size - new_height) // 2
    tensor = np.full((size, size, 3), -1.0, np.float32)
    tensor[top:top + new_height, left:left + new_width] = scaled / np.float32(127.5) - 1
    scale = np.array([new_width / width, new_height / height] * 2)
    return tensor, scale, np.array([left, top] * 2, dtype=np.float64)


def _run(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network on one (S, S, 3) float32 input → (A, 16) regressors, (A,) logits."""
    interpreter, input_index, output_indexes = _interpreter(BLAZEFACE_SHORT_RANGE.file)
    interpreter.set_tensor(input_index, tensor[None])
    interpreter.invoke()
    regressors, logits = (interpreter.get_tensor(index)[0] for index in output_indexes)
    return regressors, logits[:, 0]


@cache
def _anchors(model: SsdModel) -> np.ndarray:
    return ssd_anchors(model.size, model.strides, model.anchors_per_cell)


@cache
def _interpreter(file: str):
    """The TFLite interpreter of ``weights/file`` on one thread, tensors allocated, built once; with the
    index of its input and those of its outputs (regressors, then logits)."""
    interpreter_module = require("ai_edge_litert.interpreter", LITERT_PACKAGE, "face detector 'blazeface'")
    interpreter = interpreter_module.Interpreter(model_path=str(WEIGHTS / file), num_threads=1)
    interpreter.allocate_tensors()
    outputs = sorted(interpreter.get_output_details(), key=lambda output: -output["shape"][-1])
    return interpreter, interpreter.get_input_details()[0]["index"], tuple(output["index"] for output in outputs)
