"""``h3r predict --task pose``: the pose model and the skeleton overlay (the rest is ``h3r.cli.predict``'s)."""

from collections.abc import Callable
from functools import partial
from pathlib import Path

import click
import numpy as np
from PIL import Image, ImageDraw

from h3r.data.pose.schemes import PoseScheme
from h3r.inference.pose import PoseEstimator
from h3r.load import load_pose_estimator

__all__ = ["draw_skeleton", "pose_estimator", "skeleton_drawer"]

_SIDE_COLOURS = {"left_": (40, 120, 255), "right_": (255, 140, 0)}  # the person's own sides
_CENTRE_COLOUR = (255, 230, 0)


def pose_estimator(
    model: str, boxes: Path | None, flip: bool | None, refine: int, batch_size: int, exif_transpose: bool
) -> PoseEstimator:
    """The ``PoseEstimator`` of an h3r pose run or checkpoint, checking the options pose prediction needs.

    Raises:
        click.BadParameter: no ``--boxes`` (there is no person detector), or a model that is not an h3r
            pose checkpoint.
    """
    if boxes is None:
        raise click.BadParameter("pose prediction needs person boxes: h3r has no person detector", param_hint="--boxes")
    settings = {"batch_size": batch_size, "refine": refine, "exif_transpose": exif_transpose}
    settings |= {} if flip is None else {"flip": flip}
    try:
        return load_pose_estimator(model, **settings)
    except ValueError as error:
        message = f"{error} (--task pose needs an h3r pose run or .ckpt)"
        raise click.BadParameter(message, param_hint="--model") from None


def skeleton_drawer(scheme: PoseScheme) -> Callable[[np.ndarray, np.ndarray, np.ndarray], Image.Image]:
    """``draw_skeleton`` for ``scheme``, with ``draw_overlay``'s arguments (image, boxes, joints)."""
    return partial(draw_skeleton, scheme=scheme)


def draw_skeleton(image: np.ndarray, boxes: np.ndarray, joints: np.ndarray, scheme: PoseScheme) -> Image.Image:
    """The image with each person's box (green), limbs and joints drawn: the person's left side blue, the
    right orange, the middle yellow.

    Args:
        image: (H, W, 3) uint8 RGB.
        boxes: (P, 4) x1, y1, x2, y2, image pixels.
        joints: (P, K, 2) (x, y), image pixels, in ``scheme``'s order.
        scheme: its ``skeleton`` gives the limbs.
    """
    overlay = Image.fromarray(image)
    draw = ImageDraw.Draw(overlay)
    width = max(1, round(max(image.shape[:2]) / 250))
    for box, points in zip(boxes, joints):
        draw.rectangle([float(v) for v in box[:4]], outline=(0, 255, 0), width=max(1, width // 2))
        for a, b in scheme.skeleton:
            ends = {_colour(scheme.joints[a]), _colour(scheme.joints[b])}
            colour = ends.pop() if len(ends) == 1 else _CENTRE_COLOUR  # a limb across the middle: yellow
            draw.line([tuple(points[a]), tuple(points[b])], fill=colour, width=width)
        for name, (x, y) in zip(scheme.joints, points):
            draw.ellipse([x - width, y - width, x + width, y + width], fill=_colour(name), outline=(0, 0, 0))
    return overlay


def _colour(joint: str) -> tuple[int, int, int]:
    return next((colour for side, colour in _SIDE_COLOURS.items() if joint.startswith(side)), _CENTRE_COLOUR)
