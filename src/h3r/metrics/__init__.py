"""Evaluation metrics."""

from h3r.metrics.face import auc, evaluate_faces, failure_rate, nme, normalizing_distance, plot_ced

__all__ = ["auc", "evaluate_faces", "failure_rate", "nme", "normalizing_distance", "plot_ced"]
