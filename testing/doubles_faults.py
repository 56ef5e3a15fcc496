"""Trainer doubles for the worker tests: slow ones (to kill mid-trial) and ones that break.

Each follows the trainer protocol, `trainer(config, data, reporter) -> result with .to_dict()`,
without TensorFlow. Their pace comes from the environment the test gives the worker:
HPSEARCH_TEST_EPOCH_SECONDS (default 0.05) per epoch.
"""

from __future__ import annotations

import ctypes
import math
import os
import time

from trainers.result import NAN_LOSS, STOPPED, TrainResult


def _epoch_seconds() -> float:
    return float(os.environ.get("HPSEARCH_TEST_EPOCH_SECONDS", "0.05"))


def paced(config, data, reporter) -> TrainResult:
    """Dev accuracy rises with the log learning rate (1e-5 is hopeless, 1e-1 is best) and with epochs.

    Hopeless learning rates stay near chance (0.1), so a pruner has something to prune.
    """
    started = time.perf_counter()
    quality = (math.log10(config.optimizer.learning_rate) + 5) / 4  # 0 at 1e-5, 1 at 1e-1
    history = []
    for epoch in range(1, config.training.epochs + 1):
        time.sleep(_epoch_seconds())
        progress = epoch / config.training.epochs
        dev_error = 0.9 - 0.85 * quality * progress
        m = {"loss": dev_error * 2, "accuracy": 1 - dev_error, "train_error": dev_error - 0.02,
             "train_dev_error": dev_error - 0.01, "dev_error": dev_error, "dev_accuracy": 1 - dev_error}
        history.append(m)
        reporter.report(epoch, m)
        if reporter.should_stop():
            return TrainResult(epoch, STOPPED, history, dict(m), 1000, time.perf_counter() - started)
    final = {**history[-1], "test_error": history[-1]["dev_error"], "latency_ms": 1.0, "params": 1000.0, "model_mb": 0.01}
    return TrainResult(len(history), "completed", history, final, 1000, time.perf_counter() - started)


def segfault(config, data, reporter):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def out_of_memory(config, data, reporter):
    os.kill(os.getpid(), 9)  # what the kernel's OOM killer does


def kills_its_worker(config, data, reporter):
    # The whole worker gone mid-trial, as when its container is OOM-killed; this process dies with it.
    # Trial processes come from a fork server: the worker is an ancestor, not the parent.
    import psutil

    next(p for p in psutil.Process().parents() if "worker" in p.cmdline()).kill()
    time.sleep(60)


def hang(config, data, reporter):
    time.sleep(3600)


def nan_loss(config, data, reporter) -> TrainResult:
    m = {"loss": math.nan, "accuracy": 0.1}
    reporter.report(1, m)
    return TrainResult(1, NAN_LOSS, [m], {}, 1000, 0.0)


def broken_model(config, data, reporter):
    raise ValueError("Input 0 of layer 'conv' is incompatible with the layer: expected ndim=4, found ndim=2")


def memory_error(config, data, reporter):
    raise MemoryError("Unable to allocate 74.5 GiB for an array with shape (10000000000,) and data type float64")


def fails_at_seed_3(config, data, reporter):
    """`testing.doubles.lucky_first`, except that the run with training seed 3 (trial 3 under seed 0) raises."""
    from testing.doubles import lucky_first

    if config.training.seed == 3:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    return lucky_first(config, data, reporter)


def logged(config, data, reporter) -> TrainResult:
    """`paced`, appending one JSON line per run to $HPSEARCH_TEST_TRAINING_LOG: when its training began
    and ended, and its process. A trial handed to a worker's standby ahead of its turn must not begin
    before the worker's current trial has ended."""
    import json

    began = time.time()
    try:
        return paced(config, data, reporter)
    finally:
        with open(os.environ["HPSEARCH_TEST_TRAINING_LOG"], "a") as f:
            f.write(json.dumps({"began": began, "ended": time.time(), "pid": os.getpid()}) + "\n")
