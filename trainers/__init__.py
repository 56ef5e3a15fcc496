"""Trainers: one configuration in, a trained Keras model and honest metrics out.

Importing this package is cheap (no TensorFlow): the configuration lives in `trainers.config`;
the Keras code in `trainers.train`, `trainers.model` and `trainers.data` loads on first use.
This package never imports Optuna or the study storage.
"""

from trainers.config import CONFIG_VERSION, ConfigError, TrainConfig, load_config

__all__ = ["CONFIG_VERSION", "ConfigError", "TrainConfig", "load_config"]
