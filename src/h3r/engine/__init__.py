"""Training and evaluation: typed experiment configs, losses, the training loop, checkpoints, test-set scores.

``h3r.engine.train.train`` runs an experiment (``h3r train``); ``h3r.engine.evaluate`` scores a model on
a dataset (``h3r evaluate``). They are imported from their modules, so that importing the configs and
losses does not load Lightning.
"""

from h3r.engine.config import ConfigError, TrainConfig, apply_overrides, holdout, load_config, validate_config
from h3r.engine.losses import LOSSES, binary_cross_entropy, build_loss, coordinate_l1, head_and_loss, heatmap_mse

__all__ = [
    "LOSSES",
    "ConfigError",
    "TrainConfig",
    "apply_overrides",
    "binary_cross_entropy",
    "build_loss",
    "coordinate_l1",
    "head_and_loss",
    "heatmap_mse",
    "holdout",
    "load_config",
    "validate_config",
]
