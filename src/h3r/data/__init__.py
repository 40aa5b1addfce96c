"""Images, face crops and the affine geometry tying image pixels to network-input pixels."""

from h3r.data.augment import AugmentSettings
from h3r.data.crop import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    antialias_sigma,
    box_to_rectangle,
    box_to_square,
    checked_box,
    crop_exact,
    crop_official,
    exact_crop_matrix,
    normalize,
    official_crop_rect,
    warp_affine,
)
from h3r.data.geometry import (
    as_matrix,
    compose,
    crop_matrix,
    flip_matrix,
    invert,
    rotation_matrix,
    scale_matrix,
    transform_points,
    translation_matrix,
)
from h3r.data.image import ImageError, load_image
from h3r.data.training_set import FaceTrainingSet

__all__ = [
    "AugmentSettings",
    "FaceTrainingSet",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageError",
    "antialias_sigma",
    "as_matrix",
    "box_to_rectangle",
    "box_to_square",
    "checked_box",
    "compose",
    "crop_exact",
    "crop_matrix",
    "crop_official",
    "exact_crop_matrix",
    "flip_matrix",
    "invert",
    "load_image",
    "normalize",
    "official_crop_rect",
    "rotation_matrix",
    "scale_matrix",
    "transform_points",
    "translation_matrix",
    "warp_affine",
]
