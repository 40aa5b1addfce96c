"""h3r: sub-pixel landmark localization by heatmap regression via randomized rounding.

Examples:
    >>> from h3r import load_detector  # doctest: +SKIP
    >>> detector = load_detector("face68")  # or a model's path; as LandmarkDetector.from_pretrained  # doctest: +SKIP
    >>> landmarks, scores = detector.predict("face.jpg", boxes=[[60, 40, 200, 220]])  # doctest: +SKIP
"""

__version__ = "0.1.0"
__all__ = ["LandmarkDetector", "__version__", "load_detector"]


def __getattr__(name: str):
    # imported on first use, so that `import h3r` (and the CLI's start) stays light
    if name == "LandmarkDetector":
        from h3r.inference.detector import LandmarkDetector

        return LandmarkDetector
    if name == "load_detector":
        from h3r.load import load_detector

        return load_detector
    raise AttributeError(f"module 'h3r' has no attribute {name!r}")
