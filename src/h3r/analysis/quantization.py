"""The paper's quantization analysis: round-trip error of each codec against heatmap resolution.

Random sub-pixel landmarks are encoded into the map a perfectly trained network would output for each
codec (optionally blurred and perturbed, as a real network's output is), decoded, and compared with the
truth in input pixels. Every codec is judged on its own terms: a codec that decodes logits gets the
logarithm of the map.
"""

import math
from collections.abc import Callable, Sequence

import torch

from h3r.codecs import Codec, build_codec
from h3r.codecs.functional import gaussian_blur
from h3r.utils.io import atomic_path

STRIDES = (1, 2, 4, 8, 16)
CODEC_NAMES = ("h3r", "vanilla-round", "vanilla-floor", "quarter-offset", "dark", "soft-argmax")
CELLS_PER_CHUNK = 1 << 22
LOG_FLOOR = 1e-12


def sample_points(
    n: int, input_size: int, strides: Sequence[int], margin: float, generator: torch.Generator
) -> torch.Tensor:
    """(n, 2) uniform sub-pixel points where every stride's heatmap holds all four neighbours.

    That domain is ``[margin, (input_size / s - 1) * s - margin]`` per axis for the largest stride ``s``.
    """
    largest = max(strides)
    high = (input_size // largest - 1) * largest - margin
    if not high > margin:
        raise ValueError(f"margin={margin!r} leaves no room for points in a {input_size}-pixel input")
    return margin + (high - margin) * torch.rand(n, 2, generator=generator, dtype=torch.float64)


def perturb(maps: torch.Tensor, blur: float, noise: float, generator: torch.Generator) -> torch.Tensor:
    """Imperfect network output: (N, K, H, W) maps blurred by a Gaussian of ``blur`` cells, rescaled to
    their original peak, plus Gaussian noise of ``noise`` times the peak, clipped at 0."""
    if blur == 0 and noise == 0:
        return maps
    peak = maps.flatten(2).amax(-1)[..., None, None]
    if blur > 0:
        blurred = gaussian_blur(maps, blur)
        maps = blurred * peak / blurred.flatten(2).amax(-1)[..., None, None].clamp(min=LOG_FLOOR)
    if noise > 0:
        maps = maps + noise * peak * torch.randn(maps.shape, generator=generator, dtype=maps.dtype)
    return maps.clamp(min=0)


def round_trip_errors(
    codec: Codec,
    points: torch.Tensor,
    blur: float = 0.0,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> torch.Tensor:
    """Euclidean decode(ideal heatmap) error in input pixels for each of ``points`` (n, 2); returns (n,)."""
    generator = generator or torch.Generator().manual_seed(0)
    cells = math.prod(codec.heatmap_size)
    chunk = max(1, CELLS_PER_CHUNK // cells)
    errors = []
    for start in range(0, len(points), chunk):
        truth = points[start : start + chunk, None, :]  # (n, 1, 2)
        maps = perturb(codec.ideal_heatmaps(truth), blur, noise, generator)
        if codec.decodes_logits:
            maps = maps.clamp(min=LOG_FLOOR).log()
        decoded, _ = codec.decode(maps)
        errors.append((decoded - truth).norm(dim=-1)[:, 0])
        if on_chunk is not None:
            on_chunk(len(truth))
    return torch.cat(errors)


def quantization_study(
    codec_names: Sequence[str] = CODEC_NAMES,
    strides: Sequence[int] = STRIDES,
    input_size: int = 256,
    n_points: int = 100_000,
    blur: float = 0.0,
    noise: float = 0.0,
    margin: float = 0.0,
    sigma: float | None = None,
    seed: int = 0,
    on_chunk: Callable[[int], None] | None = None,
) -> dict:
    """Mean and max round-trip error of each codec at each stride, on the same random points.

    ``sigma`` (cells) overrides the default width of the Gaussian-target codecs (all but ``h3r``, whose
    paper setting is one-hot).

    Returns:
        ``{"input_size": int, "n_points": int, "blur": float, "noise": float, "margin": float,
        "codecs": {name: {str(stride): {"mean_px": float, "max_px": float}}}}``
    """
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points!r}")
    for name, value in (("blur", blur), ("noise", noise), ("margin", margin)):
        if not value >= 0:
            raise ValueError(f"{name} must be non-negative, got {value!r}")
    points = sample_points(n_points, input_size, strides, margin, torch.Generator().manual_seed(seed))
    results: dict = {"input_size": input_size, "n_points": n_points, "blur": blur, "noise": noise,
                     "margin": margin, "sigma": sigma, "codecs": {}}
    for name in codec_names:
        per_stride = results["codecs"].setdefault(name, {})
        for stride in strides:
            settings = {} if sigma is None or name == "h3r" else {"sigma": sigma}
            codec = build_codec(name, input_size=input_size, stride=stride, **settings)
            generator = torch.Generator().manual_seed(seed + 1)
            errors = round_trip_errors(codec, points, blur, noise, generator, on_chunk)
            per_stride[str(stride)] = {"mean_px": errors.mean().item(), "max_px": errors.max().item()}
    return results


def plot_study(results: dict, path) -> None:
    """Mean round-trip error against heatmap resolution, one line per codec, log-log axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    input_size = results["input_size"]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    styles = ["-", "--", ":", "-."]
    markers = ["o", "s", "^", "D", "v", "x"]
    strides = sorted(next(iter(results["codecs"].values())), key=int)
    sides = [input_size // int(s) for s in strides]
    for index, (name, per_stride) in enumerate(results["codecs"].items()):
        # a log axis cannot show an exact zero: floor at 1e-12 px
        mean = [max(per_stride[s]["mean_px"], 1e-12) for s in strides]
        axes.plot(sides, mean, label=name, linestyle=styles[index % len(styles)],
                  marker=markers[index % len(markers)])
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(sides, [f"{side}\n(stride {input_size // side})" for side in sides])
    axes.minorticks_off()
    axes.set_xlabel(f"heatmap side in cells, for a {input_size}-pixel input")
    axes.set_ylabel("mean round-trip error (input pixels)")
    condition = "ideal heatmaps" if not (results["blur"] or results["noise"]) else (
        f"heatmaps blurred (sigma {results['blur']} cells), noise {results['noise']}")
    axes.set_title(f"Quantization error, {results['n_points']:,} random points, {condition}")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120)
    plt.close(figure)
