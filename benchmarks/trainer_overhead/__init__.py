"""Benchmark 2, trainer overhead: hpsearch's training loop against a bare `model.fit`.

Both sides get the identical model (trainers.model.build_model), optimizer, tf.data pipeline
(trainers.data.pipeline), batch size and seed; they differ only in the loop around them:
- training throughput: images per second of the training part of an epoch. hpsearch: its own
  `epoch_seconds` (on_epoch_begin to on_epoch_end, before its evaluation). Bare: `model.fit` with
  a callback timing the same span.
- whole epoch: hpsearch's epoch including its inference-mode evaluation of a training sample,
  train-dev and dev, the finiteness check of the weights and the report (report to report),
  against a bare `fit` with `validation_data=dev` (on_epoch_end to on_epoch_end: train + validation).

The first epoch of every run (tracing) is left out. Runs alternate sides (hpsearch first in odd
repeats, bare first in even ones), all in this one process, so drift in the machine's load
reaches both. To explain a gap, the same three evaluations are also timed alone after training.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from benchmarks.harness.common import log, summary, write_result

EPOCHS = 4  # per run; the first (tracing) is not measured
QUICK_EPOCHS = 3
COPIES = 4
SEED = 0


def datasets(quick: bool) -> dict[str, Any]:
    """digits at 32x32 (the small case this CPU project lives with), and a larger copy of it."""
    from trainers.config import DataConfig
    from trainers.data import Split, load_splits

    base = load_splits(DataConfig(dataset="digits", image_size=32))
    out = {f"digits 32x32 ({len(base.train):,} training images)": base}
    if not quick:
        # Shifted copies of the training images: an epoch long enough that hpsearch's fixed
        # evaluation (at most train_eval_examples training images) weighs as on a bigger dataset.
        rng = np.random.default_rng(SEED)
        copies = [np.roll(base.train.images, shift=tuple(rng.integers(-2, 3, 2)), axis=(1, 2)) for _ in range(COPIES)]
        train = Split(np.concatenate(copies).astype("float32"), np.tile(base.train.labels, COPIES))
        big = type(base)(train=train, train_dev=base.train_dev, dev=base.dev, test=base.test,
                         num_classes=base.num_classes, class_names=base.class_names, name=f"digits x{COPIES}")
        out[f"digits 32x32, x{COPIES} shifted copies ({len(train):,} training images)"] = big
    return out


def _switch(value: str) -> bool:
    from trainers.train import _switch as resolve  # what the trainer itself decided on this machine

    return resolve(value)


def describe_model(config) -> str:
    """The model as the run built it, from its config (not a description written beside it)."""
    m = config.model
    text = f"{m.backbone}, depth {m.depth}, width {m.width}, BN {m.batch_norm}, dropout {m.dropout:g}"
    return text + (" (the default config)" if m == type(m)() else "")


def config_for(data):
    from trainers.config import TrainConfig

    # The default configuration: small CNN (2 blocks, width 32, BN after), dropout 0.2, Adam, batch 64.
    return TrainConfig().replace(training={"epochs": EPOCHS, "seed": SEED})


class _Timer:
    """Epoch begin/end times, as a Keras callback (bare runs)."""

    def __init__(self):
        import keras

        outer = self
        self.begins: list[float] = []
        self.ends: list[float] = []

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.begins.append(time.perf_counter())

            def on_epoch_end(self, epoch, logs=None):
                outer.ends.append(time.perf_counter())

        self.callback = Callback()


def run_hpsearch(data) -> dict[str, float]:
    import keras

    from trainers.data import pipeline
    from trainers.train import EVAL_BATCH, _weights_finite, train

    reports: list[float] = []

    class TimingReporter:
        def report(self, epoch, metrics):
            reports.append(time.perf_counter())

        def should_stop(self):
            return False

    config = config_for(data)
    keras.backend.clear_session()
    result = train(config, data, TimingReporter(), measure_latency=False)
    train_seconds = [h["epoch_seconds"] for h in result.history[1:]]
    whole = [b - a for a, b in zip(reports, reports[1:])]  # epochs 2..N: one report to the next
    # The evaluation hpsearch does each epoch, timed alone on the trained model.
    n, model = data.num_classes, result.model
    parts = {
        "train sample": pipeline(data.train, n, EVAL_BATCH, limit=config.training.train_eval_examples),
        "train-dev": pipeline(data.train_dev, n, EVAL_BATCH),
        "dev": pipeline(data.dev, n, EVAL_BATCH),
    }
    evaluation = {}
    for name, ds in parts.items():
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            model.evaluate(ds, verbose=0, return_dict=True)
            times.append(time.perf_counter() - t0)
        evaluation[name] = statistics.median(times)
    t0 = time.perf_counter()
    _weights_finite(model)
    evaluation["weights finite check"] = time.perf_counter() - t0
    return {"train_seconds": statistics.median(train_seconds), "whole_epoch_seconds": statistics.median(whole),
            "evaluation_seconds": evaluation}


def run_bare(data, validation: bool) -> float:
    """Median seconds of epochs 2..N of a bare fit (training part only, or with validation_data)."""
    import keras

    from trainers.data import pipeline
    from trainers.model import build_model
    from trainers.train import EVAL_BATCH, _Loop

    config = config_for(data)
    t = config.training
    keras.backend.clear_session()
    keras.utils.set_random_seed(t.seed)
    model = build_model(config, data.image_shape, data.num_classes).model
    steps = math.ceil(len(data.train) / t.batch_size)
    optimizer = _Loop._optimizer(SimpleNamespace(config=config, steps_per_epoch=steps),  # hpsearch's own
                                 config.optimizer.learning_rate, t.epochs)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"], jit_compile=False)
    train_ds = pipeline(data.train, data.num_classes, t.batch_size, training=True, seed=t.seed)
    timer = _Timer()
    kwargs = {"validation_data": pipeline(data.dev, data.num_classes, EVAL_BATCH)} if validation else {}
    model.fit(train_ds, epochs=t.epochs, verbose=0, callbacks=[timer.callback], **kwargs)
    if validation:  # end to end: the whole epoch, validation included
        return statistics.median(b - a for a, b in zip(timer.ends, timer.ends[1:]))  # epochs 2..N
    return statistics.median(e - b for b, e in zip(timer.begins[1:], timer.ends[1:]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, help="default 4 (3 with --quick); even: each side goes first equally often")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    global EPOCHS
    if args.quick:
        EPOCHS = QUICK_EPOCHS
    args.repeats = args.repeats or (3 if args.quick else 4)
    started = time.monotonic()
    import keras

    keras.mixed_precision.set_global_policy("float32")
    results: dict[str, Any] = {}
    for name, data in datasets(args.quick).items():
        runs: dict[str, list] = {"hpsearch": [], "bare": [], "bare_with_validation": []}
        for repeat in range(args.repeats):
            sides = ["hpsearch", "bare", "bare_with_validation"]
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                if side == "hpsearch":
                    runs[side].append(run_hpsearch(data))
                else:
                    runs[side].append(run_bare(data, validation=side == "bare_with_validation"))
            h, b, v = runs["hpsearch"][-1], runs["bare"][-1], runs["bare_with_validation"][-1]
            log(f"trainer_overhead: {name} repeat {repeat + 1}: train {h['train_seconds']:.3f} s vs bare {b:.3f} s; "
                f"whole epoch {h['whole_epoch_seconds']:.3f} s vs bare+validation {v:.3f} s")
        n = len(data.train)
        hp_rate = [n / r["train_seconds"] for r in runs["hpsearch"]]
        bare_rate = [n / s for s in runs["bare"]]
        hp_whole = [r["whole_epoch_seconds"] for r in runs["hpsearch"]]
        results[name] = {
            "training_images": n,
            "train_images_per_second": {"hpsearch": summary(hp_rate), "bare_fit": summary(bare_rate)},
            # Ratios per repeat (the two sides of one repeat ran back to back), then their median.
            "train_throughput_ratio": summary([a / b for a, b in zip(hp_rate, bare_rate)]),
            "whole_epoch_seconds": {"hpsearch": summary(hp_whole),
                                    "bare_fit_with_validation": summary(runs["bare_with_validation"])},
            "whole_epoch_ratio": summary([a / b for a, b in zip(hp_whole, runs["bare_with_validation"])]),
            "hpsearch_evaluation_seconds": {
                part: summary([r["evaluation_seconds"][part] for r in runs["hpsearch"]])
                for part in runs["hpsearch"][0]["evaluation_seconds"]},
        }
    targets = {
        "train_throughput": {"target": "hpsearch's training throughput is at least 0.95 of a bare fit's",
                             "per_dataset": {k: v["train_throughput_ratio"]["median"] for k, v in results.items()},
                             "met": all(v["train_throughput_ratio"]["median"] >= 0.95 for v in results.values())},
        "whole_epoch": {"target": "hpsearch's whole epoch (with its evaluation) takes at most 1.25 of a bare fit with validation_data",
                        "per_dataset": {k: v["whole_epoch_ratio"]["median"] for k, v in results.items()},
                        "met": all(v["whole_epoch_ratio"]["median"] <= 1.25 for v in results.values())},
    }
    config = config_for(None)
    body = {"settings": {"epochs_per_run": EPOCHS, "measured_epochs": f"2..{EPOCHS}", "repeats": args.repeats,
                         "model": describe_model(config), "batch_size": config.training.batch_size,
                         "optimizer": f"{config.optimizer.name} {config.optimizer.learning_rate:g}",
                         "train_eval_examples": config.training.train_eval_examples,
                         "xla": "on" if _switch(config.training.xla) else "off",
                         "precision": "mixed_float16" if _switch(config.training.mixed_precision) else "float32"},
            "datasets": results, "targets": targets}
    path = write_result("trainer_overhead", args.quick, body, started=started, path=args.out)
    log(f"trainer_overhead: wrote {path}")
    return 0

