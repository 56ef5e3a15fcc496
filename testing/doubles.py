"""Test doubles of the trainer protocol: `trainer(config, data, reporter) -> result` with `.to_dict()`.

A study names one with the hidden `--trainer testing.doubles:NAME`; the trial process imports it
(the tests put the repo on PYTHONPATH). No TensorFlow, no data: a trial takes a fraction of a
second, and its numbers follow from the sampled configuration, so tests know what to expect.
"""

from __future__ import annotations

import math
import time
from typing import Callable

from trainers.result import STOPPED, TrainResult


def size_of(config) -> float:
    """0 for the space's narrowest small CNN (width 16), 1 for its widest (width 128)."""
    return min(1.0, max(0.0, math.log(config.model.width / 16) / math.log(8)))


def _run(config, reporter, errors: Callable[[float], dict[str, float]], final: dict[str, float],
         epoch_seconds: float = 0.0) -> TrainResult:
    """Report each epoch (errors fall toward their final values), stop when told, then finish."""
    started = time.perf_counter()
    epochs = config.training.epochs
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        time.sleep(epoch_seconds)
        m = errors(epoch / epochs)
        m.update(dev_accuracy=1.0 - m["dev_error"], loss=m["train_error"] * 3, accuracy=1.0 - m["train_error"] * 1.2)
        history.append(m)
        reporter.report(epoch, m)
        if reporter.should_stop():
            return TrainResult(epoch, STOPPED, history, dict(m), int(final["params"]), time.perf_counter() - started)
    metrics = {**history[-1], **final}
    metrics["test_accuracy"] = 1.0 - metrics["test_error"]
    for key in ("loss", "accuracy"):
        metrics.pop(key)
    return TrainResult(epochs, "completed", history, metrics, int(final["params"]), time.perf_counter() - started)


def sized(config, data, reporter) -> TrainResult:
    """Wider small CNNs are more accurate and slower: the most accurate trials break a latency limit.

    Final errors: train 0.02 + 0.08 (1 - s) + 0.05 dropout, train-dev +0.02, dev +0.01, test +0.005
    (s = size_of), so dev accuracy runs 0.87 (width 16) .. 0.95 (width 128, no dropout); latency is
    width / 8 ms (2 .. 16), parameters 1,000 x width. At equal width, more dropout is dominated.
    """
    s = size_of(config)
    train = 0.02 + 0.08 * (1 - s) + 0.05 * config.model.dropout

    def errors(progress: float) -> dict[str, float]:
        extra = 0.3 * (1 - progress)  # still learning early on
        return {"train_error": train + extra, "train_dev_error": train + 0.02 + extra, "dev_error": train + 0.03 + extra}

    width = config.model.width
    final = {"test_error": train + 0.035, "latency_ms": width / 8, "latency_ms_batch": width / 2,
             "params": 1000.0 * width, "model_mb": 4000.0 * width / 2**20}
    return _run(config, reporter, errors, final)


SLOW_EPOCH_SECONDS = 1.0


def slow(config, data, reporter) -> TrainResult:
    """Each epoch takes at least SLOW_EPOCH_SECONDS on any machine (a trial too slow for a short time budget);
    wider is better, dev error 0.12 - 0.05 s."""
    s = size_of(config)
    final = {"test_error": 0.1, "latency_ms": 1.0, "latency_ms_batch": 4.0, "params": 5000.0, "model_mb": 0.02}
    return _run(config, reporter, lambda progress: {"train_error": 0.1 - 0.05 * s, "train_dev_error": 0.11,
                                                    "dev_error": 0.12 - 0.05 * s}, final, epoch_seconds=SLOW_EPOCH_SECONDS)


def overfitting(config, data, reporter) -> TrainResult:
    """High variance that dropout reduces: train 0.01, train-dev 0.01 + 0.12 (1 - 2 dropout), dev +0.005."""
    dropout = config.model.dropout
    variance = 0.12 * max(0.0, 1 - 2 * dropout)

    def errors(progress: float) -> dict[str, float]:
        extra = 0.2 * (1 - progress)
        return {"train_error": 0.01 + extra, "train_dev_error": 0.01 + variance + extra, "dev_error": 0.015 + variance + extra}

    final = {"test_error": 0.02 + variance, "latency_ms": 1.0, "latency_ms_batch": 4.0, "params": 5000.0, "model_mb": 0.02}
    return _run(config, reporter, errors, final)


def lucky_first(config, data, reporter) -> TrainResult:
    """Wider is truly better (dev error 0.14 - 0.04 s), but the run with training seed 0 (a study's
    trial 0 under seed 0) is 8 points lucky: a single run crowns it, repeated runs do not."""
    s = size_of(config)
    dev = 0.14 - 0.04 * s - (0.08 if config.training.seed == 0 else 0.0)

    def errors(progress: float) -> dict[str, float]:
        extra = 0.3 * (1 - progress)
        return {"train_error": dev - 0.02 + extra, "train_dev_error": dev - 0.01 + extra, "dev_error": dev + extra}

    final = {"test_error": 0.14 - 0.04 * s + 0.005, "latency_ms": 1.0, "latency_ms_batch": 4.0, "params": 5000.0,
             "model_mb": 0.02}
    return _run(config, reporter, errors, final)


def checked(config, data, reporter) -> TrainResult:
    """`sized`, with the early check (training.early_check) a real run makes inside its first epoch.

    Every third trial of a study (training seed divisible by 3, seed 0) is a lost cause at the
    check (accuracy 0.10, chance for ten classes); the others check at 0.60 to 0.70 (by width);
    standard error 0.01, as on a sample of about 2,000 images.
    """
    fraction = config.training.early_check
    if fraction and hasattr(reporter, "check"):
        lost = config.training.seed % 3 == 0
        value = 0.10 if lost else 0.60 + 0.10 * size_of(config)
        reporter.check(fraction, {"dev_accuracy": value, "dev_error": 1.0 - value, "standard_error": 0.01,
                                  "examples": 2000.0, "fraction": fraction})
        if reporter.should_stop():
            return TrainResult(0, STOPPED, [], {}, 0, 0.0)
    return sized(config, data, reporter)


class ConfigFile:
    """Stands in for a trained Keras model: `save(path)` writes the configuration it was trained with."""

    def __init__(self, config):
        self.config = config

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            f.write(self.config.to_json())


def with_model(config, data, reporter) -> TrainResult:
    """`sized`, returning a model a completed trial saves (its configuration, as a file)."""
    result = sized(config, data, reporter)
    result.model = ConfigFile(config)
    return result


WORST_MISTAKES = [{"index": 5, "true": 2, "predicted": 1, "confidence": 0.9},
                  {"index": 9, "true": 0, "predicted": 3, "confidence": 0.6}]


def with_mistakes(config, data, reporter) -> TrainResult:
    """`with_model`, plus the mistakes a real run measures on dev: fox is taken for dog 7 times in 9 errors."""
    import numpy as np

    from trainers.mistakes import Mistakes, most_confused

    result = with_model(config, data, reporter)
    confusion = np.diag([20, 20, 13, 20])
    confusion[2, 1], confusion[0, 3] = 7, 2
    rng = np.random.default_rng(0)
    result.mistakes = Mistakes(classes=["cat", "dog", "fox", "owl"], confusion=confusion.tolist(),
                               pairs=most_confused(confusion), worst=WORST_MISTAKES,
                               images=rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8))
    return result

