"""A dev estimate part-way through the first epoch, so that a pruner can judge a run before its first epoch ends.

Hyperband's first rung is one epoch, and on a CPU one epoch of 60k images costs a small CNN 1 to 8
minutes: the cheapest verdict on a configuration that cannot learn (a diverging rate, a dead
network) cost that much. With `training.early_check` set, the run measures accuracy after that
share of its first epoch's steps, in inference mode, on a fixed stratified sample of dev (the same
images in every trial of a study: the sample depends only on the dev split), and hands it to its
reporter's `check(fraction, metrics)`. The estimate's binomial standard error goes with it, so a
pruner can tell a clear loser from noise. Only in the run's first epoch (a resumed run is past it),
and only when the reporter listens; the full dev split at each epoch's end stays the objective and
the curves.
"""

from __future__ import annotations

import math
from typing import Callable

import keras

from trainers.data.splits import Split, stratified_split

SAMPLE_SEED = 0  # not the trial's seed: every trial of a study checks the same images


def dev_sample(dev: Split, examples: int) -> Split:
    """`examples` images of dev, drawn per class (the head of a streamed split, itself a seeded shuffle)."""
    if examples >= len(dev):
        return dev
    if not dev.in_memory:
        return dev.head(examples)
    _, index = stratified_split(dev.labels, [examples / len(dev)], SAMPLE_SEED)
    return Split(dev.images[index], dev.labels[index])


def standard_error(accuracy: float, examples: int) -> float:
    """The binomial standard error of an accuracy measured on `examples` images."""
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / examples) if examples else math.nan


def check_step(fraction: float, steps_per_epoch: int) -> int | None:
    """The training step of the first epoch after which the check runs; None when there is none to run."""
    if not fraction:
        return None
    step = max(1, int(round(fraction * steps_per_epoch)))
    return step if step < steps_per_epoch else None


class EarlyCheck(keras.callbacks.Callback):
    """Calls `check()` once, after `step` steps of the run's first epoch; `check()` True stops the run.

    A batch-*begin* hook: Keras calls it on the training thread before each step with nothing to
    convert, where a batch-end hook would make every step of every epoch wait for its results
    (keras' CallbackList dispatches those asynchronously only when every such hook is async-safe).
    Before step `step` runs, `step` steps are done.
    """

    def __init__(self, step: int, first_epoch: int, check: Callable[[], bool]):
        super().__init__()
        self.step, self.first_epoch, self.check = step, first_epoch, check
        self._armed = False

    def on_epoch_begin(self, epoch, logs=None):
        self._armed = epoch == self.first_epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self._armed and batch == self.step:
            self._armed = False
            if self.check():
                self.model.stop_training = True
