"""Train one configuration and measure it honestly.

`train()` knows nothing of Optuna: it reports each epoch through a `Reporter` and asks it
whether to stop, so the same loop runs standalone (`hpsearch train`), under a study's trial
(pruning, graceful shutdown) or under a test double.

Errors are measured in inference mode (no dropout, no augmentation) on a fixed sample of the
training split, on train-dev and on dev, each epoch: Keras's logged training accuracy is taken
with dropout and augmentation on, and is not the training error of a bias/variance analysis.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
import warnings
from typing import Any, Callable, Mapping

import keras
import numpy as np

from trainers import checkpoint
from trainers.model.augment import label_mixing_layer
from trainers.config import TrainConfig
from trainers.data import Split, Splits, load_splits, pipeline, preload
from trainers.early_check import EarlyCheck, check_step, dev_sample, standard_error
from trainers.mistakes import find_mistakes
from trainers.latency import measure_latency_ms
from trainers.predictions import Predictions, accuracy, predict
from trainers.model import BuiltModel, build_model, set_backbone_trainable
from trainers.result import COMPLETED, EARLY_STOPPING, NAN_LOSS, NO_REPORTER, STOPPED, Reporter, TrainResult

EVAL_BATCH = 256  # images per inference batch when they are small (64x64 or less)


def eval_batch_size(image_shape, batch_size: int) -> int:
    """The inference batch: EVAL_BATCH for small images, fewer as they grow, never below the training batch.

    Activations grow with the pixels per image: 256 images of 224x224 took a small CNN's trial
    to 4 GB resident on a CPU, where its training batches of 32 needed about 2 GB.
    """
    pixels = int(image_shape[0]) * int(image_shape[1])
    scaled = EVAL_BATCH * 64 * 64 // max(1, pixels)
    return max(1, min(EVAL_BATCH, max(batch_size, 2 ** max(0, scaled.bit_length() - 1))))

# Our tf.data pipelines shuffle themselves; Keras warns that fit's shuffle flag is then ignored.
warnings.filterwarnings("ignore", message=".*shuffle=True. was passed.*")


def accelerator_present() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _switch(value: str) -> bool:
    return value == "on" or (value == "auto" and accelerator_present())


def train(
    config: TrainConfig,
    data: Splits | None = None,
    reporter: Reporter = NO_REPORTER,
    *,
    measure_latency: bool = True,
    checkpoints: str | None = None,
    resume_from: str | None = None,
    on_ready: Callable[[], None] | None = None,
) -> TrainResult:
    """Train `config` on `data` (loaded from `config.data` when None) and return what was measured.

    Args:
        checkpoints: a folder; at the end of every epoch but the last, the run's state is saved
            there (`trainers.checkpoint`) and the reporter, if it has `checkpoint(epoch, path,
            seconds, nbytes)`, is told.
        resume_from: a checkpoint of an earlier run of the same configuration: this run starts
            after its epoch (the reporter, if it has `resumed(epoch, history)`, is told first).
        on_ready: called once the run could take its first step at once: data loaded, model
            built and compiled, its training step traced and run on a throwaway batch, its state
            put back (`_rehearse`). Training starts when it returns, and the start-up clock
            (`first_step_seconds`) starts then. A worker hands its standby process the next trial
            while the current one still trains, and the standby waits here for its turn. Where a
            GPU is visible it is called before anything is built: the trial still training holds
            the device's memory.
    """
    started = time.perf_counter()
    data = data if data is not None else load_splits(config.data)
    if on_ready is not None and accelerator_present():
        on_ready()
        on_ready, started = None, time.perf_counter()
    keras.utils.set_random_seed(config.training.seed)
    mixed = _switch(config.training.mixed_precision)
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        built = build_model(config, data.image_shape, data.num_classes)
        loop = _Loop(config, data, built, reporter, jit=_switch(config.training.xla), started=started)
        loop.checkpoints, loop.resume_from, loop.on_ready = checkpoints, resume_from, on_ready
        loop.run()
        metrics = dict(loop.history[-1]) if loop.history else {}
        for key in ("loss", "accuracy", "learning_rate", "epoch_seconds"):
            metrics.pop(key, None)
        metrics.update(_size(built.model))
        if data.skipped:
            metrics["skipped_images"] = float(len(data.skipped))  # unreadable files left out of the dataset
        mistakes = predictions = None
        if loop.stop_reason in (COMPLETED, EARLY_STOPPING):
            batch = eval_batch_size(data.image_shape, config.training.batch_size)
            # The test split's probabilities give its accuracy (as evaluate would) and are kept for ensembles.
            test_probs, test_labels = predict(built.model, data.test, data.num_classes, batch)
            test = accuracy(test_probs, test_labels)
            metrics["test_error"] = 1.0 - test
            metrics["test_accuracy"] = test
            if measure_latency:
                metrics.update(measure_latency_ms(built.model, data.image_shape, config.training.batch_size))
            mistakes = find_mistakes(built.model, data.dev, data.num_classes, data.class_names, batch)
            predictions = Predictions(dev=mistakes.probabilities, dev_labels=mistakes.labels,
                                      test=test_probs, test_labels=test_labels)
        return TrainResult(
            epochs_run=len(loop.history),
            stop_reason=loop.stop_reason,
            history=loop.history,
            metrics=metrics,
            params=int(built.model.count_params()),
            seconds=time.perf_counter() - started,
            model=built.model,
            mistakes=mistakes,
            predictions=predictions,
        )
    finally:
        keras.mixed_precision.set_global_policy("float32")


class _Loop:
    """The phases of one run (head only, then fine-tuning) and the per-epoch measurements."""

    def __init__(self, config: TrainConfig, data: Splits, built: BuiltModel, reporter: Reporter, jit: bool,
                 started: float | None = None):
        self.config, self.data, self.built, self.reporter, self.jit = config, data, built, reporter, jit
        self.started = time.perf_counter() if started is None else started
        self.first_step_at: float | None = None  # set by _FirstStep when the first training step has run
        self._first_step_reported = False
        t = config.training
        n = data.num_classes
        mixing = label_mixing_layer(config.augment, t.seed)
        self.train_ds = pipeline(data.train, n, t.batch_size, training=True, seed=t.seed, batch_transform=mixing)
        eval_batch = eval_batch_size(data.image_shape, t.batch_size)
        self.train_eval_ds = pipeline(data.train, n, eval_batch, limit=t.train_eval_examples)
        self.train_dev_ds = pipeline(data.train_dev, n, eval_batch) if len(data.train_dev) else None
        self.dev_ds = pipeline(data.dev, n, eval_batch)
        self.steps_per_epoch = max(1, math.ceil(len(data.train) / t.batch_size))
        self.history: list[dict[str, float]] = []
        self.stop_reason = COMPLETED
        self._best_dev_error = math.inf
        self._epochs_since_best = 0
        self.phase = 0
        self.checkpoints: str | None = None  # see train()
        self.resume_from: str | None = None
        self.on_ready: Callable[[], None] | None = None
        self._check_sample: Split | None = None

    def phases(self) -> list[tuple[int, float, float]]:
        """(epochs, learning rate, backbone fraction trainable) for each phase."""
        epochs = self.config.training.epochs
        lr = self.config.optimizer.learning_rate
        if not self.config.pretrained:
            return [(epochs, lr, 0.0)]
        tr = self.config.transfer
        frozen = min(epochs, int(round(tr.frozen_epochs * epochs)))
        phases = []
        if frozen:
            phases.append((frozen, lr, 0.0))
        if epochs - frozen:
            # With no frozen phase the fine-tuned layers train from the start at the lower rate.
            phases.append((epochs - frozen, lr * tr.fine_tune_lr_ratio, tr.fine_tune_fraction))
        return phases

    def run(self) -> None:
        done = 0
        saved = checkpoint.read_state(self.resume_from) if self.resume_from else None
        for index, (epochs, lr, fraction) in enumerate(self.phases()):
            if saved is not None and saved.epoch >= done + epochs and saved.phase > index:
                done += epochs  # a phase the stopped run had finished
                continue
            set_backbone_trainable(self.built, fraction)
            self.built.model.compile(
                optimizer=self._optimizer(lr, epochs),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=self.config.training.label_smoothing),
                metrics=["accuracy"],
                jit_compile=self.jit,
            )
            _build_state(self.built.model, self.train_ds)
            start, self.phase = done, index
            if saved is not None:
                start = self._resume(saved, same_phase=saved.phase == index)
                saved = None
            if self.on_ready is not None:
                _rehearse(self.built.model, self.train_ds, self.config.training.batch_size)
                self.on_ready()
                self.on_ready, self.started = None, time.perf_counter()
            self.built.model.fit(
                self.train_ds,
                epochs=done + epochs,
                initial_epoch=start,
                verbose=0,
                callbacks=[_EpochEnd(self), _FirstStep(self), *self._early_check(start)],
            )
            done += epochs
            if self.stop_reason != COMPLETED or len(self.history) < done:
                break

    def _early_check(self, start: int) -> list[keras.callbacks.Callback]:
        """The early check's callback, in a run that starts at its first epoch and whose reporter listens."""
        step = check_step(self.config.training.early_check, self.steps_per_epoch)
        if start != 0 or step is None or getattr(self.reporter, "check", None) is None:
            return []
        return [EarlyCheck(step, first_epoch=0, check=self.check)]

    def check(self) -> bool:
        """Measure the early check's sample, report it; True means stop (trainers.early_check)."""
        t = self.config.training
        if self._check_sample is None:
            self._check_sample = dev_sample(self.data.dev, t.early_check_examples)
        t0 = time.perf_counter()
        with _averaged_weights(self.built.model):
            probs, labels = predict(self.built.model, self._check_sample, self.data.num_classes,
                                    eval_batch_size(self.data.image_shape, t.batch_size))
        dev = accuracy(probs, labels)
        metrics = {"dev_accuracy": dev, "dev_error": 1.0 - dev, "standard_error": standard_error(dev, len(labels)),
                   "examples": float(len(labels)), "fraction": t.early_check, "seconds": time.perf_counter() - t0}
        self.reporter.check(t.early_check, metrics)
        if self.reporter.should_stop():
            self.stop_reason = STOPPED
            return True
        return False

    def _resume(self, saved: checkpoint.LoopState, *, same_phase: bool) -> int:
        """Load the checkpoint into the compiled model; the epoch to continue from."""
        checkpoint.restore(self.resume_from, self.built.model, optimizer=same_phase)
        self.history = list(saved.history)
        self._best_dev_error, self._epochs_since_best = saved.best_dev_error, saved.epochs_since_best
        resumed = getattr(self.reporter, "resumed", None)
        if resumed is not None:
            resumed(saved.epoch, self.history)
        return saved.epoch

    def _save_checkpoint(self, epoch: int) -> None:
        t0 = time.perf_counter()
        path = os.path.join(self.checkpoints, f"epoch-{epoch}.npz")
        state = checkpoint.LoopState(epoch, self.phase, list(self.history), self._best_dev_error, self._epochs_since_best)
        nbytes = checkpoint.save(path, self.built.model, state)
        told = getattr(self.reporter, "checkpoint", None)
        if told is not None:
            told(epoch, path, time.perf_counter() - t0, nbytes)

    def _optimizer(self, lr: float, epochs: int):
        opt = self.config.optimizer
        steps = max(1, epochs * self.steps_per_epoch)
        schedule: Any = lr
        warmup = int(round(opt.warmup_fraction * steps))
        if warmup:
            # Linear from 0 to lr, then the cosine to 0 (alpha 0) or the rate held (alpha 1).
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, decay_steps=max(1, steps - warmup), alpha=0.0 if opt.lr_decay == "cosine" else 1.0,
                warmup_target=lr, warmup_steps=warmup,
            )
        elif opt.lr_decay == "cosine":
            schedule = keras.optimizers.schedules.CosineDecay(lr, decay_steps=steps)
        elif opt.lr_decay == "exponential":
            schedule = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=steps, decay_rate=opt.decay_rate)
        elif opt.lr_decay == "inverse_time":
            schedule = keras.optimizers.schedules.InverseTimeDecay(
                lr, decay_steps=self.steps_per_epoch, decay_rate=opt.decay_rate
            )
        common = {"learning_rate": schedule, "weight_decay": opt.weight_decay or None}
        if opt.ema_momentum:
            common.update(use_ema=True, ema_momentum=opt.ema_momentum)
        if opt.name == "sgd":
            return keras.optimizers.SGD(momentum=opt.momentum, **common)
        return keras.optimizers.Adam(beta_1=opt.beta_1, beta_2=opt.beta_2, epsilon=opt.epsilon, **common)

    def evaluate(self, ds) -> float:
        """Accuracy in inference mode (evaluate runs the model with training=False)."""
        return float(self.built.model.evaluate(ds, verbose=0, return_dict=True)["accuracy"])

    def end_epoch(self, epoch: int, logs: Mapping[str, Any], seconds: float) -> bool:
        """Measure, report, decide; True means stop."""
        if self.stop_reason == STOPPED:  # stopped at the early check: Keras still ends the epoch it cut short
            return True
        loss = float(logs.get("loss", math.nan))
        metrics = {
            "loss": loss,
            "accuracy": float(logs.get("accuracy", math.nan)),
            "learning_rate": float(keras.ops.convert_to_numpy(self.built.model.optimizer.learning_rate)),
            "epoch_seconds": seconds,
        }
        if self.first_step_at is not None and not self._first_step_reported:
            # From train() being called to the end of the first training step: the start-up a
            # run pays (loading, building, tracing) plus that one step's own compute. On the first
            # epoch this run trains: epoch 1, or the first after the checkpoint it resumed from.
            metrics["first_step_seconds"] = self.first_step_at - self.started
            self._first_step_reported = True
        # Keras clips probabilities inside the cross-entropy, so diverged (NaN) weights can still
        # show a finite loss: check the weights too.
        if not math.isfinite(loss) or not _weights_finite(self.built.model):
            metrics["loss"] = math.nan
            self.history.append(metrics)
            self.stop_reason = NAN_LOSS
            self.reporter.report(epoch, metrics)
            return True
        with _averaged_weights(self.built.model):
            metrics["train_error"] = 1.0 - self.evaluate(self.train_eval_ds)
            if self.train_dev_ds is not None:
                metrics["train_dev_error"] = 1.0 - self.evaluate(self.train_dev_ds)
            dev = self.evaluate(self.dev_ds)
        metrics["dev_error"] = 1.0 - dev
        metrics["dev_accuracy"] = dev
        metrics["epoch_seconds"] = seconds
        self.history.append(metrics)
        if metrics["dev_error"] < self._best_dev_error - 1e-9:
            self._best_dev_error, self._epochs_since_best = metrics["dev_error"], 0
        else:
            self._epochs_since_best += 1
        # Before the report: a worker told to stop at this epoch (a shutdown) then loses nothing.
        if self.checkpoints and epoch < self.config.training.epochs:
            self._save_checkpoint(epoch)
        self.reporter.report(epoch, metrics)
        if self.reporter.should_stop():
            self.stop_reason = STOPPED
            return True
        patience = self.config.training.early_stopping_patience
        if patience and self._epochs_since_best >= patience:
            self.stop_reason = EARLY_STOPPING
            return True
        return False


@contextlib.contextmanager
def _averaged_weights(model: keras.Model):
    """With weight averaging on (optimizer.ema_momentum), the average is in the model inside the block.

    Keras puts the average into the model only when fit ends; the epochs are measured on it too, so
    a curve, the pruner and early stopping judge the weights the run keeps. Swapped back before the
    checkpoint, which then holds the raw weights and the average where a resumed run expects them.
    """
    if not getattr(model.optimizer, "use_ema", False):
        yield
        return
    swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=False)
    swap.set_model(model)
    swap.on_test_begin()  # its public hooks: the average in for evaluation, then back
    try:
        yield
    finally:
        swap.on_test_end()


class _EpochEnd(keras.callbacks.Callback):
    """Only epoch-level hooks: a per-batch hook would make Keras sync every step."""

    def __init__(self, loop: _Loop):
        super().__init__()
        self.loop = loop
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._t0
        if self.loop.end_epoch(epoch + 1, logs or {}, seconds):
            self.model.stop_training = True


def _build_state(model: keras.Model, ds) -> None:
    """Create the optimizer's and the metrics' variables before the first step.

    Without a distribution strategy, Keras's TensorFlow trainer creates them while tracing the
    first step, and TensorFlow then traces the step a second time (a function that created
    variables is traced again without): about a second of start-up on a CPU. Keras's own
    symbolic build does it without a step; where a Keras version lacks it, the old path stands.
    """
    build = getattr(model, "_symbolic_build", None)
    if build is None:
        return
    build(data_batch=ds.element_spec)


def _rehearse(model: keras.Model, ds, batch_size: int) -> None:
    """Run one training step on a throwaway batch shaped like `ds`'s, then put the model back as it was.

    The first step of a compiled model pays for tracing its training function and for TensorFlow's
    first run of that graph (its optimisation, the kernels' set-up): over a second on a CPU. Paid
    here, before the trial's turn, the run's own first step is an ordinary one. Everything the step
    changed is restored (the weights, batch-norm statistics, random-seed states, the optimizer's
    slots and iteration count, the metrics), so the run trains exactly as it would have without this;
    the batch comes from its own dataset, so the trial's shuffling is untouched.
    """
    import tensorflow as tf

    try:  # Keras's own class, not its public API: where a Keras version lacks it, the run is not rehearsed
        from keras.src.backend.tensorflow.trainer import TFEpochIterator
    except ImportError:
        return

    def zeros(spec):
        return tf.zeros([batch_size if d is None else d for d in spec.shape], spec.dtype)

    # A whole training batch: the kernels' set-up and buffers depend on the shapes they run on (a
    # batch of 2 left about a second of the first real step at 224 px). The batch size stays unknown
    # in the dataset's spec, as in `ds`, so the step is the one fit runs.
    batch = tf.nest.map_structure(zeros, ds.element_spec)
    throwaway = tf.data.Dataset.from_tensor_slices(batch).batch(batch_size)
    state = [*model.variables, *model.optimizer.variables, *model.metrics_variables]
    saved = [v.numpy() for v in state]
    model.make_train_function()
    # fit's own iterator type: a plain tf.data iterator would trace a second function.
    epoch = TFEpochIterator(x=throwaway, distribute_strategy=model.distribute_strategy,
                            steps_per_execution=model.steps_per_execution)
    with epoch.catch_stop_iteration():
        for _, _, iterator in epoch:
            model.train_function(iterator)
            break
    for variable, value in zip(state, saved):
        variable.assign(value)


class _FirstStep(keras.callbacks.Callback):
    """Notes when the first training step has finished.

    `async_safe`: Keras then runs this hook on its callback thread once the step's results are
    ready, instead of making every step wait for its hooks.
    """

    async_safe = True

    def __init__(self, loop: _Loop):
        super().__init__()
        self.loop = loop

    def on_train_batch_end(self, batch, logs=None):
        if self.loop.first_step_at is None:
            self.loop.first_step_at = time.perf_counter()


def warm_up(config: TrainConfig) -> None:
    """What a worker's standby trial process does before its trial is known, guessing it resembles `config`.

    Loads `config`'s data (kept for the next `load_splits` of the same data), then fits and evaluates a
    tiny model, so that the trial's first training step does not pay TensorFlow's and Keras's
    once-per-process costs (function tracing machinery, kernels, the optimizer's update code).
    Skipped where a GPU is visible: any TensorFlow op would initialise the device in this process
    while the trial beside it holds the GPU's memory.
    """
    if accelerator_present():
        return
    data = preload(config.data)
    rng = np.random.default_rng(0)
    shape, classes = (8, 8, data.image_shape[-1]), data.num_classes

    def tiny(count: int) -> Split:
        return Split(rng.integers(0, 256, (count, *shape), dtype=np.uint8), np.arange(count, dtype=np.int32) % classes)

    splits = Splits(tiny(16), tiny(8), tiny(8), tiny(8), classes, list(data.class_names), name="warm-up")
    tiny_config = config.replace(
        data={"image_size": None},
        model={"backbone": "small_cnn", "depth": 1, "width": 4},
        training={"epochs": 1, "batch_size": 8, "train_eval_examples": 32, "early_stopping_patience": 0},
    )
    train(tiny_config, splits, measure_latency=False)


def _weights_finite(model: keras.Model) -> bool:
    return all(bool(keras.ops.all(keras.ops.isfinite(w))) for w in model.trainable_weights)


def _size(model: keras.Model) -> dict[str, float]:
    nbytes = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    return {"params": float(model.count_params()), "model_mb": nbytes / 2**20}
