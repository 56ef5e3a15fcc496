"""The early check: a dev estimate part-way through the first epoch, for the pruner's first verdict."""

import math

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tests.trainers_tests.conftest import Checkpointed
from trainers.config import TrainConfig
from trainers.early_check import dev_sample
from trainers.train import STOPPED, train

LEARNS = TrainConfig().replace(
    model={"backbone": "small_cnn", "depth": 2, "width": 16, "batch_norm": "after", "dropout": 0.0},
    optimizer={"name": "adam", "learning_rate": 3e-3},
    training={"epochs": 2, "batch_size": 32, "early_check": 0.9, "early_check_examples": 200},
)
# Plain SGD at a rate of 10 (the most a config allows) blows the weights up within a few steps: a configuration that cannot learn.
DIVERGES = LEARNS.replace(optimizer={"name": "sgd", "learning_rate": 10.0, "momentum": 0.0})


class Listener(Checkpointed):
    """Records the checks, and how many epochs had been reported when each came."""

    def __init__(self, stop_at_check=False, stop_after=None):
        super().__init__(stop_after)
        self.checks, self.stop_at_check, self._stopping = [], stop_at_check, False

    def check(self, fraction, metrics):
        self.checks.append((fraction, dict(metrics), len(self.epochs)))
        self._stopping = self.stop_at_check

    def should_stop(self):
        return self._stopping or super().should_stop()


def test_the_check_comes_once_inside_the_first_epoch_and_tells_a_learner_from_a_lost_cause(digits):
    learner, lost = Listener(), Listener()
    train(LEARNS, digits, learner, measure_latency=False)
    train(DIVERGES, digits, lost, measure_latency=False)
    assert len(learner.checks) == 1 and learner.epochs == [1, 2]
    fraction, metrics, epochs_before = learner.checks[0]
    assert fraction == 0.9 and epochs_before == 0
    examples = len(dev_sample(digits.dev, 200))  # 200, give or take a per-class rounding
    assert metrics["examples"] == examples and abs(examples - 200) <= 5
    assert metrics["standard_error"] == pytest.approx(math.sqrt(metrics["dev_accuracy"] * (1 - metrics["dev_accuracy"]) / examples))
    assert metrics["dev_accuracy"] > 0.5  # most of an epoch of digits is enough to learn a lot
    assert lost.checks[0][1]["dev_accuracy"] < 0.25  # near chance (0.1): what the pruner can stop early
    assert metrics["dev_accuracy"] - lost.checks[0][1]["dev_accuracy"] > 4 * metrics["standard_error"]


def test_the_check_sample_keeps_dev_class_proportions_and_is_the_same_for_every_trial(digits):
    sample = dev_sample(digits.dev, 100)
    assert abs(len(sample) - 100) <= 5
    share = np.bincount(digits.dev.labels, minlength=10) / len(digits.dev)
    assert np.abs(np.bincount(sample.labels, minlength=10) - len(sample) * share).max() <= 1
    np.testing.assert_array_equal(dev_sample(digits.dev, 100).images, sample.images)
    assert dev_sample(digits.dev, 10_000) is digits.dev  # asked for more than dev holds: all of dev


def test_a_run_stopped_at_the_check_trains_no_epoch_and_says_it_was_stopped(digits):
    rec = Listener(stop_at_check=True)
    result = train(LEARNS, digits, rec, measure_latency=False)
    assert result.stop_reason == STOPPED
    assert result.epochs_run == 0 and rec.epochs == [] and len(rec.checks) == 1


def test_no_check_for_a_reporter_that_does_not_listen_nor_in_a_resumed_run(digits, tmp_path):
    deaf = Checkpointed(stop_after=1)  # reports epochs, has no check()
    train(LEARNS, digits, deaf, measure_latency=False, checkpoints=str(tmp_path))
    assert deaf.epochs == [1]
    resumed = Listener()
    train(LEARNS, digits, resumed, measure_latency=False, resume_from=deaf.saved[1])
    assert resumed.resumed_at == 1 and resumed.epochs == [2] and resumed.checks == []
    off = Listener()
    train(LEARNS.replace(training={"early_check": 0.0, "epochs": 1}), digits, off, measure_latency=False)
    assert off.epochs == [1] and off.checks == []
