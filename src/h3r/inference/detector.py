"""Face landmarks in whole images: crop each face box, run the network on the crops, map the landmarks back.

Coordinates follow ``h3r.data.geometry``: (x, y) points, (H, W) sizes, the top-left pixel centred on
(0, 0). Boxes are rows (x1, y1, x2, y2) in image pixels; landmarks come back in image pixels. The network
input is square for faces and (H, W) for people (e.g. 256 × 192): the exact crop widens the box to the
input's aspect ratio (``box_to_rectangle``), which for a square input is ``box_to_square``.

Crop modes (``crop=``):
    - ``"exact"`` (the default): ``crop_exact``, an exact sub-pixel warp of the square
      ``box_to_square`` gives (side ``crop_scale`` · max(w, h)); a landmark found at crop pixel u is put
      back where that crop pixel came from, by the inverse of the crop matrix.
    - ``"official"`` (square inputs only): the authors' torchalign pipeline, to reproduce their printed landmarks:
      ``crop_official`` (their square, side ``crop_scale`` · max(w + 1, h + 1), rounded to whole pixels
      and resized by Pillow) and their map back x = u · side / S + x0, y = v · side / S + y0, with the
      unrounded corner (x0, y0) and side of ``official_crop_rect``.

Why the two differ: torchalign's map back ignores the rounding of the rectangle (up to half a pixel of
shift and one pixel of side) and mixes frames: (x0, y0) is in Pillow's frame, where pixel i spans
[i, i + 1], while u is a pixel-centre coordinate of the crop, so its points are off by about
0.5 · side / S − 0.5 image pixels (+0.87 pixels for a 700-pixel crop seen at S = 256, towards the
bottom right; −0.35 for a 76-pixel crop), plus the rounding. The crops also differ slightly (one pixel
more of side, Pillow's triangle filter against our Gaussian prefilter), which moves the network's
answers a little. Measured on the authors' 42 reference faces (demo.jpg, demo2.jpg, 40 selfie.jpg
faces of 34 to 560 pixels) with each of the 5 released models (``tests/inference/test_detector.py``):
    - ``"official"`` reproduces their printed landmarks to 1.3e-5 pixels on average (at most 1.7e-4),
      with and without the flip test;
    - ``"exact"`` lands 0.8-1.0 % of the box size (max(w, h)) from their printed landmarks on average
      per model, up to 2.1 % on the smallest faces, where their rounding weighs most;
    - against where their crop pixels really came from (their points mapped back through the rounded
      rectangle, pixel centres), ``"exact"`` is 0.17-0.23 % of the box size off on average, at most
      0.47 %: the rest of the difference is torchalign's map back, not the network.

Flip test (``flip=True``), as the authors do it: the mirrored crops run in the same batch; their
landmarks are mirrored back (x → W − 1 − x), renumbered with the flip permutation
(``mirrored[..., flip_permutation, :]``) and averaged with the direct ones in crop pixels, scores
likewise; then the average is mapped back to the image.

Refinement (``refine=N``): N more passes, each cropping the face again from the bounding box of the
landmarks the previous pass found. A model trained on landmark boxes (``data.box: landmarks``, as
``face68``) then sees the crop it was trained on, whatever box convention the first box followed (a
face detector's, a user's). The passes before the last run without the flip test, which only the final
estimate needs. A face keeps its box where its landmarks span no area inside the image. Measured for
``face68`` on its 197 validation faces that dlib's detector finds (``benchmarks/box_refinement.py``):
calibrated detector boxes 3.98 % NME, with one pass 3.79 %, the landmark boxes themselves 3.68 %.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from h3r._checks import check_size
from h3r.codecs import Codec, H3RCodec, build_codec
from h3r.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    checked_box,
    crop_exact,
    crop_official,
    invert,
    load_image,
    normalize,
    official_crop_rect,
    transform_points,
)
from h3r.inference.face_detection import DEFAULT_DETECTOR
from h3r.inference.network import DecodingNetwork
from h3r.inference.onnx import OnnxRunner
from h3r.models import load_official

__all__ = ["CROP_MODES", "LandmarkDetector", "ModelOutputError", "Runner", "landmark_extent", "located"]

Runner = Callable[[torch.Tensor], tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]]
"""(N, 3, H, W) normalised float32 crops → (N, K, 2) landmarks in crop pixels and (N, K) scores, as
``DecodingNetwork`` or ``h3r.inference.onnx.OnnxRunner``."""

CROP_MODES = ("exact", "official")

ImageSource = str | Path | np.ndarray | Image.Image


class ModelOutputError(ValueError):
    """A network that gave landmarks or scores that are not finite (NaN or infinity): the model is broken."""


def located(error: ValueError, where: object) -> ValueError:
    """``error`` with ``where: `` before its message, still a ``ModelOutputError`` if it was one (so that a
    broken model can stop a run that goes on past bad images)."""
    kind = ModelOutputError if isinstance(error, ModelOutputError) else ValueError
    return kind(f"{where}: {error}")


@dataclass(frozen=True)
class LandmarkDetector:
    """A landmark network with its preprocessing: face boxes in, landmarks in image pixels out.

    Build one with ``from_pretrained`` (anything ``h3r predict --model`` takes: a bundled model's name
    such as ``"face68"``, a model folder or file; see ``h3r.load``), or from parts: ``from_model`` (a
    network and its codec), ``from_description`` (a network and the description of a checkpoint or
    bundle), ``from_official`` (the authors' torchalign folders), ``from_onnx`` (an ONNX export); the
    constructor takes the parts themselves. ``dataclasses.replace(detector, runner=...)`` swaps the runtime,
    e.g. for an ONNX one, keeping the preprocessing.

    Attributes:
        runner: see ``Runner``; called under ``torch.no_grad`` on crops moved to ``device``.
        input_size: side S of a square network input, or its (H, W), pixels (a square (S, S) becomes S);
            ``size`` is always (H, W).
        num_landmarks: K, the landmarks per face.
        crop_scale: crop side over the longer box side.
        flip_permutation: landmark i of a face is landmark ``flip_permutation[i]`` of its mirror
            image; needed for the flip test.
        mean, std: per-channel (R, G, B) statistics of [0, 1] pixels that normalise the crops.
        crop: the default crop mode, one of ``CROP_MODES`` (see the module docstring).
        flip: whether ``predict`` runs the flip test by default.
        refine: the refinement passes ``predict`` runs by default (see the module docstring).
        exif_transpose: read image files and PIL images as displayed, their EXIF orientation applied
            (``h3r.data.load_image``); False keeps the stored pixel grid.
        batch_size: faces per network call (twice as many crops with the flip test). Small batches run
            fastest on a CPU, where the activations of large ones no longer fit the caches: MobileNetV2
            at 256 pixels with the flip test took 43, 59, 75, 118 and 150 ms per face on one core in
            batches of 1, 2, 4, 8 and 32 faces. Raise it on a GPU.
        device: where the crops are sent; the runner must live there.

    Examples:
        >>> from h3r.models import build_model
        >>> detector = LandmarkDetector.from_model(build_model(num_landmarks=5), H3RCodec(64, topk=4))
        >>> image = np.zeros((120, 100, 3), np.uint8)
        >>> landmarks, scores = detector.predict(image, [[20, 30, 60, 80, 0.99], [10, 10, 40, 50, 0.5]])
        >>> landmarks.shape, scores.shape
        ((2, 5, 2), (2, 5))
    """

    runner: Runner
    input_size: int | tuple[int, int]
    num_landmarks: int
    crop_scale: float = 1.25
    flip_permutation: tuple[int, ...] | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop: str = "exact"
    flip: bool = False
    refine: int = 0
    exif_transpose: bool = True
    batch_size: int = 2
    device: torch.device | str = "cpu"

    def __post_init__(self):
        height, width = check_size("input_size", self.input_size, 2)
        object.__setattr__(self, "input_size", height if height == width else (height, width))
        for name in ("num_landmarks", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        _check_refine(self.refine)
        if not self.crop_scale > 0:
            raise ValueError(f"crop_scale must be positive, got {self.crop_scale!r}")
        if self.flip_permutation is not None:
            permutation = tuple(int(i) for i in self.flip_permutation)
            if sorted(permutation) != list(range(self.num_landmarks)):
                raise ValueError(
                    f"flip_permutation must be a permutation of 0..{self.num_landmarks - 1}, got {permutation}"
                )
            object.__setattr__(self, "flip_permutation", permutation)
        self._check_options(self.crop, self.flip)

    @classmethod
    def from_model(cls, model: nn.Module, codec: Codec, *, device: torch.device | str = "cpu", **settings):
        """A detector running ``model`` (in eval mode, on ``device``) decoded by ``codec``.

        Args:
            model: a network with a ``num_landmarks`` attribute (``h3r.models.LandmarkNet``).
            codec: the codec it was trained with; its ``input_size`` (H, W) is the crop size.
            device: where the network runs.
            settings: the other attributes (``crop_scale``, ``flip_permutation``, ``mean``, ``std``,
                ``crop``, ``flip``, ``refine``, ``batch_size``).
        """
        runner = DecodingNetwork(model, codec).to(device).eval()
        return cls(runner, codec.input_size, model.num_landmarks, device=device, **settings)

    @classmethod
    def from_official(cls, model_dir: str | Path, *, device: torch.device | str = "cpu", **settings):
        """A detector for one of the authors' released torchalign folders (``config.yaml`` + ``model.pth``).

        Crop scale, flip test and its permutation, top-k and normalisation come from the folder's
        config; ``settings`` override the detector's attributes (e.g. ``crop="official"``, ``flip=False``).

        Raises:
            h3r.models.OfficialCheckpointError: (a ``ValueError``) naming the missing or bad file.
        """
        official = load_official(model_dir)
        codec = H3RCodec(input_size=official.input_size, stride=official.stride, topk=official.topk)
        released = {
            "crop_scale": official.crop_scale,
            "flip_permutation": official.flip_permutation,
            "mean": official.mean,
            "std": official.std,
            "flip": official.flip,
        }
        return cls.from_model(official.model, codec, device=device, **{**released, **settings})

    @classmethod
    def from_description(
        cls, description: dict, model: nn.Module, *, device: torch.device | str = "cpu", **settings
    ) -> "LandmarkDetector":
        """A detector running ``model`` as a checkpoint or bundle describes it.

        Args:
            description: a checkpoint (``h3r.engine.checkpoint``) or a bundle's ``model.json``: ``codec``
                (name and settings), ``scheme`` (its ``flip_permutation``), ``preprocessing``
                (``crop_scale``, ``mean``, ``std``) and, for bundles, ``flip``.
            model: its network, e.g. ``h3r.engine.checkpoint.model_from_checkpoint(checkpoint)``.
            device: where the network runs.
            settings: override the detector's attributes; the flip test is on unless the description's
                ``flip`` or ``settings`` turn it off.

        Raises:
            ValueError: (or ``TypeError``) a codec, flip permutation or normalisation that cannot be built.
        """
        preprocessing = description["preprocessing"]
        codec = build_codec(description["codec"]["name"], **description["codec"]["settings"])
        stored = {
            "crop_scale": preprocessing["crop_scale"],
            "flip_permutation": tuple(description["scheme"]["flip_permutation"]),
            "mean": tuple(preprocessing["mean"]),
            "std": tuple(preprocessing["std"]),
            "flip": description.get("flip", True),
        }
        return cls.from_model(model, codec, device=device, **{**stored, **settings})

    @classmethod
    def from_onnx(cls, path: str | Path, *, threads: int | None = None, **settings) -> "LandmarkDetector":
        """A detector running an ``h3r export onnx`` file with ONNX Runtime on the CPU; input size, crop
        scale, flip test and normalisation come from the file's metadata, ``settings`` override them.

        Raises:
            h3r.inference.onnx.OnnxModelError: (a ``ValueError``) naming a file that is not such an export.
            ImportError: onnxruntime is not installed, naming the pip package.
        """
        runner = OnnxRunner(path, threads=threads)
        meta = runner.metadata
        stored = {
            "crop_scale": meta["crop_scale"],
            "flip_permutation": tuple(meta["flip_permutation"]),
            "mean": meta["mean"],
            "std": meta["std"],
            "flip": meta["flip"],
        }
        return cls(runner, runner.input_size, runner.num_landmarks, **{**stored, **settings})

    @classmethod
    def from_pretrained(cls, model: str | Path, **settings) -> "LandmarkDetector":
        """The detector of anything ``h3r predict --model`` takes: ``h3r.load.load_detector`` (imported at
        the call: that module builds on this one), whose docstring lists the formats and errors.

        ``settings`` are ``device`` and the detector's attributes (``flip``, ``crop``, ``refine``,
        ``exif_transpose``, ``batch_size``, ...).
        """
        from h3r.load import load_detector

        return load_detector(model, **settings)

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) of the network input, pixels."""
        return (self.input_size, self.input_size) if isinstance(self.input_size, int) else self.input_size

    def preprocessing(self) -> dict:
        """What a runtime needs besides the network, as JSON values (the ONNX export's metadata).

        Keys ``crop_scale``, ``flip``, ``flip_permutation`` (the identity for a detector without one),
        ``mean`` and ``std``.
        """
        return {
            "crop_scale": self.crop_scale,
            "flip": self.flip,
            "flip_permutation": list(self.flip_permutation or range(self.num_landmarks)),
            "mean": list(self.mean),
            "std": list(self.std),
        }

    def predict(
        self,
        image: ImageSource,
        boxes,
        *,
        flip: bool | None = None,
        crop: str | None = None,
        refine: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The landmarks of every face box in an image.

        Args:
            image: a file path, a numpy array (H, W, 3) RGB, (H, W) grayscale or (H, W, 4) RGBA, uint8
                or uint16, or a PIL image (see ``h3r.data.load_image``).
            boxes: (F, 4+) rows x1, y1, x2, y2 in image pixels (array-like); further columns, such as
                a detector's score, are ignored. Boxes may reach outside the image (black padding).
            flip: run the flip test; ``None`` means the detector's ``flip``.
            crop: ``"exact"`` or ``"official"`` (see the module docstring); ``None`` means the
                detector's ``crop``.
            refine: passes that crop each face again from its landmarks' bounding box (see the module
                docstring); ``None`` means the detector's ``refine``.

        Returns:
            ``(landmarks, scores)``: (F, K, 2) float32 (x, y) image pixels and (F, K) float32 scores.

        Raises:
            ValueError: boxes not of shape (F, 4+), or a box that is not finite, inverted, of zero area
                or wholly outside the image (the message names its index); an unknown crop mode, the
                official crop of a non-square input, a flip test without a flip permutation, or a
                negative ``refine``.
            h3r.data.ImageError: (a ``ValueError``) an image that cannot be read, naming it.
            ModelOutputError: (a ``ValueError``) the network gave landmarks or scores that are not finite.
        """
        flip = self.flip if flip is None else flip
        crop = self.crop if crop is None else crop
        refine = self.refine if refine is None else refine
        self._check_options(crop, flip)
        _check_refine(refine)
        pixels = load_image(image, exif_transpose=self.exif_transpose)
        rows = _as_boxes(boxes)
        landmarks = np.zeros((len(rows), self.num_landmarks, 2), np.float32)
        scores = np.zeros((len(rows), self.num_landmarks), np.float32)
        for start in range(0, len(rows), self.batch_size):
            chunk = slice(start, start + self.batch_size)
            chunk_boxes = rows[chunk]
            for _ in range(refine):
                found, _ = self._landmarks_in_image(pixels, chunk_boxes, start, crop, flip=False)
                chunk_boxes = np.stack([_landmark_box(*face, pixels.shape[:2]) for face in zip(found, chunk_boxes)])
            landmarks[chunk], scores[chunk] = self._landmarks_in_image(pixels, chunk_boxes, start, crop, flip)
        return landmarks, scores

    def track(
        self, frames: Iterable[ImageSource], *, fps: float = 30.0, face_detector: str | Callable = DEFAULT_DETECTOR,
        **settings,
    ) -> Iterator:  # fmt: skip
        """The faces of a video's frames, followed from frame to frame: ``h3r.inference.tracking.track``
        (imported at the call: that module builds on this one), whose docstring gives the arguments; yields
        one ``h3r.inference.tracking.TrackedFrame`` per frame.

        ``settings`` are those of ``h3r.inference.tracking.TrackingSettings``: ``detect_every``,
        ``min_score``, ``min_iou`` and ``smoothing`` (``h3r.inference.smoothing.OneEuroSettings``).

        Examples:
            >>> from h3r.data.video import open_video, read_frames  # doctest: +SKIP
            >>> video = open_video("clip.mp4")  # doctest: +SKIP
            >>> for frame in detector.track(read_frames(video), fps=video.fps):  # doctest: +SKIP
            ...     print(frame.index, frame.ids, frame.landmarks.shape)  # (F,) ids, (F, K, 2) image pixels
        """
        from h3r.inference.tracking import TrackingSettings, track

        return track(self, frames, fps=fps, face_detector=face_detector, settings=TrackingSettings(**settings))

    def _landmarks_in_image(
        self, image: np.ndarray, boxes: np.ndarray, first: int, crop: str, flip: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """One pass over (B, 4) boxes: (B, K, 2) landmarks in image pixels and (B, K) scores."""
        crops, to_image = self._crops(image, boxes, first, crop)
        in_crops, scores = self._landmarks_in_crops(crops, flip)
        return transform_points(to_image, in_crops), scores

    def _check_options(self, crop: str, flip: bool) -> None:
        if crop not in CROP_MODES:
            raise ValueError(f"crop must be one of {', '.join(CROP_MODES)}; got {crop!r}")
        if crop == "official" and not isinstance(self.input_size, int):
            raise ValueError(f"the official crop is square; this network takes (H, W) = {self.input_size} crops")
        if flip and self.flip_permutation is None:
            raise ValueError("the flip test needs a flip_permutation; give one or use flip=False")

    def _crops(self, image: np.ndarray, boxes: np.ndarray, first: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """(B, H, W, 3) uint8 crops of (B, 4) boxes and their (B, 3, 3) crop → image matrices.

        ``first`` is the index of ``boxes[0]`` among all the boxes, for error messages.
        """
        crops, matrices = [], []
        for index, box in enumerate(boxes, start=first):
            try:
                crop, to_image = self._crop(image, box, mode)
            except ValueError as error:
                raise ValueError(f"box {index}: {error}") from None
            crops.append(crop)
            matrices.append(to_image)
        return np.stack(crops), np.stack(matrices)

    def _crop(self, image: np.ndarray, box: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """One (H, W, 3) uint8 crop and its (3, 3) crop pixels → image pixels matrix."""
        if mode == "exact":
            crop, matrix = crop_exact(image, box, self.input_size, self.crop_scale)
            return crop, invert(matrix)
        crop, _ = crop_official(image, box, self.input_size, self.crop_scale)
        x0, y0, x1, _ = official_crop_rect(box, self.crop_scale).astype(np.float64)
        k = (x1 - x0) / self.input_size
        return crop, np.array([[k, 0.0, x0], [0.0, k, y0], [0.0, 0.0, 1.0]])

    def _landmarks_in_crops(self, crops: np.ndarray, flip: bool) -> tuple[np.ndarray, np.ndarray]:
        """(B, H, W, 3) uint8 crops → (B, K, 2) float64 landmarks in crop pixels and (B, K) scores."""
        batch = normalize(crops, self.mean, self.std)
        if flip:
            batch = torch.cat([batch, batch.flip(-1)])
        with torch.no_grad():
            keypoints, scores = self.runner(batch.to(self.device))
        keypoints, scores = _numpy(keypoints), _numpy(scores)
        if not (np.isfinite(keypoints).all() and np.isfinite(scores).all()):
            raise ModelOutputError("the network gave landmarks or scores that are not finite (NaN or infinity)")
        if not flip:
            return keypoints, scores
        count, permutation = len(crops), list(self.flip_permutation)
        mirrored = keypoints[count:, permutation]
        mirrored[..., 0] = self.size[1] - 1 - mirrored[..., 0]
        return (keypoints[:count] + mirrored) / 2, (scores[:count] + scores[count:, permutation]) / 2


def _as_boxes(boxes) -> np.ndarray:
    """(F, 4) float64 x1, y1, x2, y2 from array-like (F, 4+) rows; (0, 4) for an empty list."""
    try:
        rows = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"boxes must be (F, 4+) numbers x1, y1, x2, y2, ...: {error}") from None
    if rows.size == 0:
        return np.zeros((0, 4))
    if rows.ndim != 2 or rows.shape[1] < 4:
        raise ValueError(f"boxes must have shape (F, 4+) (x1, y1, x2, y2, ...), got {rows.shape}; one box is [box]")
    return rows[:, :4]


def _check_refine(refine) -> None:
    if not isinstance(refine, int) or isinstance(refine, bool) or refine < 0:
        raise ValueError(f"refine must be a non-negative int (refinement passes), got {refine!r}")


def landmark_extent(landmarks: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The (4,) box x1, y1, x2, y2 spanned by a face's (K, 2) landmarks (image pixels), the crop box of a
    model trained on landmark boxes.

    Raises:
        ValueError: where ``checked_box`` refuses the extent (not finite, no area, wholly outside the (H, W)
            image, under a pixel).
    """
    return checked_box(np.concatenate([landmarks.min(axis=0), landmarks.max(axis=0)]), image_size)


def _landmark_box(landmarks: np.ndarray, box: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """The (4,) box of a face's next refinement pass: ``landmark_extent``, or its current ``box`` where that
    extent is refused."""
    try:
        return landmark_extent(landmarks, image_size)
    except ValueError:
        return box


def _numpy(values: torch.Tensor | np.ndarray) -> np.ndarray:
    """A runner's output as a float64 numpy array, whatever its type and device."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=np.float64)
