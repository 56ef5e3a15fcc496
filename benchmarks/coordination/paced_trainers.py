"""Trainer doubles for the coordination benchmark (the trainer protocol, no real training).

`paced` is testing.doubles_faults.paced itself: it sleeps HPSEARCH_TEST_EPOCH_SECONDS per epoch and
reports every epoch. `paced_with_tensorflow` is the same after importing what the real trainer
imports (trainers.train: Keras and TensorFlow), so a trial process pays the start-up a real trial pays.
"""

from __future__ import annotations

import trainers.train  # noqa: F401  (the point: TensorFlow and Keras imported in the trial process)
from testing.doubles_faults import paced


def paced_with_tensorflow(config, data, reporter):
    return paced(config, data, reporter)
