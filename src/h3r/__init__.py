"""h3r: sub-pixel landmark localization by heatmap regression via randomized rounding."""

__version__ = "0.1.0"
