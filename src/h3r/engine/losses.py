"""Training losses, one per kind of codec target, and the rule pairing a codec with a head and a loss.

Symbols: N samples, K landmarks, (h, w) the heatmap size. ``weights`` are the codec's (N, K) landmark
weights (0 for invisible landmarks and targets off the map); every loss is a weighted mean over the
landmarks, so a batch whose weights are all 0 has loss 0.

========== ============================ ============= ==========================================
loss       codecs                       head          output → compared with
========== ============================ ============= ==========================================
binary-ce  h3r (heatmap: logits),       binary        (N, 2, K, h, w) logits → soft targets in
           vanilla-*, quarter-offset                  [0, 1], 2-class cross-entropy per pixel
mse        h3r (heatmap: probabilities), heatmap      (N, K, h, w) maps → target maps
           vanilla-*, quarter-offset,
           dark
l1         soft-argmax                  heatmap       (N, K, h, w) logits → soft-argmax
                                                      coordinates (cells) vs target cells
========== ============================ ============= ==========================================

Defaults (``loss: auto``): ``h3r`` → ``binary-ce`` (the paper's), or ``mse`` when it has a ``sigma`` or
``heatmap: probabilities``; ``soft-argmax`` → ``l1``; the other codecs → ``mse``.
"""

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from h3r._checks import check_shape
from h3r.codecs import Codec
from h3r.codecs.functional import soft_argmax

__all__ = ["LOSSES", "binary_cross_entropy", "build_loss", "coordinate_l1", "head_and_loss", "heatmap_mse"]

Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""(network output, codec targets, (N, K) weights) → scalar loss."""

LOSSES = ("binary-ce", "mse", "l1")
_HEADS = {"binary-ce": "binary", "mse": "heatmap", "l1": "heatmap"}
_ARGMAX_CODECS = ("vanilla-round", "vanilla-floor", "quarter-offset")


def binary_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Per-pixel 2-class cross-entropy with soft targets, averaged over the pixels of the weighted landmarks.

    Each pixel costs ``-[t log p_fg + (1 - t) log p_bg]`` with ``(p_bg, p_fg) = softmax(logits, dim=1)``;
    it is at least the entropy of ``t`` (0 for t in {0, 1}) and smallest where ``p_fg = t``.

    Args:
        logits: (N, 2, K, h, w) background (index 0) and foreground (index 1) logits.
        targets: (N, K, h, w) foreground probabilities in [0, 1].
        weights: (N, K).

    Returns:
        Scalar, nats per pixel.

    Examples:
        >>> logits = torch.zeros(1, 2, 1, 1, 2)  # p_fg = 0.5 everywhere
        >>> binary_cross_entropy(logits, torch.tensor([[[[1.0, 0.0]]]]), torch.ones(1, 1))  # log 2
        tensor(0.6931)
    """
    sizes = check_shape("logits", logits, "N 2 K H W")
    check_shape("targets", targets, f"{sizes['N']} {sizes['K']} {sizes['H']} {sizes['W']}")
    log_p = F.log_softmax(logits.float(), dim=1)  # (N, 2, K, h, w)
    per_pixel = -(targets * log_p[:, 1] + (1 - targets) * log_p[:, 0])  # (N, K, h, w)
    return _weighted_mean(per_pixel.flatten(2).mean(-1), weights)


def heatmap_mse(heatmaps: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error of (N, K, h, w) maps against (N, K, h, w) targets, over the weighted landmarks' pixels.

    Examples:
        >>> heatmap_mse(torch.zeros(1, 2, 1, 2), torch.ones(1, 2, 1, 2), torch.tensor([[1.0, 0.0]]))
        tensor(1.)
    """
    sizes = check_shape("heatmaps", heatmaps, "N K H W")
    check_shape("targets", targets, f"{sizes['N']} {sizes['K']} {sizes['H']} {sizes['W']}")
    return _weighted_mean((heatmaps.float() - targets).square().flatten(2).mean(-1), weights)


def coordinate_l1(
    heatmaps: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, beta: float = 1.0
) -> torch.Tensor:
    """L1 distance between the soft-argmax of (N, K, h, w) logits and (N, K, 2) target cells, per coordinate.

    Returns:
        Scalar, heatmap cells: the mean absolute error of x and y over the weighted landmarks.

    Examples:
        >>> logits = torch.full((1, 1, 1, 3), -1e4); logits[..., 2] = 0  # all mass on cell (2, 0)
        >>> coordinate_l1(logits, torch.tensor([[[1.0, 0.0]]]), torch.ones(1, 1))
        tensor(0.5000)
    """
    sizes = check_shape("heatmaps", heatmaps, "N K H W")
    check_shape("targets", targets, f"{sizes['N']} {sizes['K']} 2")
    cells, _ = soft_argmax(heatmaps.float(), beta)  # (N, K, 2)
    return _weighted_mean((cells - targets).abs().mean(-1), weights)


def _weighted_mean(per_landmark: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ w·loss / Σ w over (N, K) landmark losses; 0 when every weight is 0."""
    check_shape("weights", weights, " ".join(map(str, per_landmark.shape)))
    weights = weights.to(per_landmark.dtype)
    return (per_landmark * weights).sum() / weights.sum().clamp(min=torch.finfo(per_landmark.dtype).tiny)


def head_and_loss(codec: str, settings: dict | None = None, loss: str = "auto") -> tuple[str, str]:
    """The head (``"binary"`` or ``"heatmap"``) and loss that train ``codec`` with ``settings``.

    Args:
        codec: a codec name of ``h3r.codecs.CODECS``.
        settings: its settings (``sigma`` and ``heatmap`` matter for ``h3r``).
        loss: one of ``LOSSES``, or ``"auto"`` for the codec's default (see the module docstring).

    Raises:
        ValueError: an unknown loss, or a loss the codec cannot be trained with, saying what would work.

    Examples:
        >>> head_and_loss("h3r")
        ('binary', 'binary-ce')
        >>> head_and_loss("dark", {"sigma": 2.0})
        ('heatmap', 'mse')
    """
    settings = settings or {}
    if loss != "auto" and loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose auto or one of {', '.join(LOSSES)}")
    probabilities = settings.get("heatmap", "logits") == "probabilities"
    if loss == "auto":
        if codec == "h3r":
            loss = "mse" if probabilities or settings.get("sigma") is not None else "binary-ce"
        else:
            loss = "l1" if codec == "soft-argmax" else "mse"
    problem = _incompatibility(codec, loss, probabilities)
    if problem:
        raise ValueError(f"codec {codec!r} cannot be trained with loss {loss!r}: {problem}")
    return _HEADS[loss], loss


def _incompatibility(codec: str, loss: str, probabilities: bool) -> str | None:
    """Why ``loss`` cannot train ``codec``, or None."""
    if codec == "soft-argmax" and loss != "l1":
        return "its targets are coordinates; use loss l1"
    if loss == "l1" and codec != "soft-argmax":
        return "l1 compares soft-argmax coordinates; use the soft-argmax codec, or binary-ce/mse"
    if codec == "h3r" and loss == "binary-ce" and probabilities:
        return "the binary head outputs logits; drop codec.settings.heatmap: probabilities"
    if codec == "h3r" and loss == "mse" and not probabilities:
        return "an MSE-trained map is a probability map; set codec.settings.heatmap: probabilities"
    if loss == "binary-ce" and codec not in ("h3r", *_ARGMAX_CODECS):
        return "its decoder reads probability maps, not logits; use loss mse"
    return None


def build_loss(name: str, codec: Codec) -> Loss:
    """The loss function ``name`` (one of ``LOSSES``) for ``codec``'s targets."""
    if name == "binary-ce":
        return binary_cross_entropy
    if name == "mse":
        return heatmap_mse
    if name == "l1":
        return partial(coordinate_l1, beta=codec.beta)
    raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
