"""A trainer for machines with a GPU but no TensorFlow (the lent JAX machines): the trainer protocol
on Keras alone, for benchmark 4's short study.

trainers.train.train needs TensorFlow (tf.data pipelines, its GPU check). This stand-in keeps
what matters for a study's pace: hpsearch's model (trainers.model.build_model), optimizer and
schedule, mixed precision and XLA on the GPU as `auto` means, one `fit` epoch at a time, and
after each epoch the inference-mode evaluation of a training sample, train-dev and dev, reported
through the Reporter. It feeds numpy arrays instead of tf.data, leaves out the last partial training
batch of each epoch (fewer than one batch of images; on JAX it would cost a compilation per trial)
and applies no MixUp/CutMix (those live in the tf.data pipeline); in-model augmentation layers run
as usual.
"""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np

from benchmarks.gpu import gpu_present, select_backend

select_backend()


def train(config, data=None, reporter=None):
    import keras

    from trainers.data import load_splits
    from trainers.model import build_model
    from trainers.result import COMPLETED, NO_REPORTER, STOPPED, TrainResult
    from trainers.train import EVAL_BATCH, _Loop

    reporter = reporter or NO_REPORTER
    started = time.perf_counter()
    data = data if data is not None else load_splits(config.data)
    gpu = gpu_present()
    t = config.training
    keras.utils.set_random_seed(t.seed)
    mixed = t.mixed_precision == "on" or (t.mixed_precision == "auto" and gpu)
    jit = t.xla == "on" or (t.xla == "auto" and gpu)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        model = build_model(config, data.image_shape, data.num_classes).model
        steps = math.ceil(len(data.train) / t.batch_size)
        optimizer = _Loop._optimizer(SimpleNamespace(config=config, steps_per_epoch=steps),
                                     config.optimizer.learning_rate, t.epochs)
        model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"],
                      jit_compile=jit)
        onehot = np.eye(data.num_classes, dtype="float32")
        sample = slice(0, t.train_eval_examples)
        # On JAX every new batch shape is compiled anew (seconds on the host's CPU, per trial): the
        # training arrays drop their last partial batch (under one batch in an epoch), and every
        # evaluation predicts whole EVAL_BATCH batches, its padding cut off before counting.
        whole = len(data.train) - len(data.train) % t.batch_size or len(data.train)
        train_x, train_y = data.train.images[:whole], onehot[data.train.labels[:whole]]

        def accuracy(split, part=slice(None)):
            x, labels = split.images[part], split.labels[part]
            padded = np.concatenate([x, np.zeros((-len(x) % EVAL_BATCH, *x.shape[1:]), x.dtype)])
            scores = model.predict(padded, batch_size=EVAL_BATCH, verbose=0)[: len(x)]
            return float(np.mean(np.argmax(scores, axis=1) == labels))

        history, reason = [], COMPLETED
        for epoch in range(1, t.epochs + 1):
            t0 = time.perf_counter()
            logs = model.fit(train_x, train_y, batch_size=t.batch_size, epochs=epoch,
                             initial_epoch=epoch - 1, shuffle=True, verbose=0).history
            metrics = {"loss": float(logs["loss"][-1]), "accuracy": float(logs["accuracy"][-1]),
                       "epoch_seconds": time.perf_counter() - t0, "train_error": 1.0 - accuracy(data.train, sample)}
            if len(data.train_dev):
                metrics["train_dev_error"] = 1.0 - accuracy(data.train_dev)
            metrics["dev_accuracy"] = accuracy(data.dev)
            metrics["dev_error"] = 1.0 - metrics["dev_accuracy"]
            history.append(metrics)
            reporter.report(epoch, metrics)
            if not math.isfinite(metrics["loss"]) or reporter.should_stop():
                reason = STOPPED
                break
        final = {k: v for k, v in history[-1].items() if k not in ("loss", "accuracy", "epoch_seconds")}
        if reason == COMPLETED:
            final["test_accuracy"] = accuracy(data.test)
            final["test_error"] = 1.0 - final["test_accuracy"]
        return TrainResult(epochs_run=len(history), stop_reason=reason, history=history, metrics=final,
                           params=int(model.count_params()), seconds=time.perf_counter() - started)
    finally:
        keras.mixed_precision.set_global_policy("float32")
