"""Heatmap codecs: the paper's randomized rounding and the standard codecs it is compared with.

Every codec has ``encode(keypoints, visible) -> (targets, weights)`` and ``decode(heatmaps) ->
(keypoints, scores)``; :func:`build_codec` makes one from its registry name.
"""

from h3r.codecs.base import Codec
from h3r.codecs.dark import DarkCodec
from h3r.codecs.h3r import H3RCodec
from h3r.codecs.soft_argmax import SoftArgmaxCodec
from h3r.codecs.vanilla import QuarterOffsetCodec, VanillaFloorCodec, VanillaRoundCodec

CODECS: dict[str, type[Codec]] = {
    codec.name: codec
    for codec in (H3RCodec, VanillaRoundCodec, VanillaFloorCodec, QuarterOffsetCodec, DarkCodec, SoftArgmaxCodec)
}


def build_codec(name: str, **settings) -> Codec:
    """The codec registered as ``name`` (see ``CODECS``), built with ``settings``.

    Examples:
        >>> build_codec("h3r", input_size=128, stride=4).heatmap_size
        (32, 32)
    """
    if name not in CODECS:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(CODECS)}")
    try:
        return CODECS[name](**settings)
    except TypeError as error:
        raise ValueError(f"bad settings for codec {name!r}: {error}") from None


__all__ = [
    "CODECS",
    "Codec",
    "DarkCodec",
    "H3RCodec",
    "QuarterOffsetCodec",
    "SoftArgmaxCodec",
    "VanillaFloorCodec",
    "VanillaRoundCodec",
    "build_codec",
]
