"""A landmark dataset as a torch ``Dataset`` of augmented, normalised crops with their codec targets.

Faces here; people (fixed aspect-ratio top-down crops, half-body augmentation) in
``h3r.data.pose.training_set``, which extends ``FaceTrainingSet``.

Randomness is a function of ``(seed, epoch, index)`` only, never of the worker that loads an item: each
item gets its own ``np.random.Generator`` for the augmentation, and the codec's random draw (the
randomized rounding of the h3r codec, which uses torch's global generator) runs under a torch seed
taken from that generator, inside ``torch.random.fork_rng`` so the caller's torch CPU generator is left
as it was. A run is therefore reproducible with any number of DataLoader workers. (A codec built with its own
``generator`` uses that instead, and is then not reproducible across workers: leave it unset.)

Call ``set_epoch`` before each epoch. The DataLoader copies the dataset into its workers when an epoch's
iteration starts, so the epoch reaches them unless ``persistent_workers=True`` keeps old copies.
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from h3r._checks import check_positive, check_size
from h3r.codecs.base import Codec
from h3r.data.augment import AugmentSettings, apply_transform, photometric, sample_transform
from h3r.data.crop import normalize
from h3r.data.datasets.base import FaceDataset, FaceSample

__all__ = ["BOX_SOURCES", "FaceTrainingSet", "landmark_box"]

BOX_SOURCES = ("landmarks", "dataset")


class FaceTrainingSet(Dataset):
    """Augmented training crops of a ``FaceDataset``, with their codec targets.

    Args:
        dataset: the faces.
        input_size: (H, W) of the network input, or its side S for a square, pixels; must match
            ``codec.input_size``.
        codec: encodes each crop's landmarks into training targets.
        crop_scale: side of the crop square (rectangle of aspect W / H, ``box_to_rectangle``) over the
            longer side of the face box (the box side it keeps).
        augment: augmentation strengths; None for the plain crop (the codec may still draw at random).
        box: ``"landmarks"``, the bounding box of the visible landmarks (the paper's P1 protocol for
            300-W), or ``"dataset"``, the samples' own face boxes.
        seed: base seed of all randomness.
        exif_transpose: read the images as displayed, their EXIF orientation applied (``h3r.data.load_image``).

    Items are dicts (``torch.utils.data.default_collate`` batches them):
        - ``image``: (3, H, W) float32, ImageNet-normalised (``normalize``);
        - ``targets``: the codec's targets for this face, e.g. (K, H/stride, W/stride) float32;
        - ``weights``: (K,) float32, 0 for landmarks that are invisible or whose target leaves the heatmap;
        - ``keypoints``: (K, 2) float32 crop pixels, NaN where not visible;
        - ``visible``: (K,) bool;
        - ``matrix``: (3, 3) float64 image → crop pixels (``invert`` it to map predictions back);
        - ``index``: the face's index in ``dataset``.

    Raises:
        ValueError: bad arguments (``augment.half_body`` is for people only); ``box="dataset"`` on a dataset
            whose faces lack boxes; a face with
            fewer than two distinct visible landmarks for ``box="landmarks"``.
        h3r.data.ImageError: from ``__getitem__``, naming an image file that cannot be read.
    """

    def __init__(
        self,
        dataset: FaceDataset,
        input_size: int | tuple[int, int],
        codec: Codec,
        crop_scale: float = 1.25,
        augment: AugmentSettings | None = None,
        box: str = "landmarks",
        seed: int = 0,
        exif_transpose: bool = True,
    ):
        size = check_size("input_size", input_size, 2)
        if tuple(codec.input_size) != size:
            raise ValueError(f"codec input_size {codec.input_size} does not match input_size={input_size}")
        check_positive("crop_scale", crop_scale)
        if box not in BOX_SOURCES:
            raise ValueError(f"box must be one of {BOX_SOURCES}, got {box!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self._check_augment(augment)
        self.dataset = dataset
        self.input_size = size  # (H, W)
        self.codec = codec
        self.crop_scale = crop_scale
        self.augment = augment
        self.boxes = np.stack([_face_box(sample, box, dataset.name) for sample in dataset.samples])
        self.flip_permutation = np.asarray(dataset.scheme.flip_permutation)
        self.seed = seed
        self.exif_transpose = exif_transpose
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentations of ``epoch`` from now on (each epoch's draws differ, reproducibly)."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        sample = self.dataset.samples[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        image = sample.load_image(self.exif_transpose)
        matrix, flipped = sample_transform(
            self.crop_box(index, rng), image.shape[:2], self.input_size, self.crop_scale, self.augment, rng
        )
        crop, keypoints, visible = apply_transform(
            image, sample.keypoints, sample.visible, matrix, flipped, self.flip_permutation, self.input_size
        )
        crop = photometric(crop, self.augment, rng)
        keypoints_t = torch.from_numpy(keypoints).float()
        visible_t = torch.from_numpy(visible)
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(rng.integers(2**63)))
            targets, weights = self.codec.encode(keypoints_t[None], visible_t[None])
        return {
            "image": normalize(crop[None])[0],
            "targets": targets[0],
            "weights": weights[0].float(),
            "keypoints": keypoints_t,
            "visible": visible_t,
            "matrix": torch.from_numpy(matrix),
            "index": index,
        }

    def crop_box(self, index: int, rng: np.random.Generator) -> np.ndarray:
        """(4,) the box item ``index`` is cropped from, before the augmentation's jitter; faces: their box."""
        return self.boxes[index]

    def _check_augment(self, augment: AugmentSettings | None) -> None:
        if augment is not None and augment.half_body > 0:
            raise ValueError("augment.half_body crops half a body: it is for people (PoseTrainingSet), set it to 0")


def landmark_box(keypoints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Bounding box (x1, y1, x2, y2) of the visible landmarks, image pixels; (4,) float64.

    Raises ``ValueError`` when they span no area (fewer than two distinct points along an axis).

    Examples:
        >>> landmark_box(np.array([[10.0, 5.0], [30.0, 45.0], [np.nan, np.nan]]), np.array([True, True, False]))
        array([10.,  5., 30., 45.])
    """
    points = np.asarray(keypoints, dtype=np.float64)[np.asarray(visible, dtype=bool)]
    if len(points) == 0:
        raise ValueError("no visible landmarks to take a box from")
    box = np.concatenate([points.min(axis=0), points.max(axis=0)])
    if (box[2:] <= box[:2]).any():
        raise ValueError(f"the visible landmarks span no area: box {box.tolist()}")
    return box


def _face_box(sample: FaceSample, source: str, dataset_name: str) -> np.ndarray:
    """The crop box of one face from its landmarks or its dataset box, or a ValueError naming the face."""
    if source == "dataset":
        if sample.box is None:
            raise ValueError(
                f"box='dataset' but face {sample.image_path} of dataset {dataset_name!r} has no box; "
                "use box='landmarks'"
            )
        return sample.box
    try:
        return landmark_box(sample.keypoints, sample.visible)
    except ValueError as error:
        raise ValueError(f"face {sample.image_path}: {error}") from error
