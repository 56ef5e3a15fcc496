"""The trainer on real Keras: accuracy on digits, the reporter protocol, NaN, saving."""

import math
import time

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tests.trainers_tests.conftest import Checkpointed, Recorder
from trainers.config import TrainConfig
from trainers.train import COMPLETED, NAN_LOSS, STOPPED, train


SMALL = TrainConfig().replace(
    model={"backbone": "small_cnn", "depth": 2, "width": 32, "batch_norm": "after", "dropout": 0.1},
    optimizer={"name": "adam", "learning_rate": 3e-3},
    training={"epochs": 6, "batch_size": 32},
)


def test_small_cnn_reaches_95_percent_dev_accuracy_on_digits(digits):
    rec = Recorder()
    result = train(SMALL, digits, rec)
    assert result.stop_reason == COMPLETED and result.epochs_run == 6
    assert result.metrics["dev_accuracy"] >= 0.95, result.metrics
    # every epoch reports inference-mode errors on train, train-dev and dev
    assert rec.epochs == [1, 2, 3, 4, 5, 6]
    for m in rec.metrics:
        assert {"loss", "accuracy", "train_error", "train_dev_error", "dev_error", "dev_accuracy"} <= set(m)
        assert 0.0 <= m["train_error"] <= 1.0
    assert rec.metrics[-1]["dev_error"] < rec.metrics[0]["dev_error"]
    # and the end of the run is measured
    for key in ("test_error", "latency_ms", "latency_ms_batch", "params", "model_mb"):
        assert key in result.metrics and result.metrics[key] >= 0
    assert result.params == result.metrics["params"] == 66_986
    # ... and its probabilities on dev and test are kept, in the splits' order, for ensembles.
    p = result.predictions
    assert p.dev.shape == (len(digits.dev), 10) and p.test.shape == (len(digits.test), 10)
    np.testing.assert_array_equal(p.dev_labels, digits.dev.labels)
    assert (p.dev.argmax(-1) == p.dev_labels).mean() == pytest.approx(result.metrics["dev_accuracy"], abs=1e-6)
    assert (p.test.argmax(-1) == p.test_labels).mean() == pytest.approx(result.metrics["test_accuracy"], abs=1e-6)


def test_a_reporter_that_asks_to_stop_after_epoch_2_stops_after_epoch_2(digits):
    rec = Recorder(stop_after=2)
    result = train(SMALL, digits, rec)
    assert rec.epochs == [1, 2]
    assert result.epochs_run == 2 and result.stop_reason == STOPPED


def test_inference_mode_errors_ignore_dropout(digits):
    # Heavy dropout makes the training-mode accuracy Keras logs much worse than inference mode.
    config = SMALL.replace(model={"dropout": 0.85, "head_units": 64}, training={"epochs": 4})
    rec = Recorder()
    train(config, digits, rec, measure_latency=False)
    last = rec.metrics[-1]
    assert 1.0 - last["train_error"] > last["accuracy"]


def test_nan_loss_stops_the_run_with_that_reason(digits):
    import copy

    poisoned = copy.deepcopy(digits)
    poisoned.train.images = poisoned.train.images.astype("float32")  # uint8 cannot hold the poison
    poisoned.train.images[5] = 3e38  # overflowing and missing pixels poison the weights
    poisoned.train.images[6, 0, 0, 0] = np.nan
    rec = Recorder()
    result = train(SMALL.replace(training={"epochs": 8}), poisoned, rec, measure_latency=False)
    assert result.stop_reason == NAN_LOSS
    assert not math.isfinite(rec.metrics[-1]["loss"])
    assert result.epochs_run == 1


def test_saved_model_loads_with_keras_alone_and_predicts(digits, tmp_path):
    config = SMALL.replace(augment={"policy": "flip_crop"}, training={"epochs": 1})
    result = train(config, digits, measure_latency=False)
    path = str(tmp_path / "model.keras")
    result.model.save(path)
    loaded = keras.models.load_model(path)
    x = digits.test.images[:16]
    assert np.allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-5)


# Half the epochs frozen, then the top 20% of the backbone fine-tuned at a tenth of the rate.
TRANSFER = TrainConfig().replace(
    model={"backbone": "mobilenet_v2", "weights": "none", "dropout": 0.1},
    transfer={"frozen_epochs": 0.5, "fine_tune_fraction": 0.2, "fine_tune_lr_ratio": 0.1},
    optimizer={"name": "adam", "learning_rate": 1e-3},
    training={"epochs": 2, "batch_size": 64},
    data={"max_train_examples": 256},
)


@pytest.mark.slow
def test_transfer_learning_freezes_then_fine_tunes(digits):
    config = TRANSFER
    rec = Recorder()
    result = train(config, digits, rec, measure_latency=False)
    assert result.epochs_run == 2
    lrs = [m["learning_rate"] for m in rec.metrics]
    assert lrs[0] == pytest.approx(1e-3) and lrs[1] == pytest.approx(1e-4)
    backbone = result.model.get_layer("backbone_mobilenet_v2")
    trainable = [l for l in backbone.layers if l.trainable_weights]
    assert 0 < len(trainable) < len(backbone.layers)


def test_inference_batches_shrink_as_images_grow_but_never_below_the_training_batch():
    from trainers.train import EVAL_BATCH, eval_batch_size

    assert eval_batch_size((8, 8, 1), 64) == eval_batch_size((28, 28, 1), 64) == EVAL_BATCH
    assert eval_batch_size((224, 224, 3), 32) == 32  # 256 of them held a small CNN's trial at 4 GB
    assert eval_batch_size((224, 224, 3), 128) == 128
    assert 32 < eval_batch_size((128, 128, 3), 32) < EVAL_BATCH


def test_the_first_epoch_says_when_the_first_training_step_finished(digits):
    rec = Recorder(stop_after=2)
    train(SMALL, digits, rec)
    first = rec.metrics[0]["first_step_seconds"]
    assert 0 < first < rec.metrics[0]["epoch_seconds"] + 60  # measured from the trainer's start, within epoch 1
    assert "first_step_seconds" not in rec.metrics[1]


def test_optimizer_and_metric_state_exist_before_the_first_step(digits):
    """Without it TensorFlow traces the first step twice (about a second per trial on a CPU)."""
    from trainers.data import pipeline
    from trainers.model import build_model
    from trainers.train import _build_state

    model = build_model(SMALL, digits.image_shape, digits.num_classes).model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    assert not model.optimizer.built
    _build_state(model, pipeline(digits.train, digits.num_classes, 32, training=True))
    assert model.optimizer.built
    assert len(model.optimizer.variables) > len(model.trainable_variables)  # Adam's moments, not only its step count


def test_a_warmed_up_process_loads_the_data_once_and_trains_to_the_same_numbers(monkeypatch):
    """What a worker's standby trial process does before its trial must not change the trial's result."""
    import trainers.data.loading as data_module
    from trainers.train import warm_up

    config = SMALL.replace(training={"epochs": 2}, augment={"policy": "flip_crop"})
    cold = train(config, measure_latency=False)

    loads = []
    real = data_module._array_splits
    monkeypatch.setattr(data_module, "_array_splits", lambda c: loads.append(c) or real(c))
    warm_up(config)
    assert len(loads) == 1
    warm = train(config, measure_latency=False)
    assert len(loads) == 1  # the trial found its data loaded
    assert [m["loss"] for m in warm.history] == [m["loss"] for m in cold.history]
    assert [m["dev_error"] for m in warm.history] == [m["dev_error"] for m in cold.history]
    train(config.replace(training={"epochs": 1}), measure_latency=False)
    assert len(loads) == 2  # preloaded data are handed out once


def test_two_classes_made_indistinguishable_are_the_first_most_confused_pair(digits):
    """Digits 3 and 8 relabelled at random between classes 3 and 8: the model cannot tell those two apart."""
    from trainers.data.splits import Split, Splits

    rng = np.random.default_rng(0)

    def mixed(split):
        labels = split.labels.copy()
        pair = np.isin(labels, (3, 8))
        labels[pair] = rng.choice([3, 8], size=int(pair.sum()))
        return Split(split.images, labels)

    data = Splits(*(mixed(getattr(digits, s)) for s in ("train", "train_dev", "dev", "test")),
                  digits.num_classes, digits.class_names, "digits, 3 and 8 mixed")
    result = train(SMALL, data, measure_latency=False)
    mistakes = result.mistakes
    first = mistakes.pairs[0]
    assert {first["true"], first["predicted"]} == {3, 8}, mistakes.pairs[:3]
    assert mistakes.confusion[3][8] + mistakes.confusion[8][3] > 0.5 * mistakes.errors
    assert sum(map(sum, mistakes.confusion)) == len(data.dev)  # every dev image, once
    # The worst mistakes are wrong and the most confident first, each with its image.
    assert all(w["true"] != w["predicted"] for w in mistakes.worst)
    assert [w["confidence"] for w in mistakes.worst] == sorted((w["confidence"] for w in mistakes.worst), reverse=True)
    assert mistakes.images.shape == (len(mistakes.worst), *data.image_shape)
    for w, pixels in zip(mistakes.worst, mistakes.images):
        assert (pixels == data.dev.images[w["index"]]).all() and data.dev.labels[w["index"]] == w["true"]
    assert result.to_dict()["mistakes"]["classes"] == digits.class_names


def test_a_run_stopped_at_epoch_3_of_6_resumes_at_epoch_4_from_its_checkpoint(digits, tmp_path):
    config = SMALL.replace(optimizer={"lr_decay": "cosine"})
    first = Checkpointed(stop_after=3)
    stopped = train(config, digits, first, measure_latency=False, checkpoints=str(tmp_path))
    # Every epoch is saved before it is reported, so the one the run was stopped at is too.
    assert stopped.stop_reason == STOPPED and sorted(first.saved) == [1, 2, 3]
    second = Checkpointed()
    resumed = train(config, digits, second, measure_latency=False, checkpoints=str(tmp_path / "b"),
                    resume_from=first.saved[3])
    assert second.resumed_at == 3 and second.inherited == first.metrics[:3]
    assert second.epochs == [4, 5, 6]  # the numbering continues
    # The resumed run's own start-up is on its first epoch (a worker's estimate of its pace leaves it out).
    assert second.metrics[0]["first_step_seconds"] > 0 and "first_step_seconds" not in second.metrics[1]
    assert sorted(second.saved) == [4, 5]  # not after the last epoch
    assert resumed.epochs_run == 6 and resumed.history[:3] == first.metrics[:3]
    # ... with the optimizer's state: the cosine schedule continues from 3 epochs in, not from its start.
    steps = -(-len(digits.train) // config.training.batch_size)
    expected = [0.5 * config.optimizer.learning_rate * (1 + math.cos(math.pi * e * steps / (6 * steps))) for e in (4, 5)]
    assert [m["learning_rate"] for m in second.metrics[:2]] == pytest.approx(expected, rel=1e-4)
    assert resumed.metrics["dev_accuracy"] >= 0.9


@pytest.mark.slow
def test_a_transfer_run_resumes_in_its_fine_tuning_phase(digits, tmp_path):
    config = TRANSFER.replace(training={"epochs": 4})
    first = Checkpointed(stop_after=3)
    train(config, digits, first, measure_latency=False, checkpoints=str(tmp_path))
    second = Checkpointed()
    result = train(config, digits, second, measure_latency=False, resume_from=first.saved[2])  # the frozen phase's end
    assert second.epochs == [3, 4]
    assert [m["learning_rate"] for m in second.metrics] == pytest.approx([1e-4, 1e-4])  # the fine-tuning phase
    backbone = result.model.get_layer("backbone_mobilenet_v2")
    assert 0 < len([l for l in backbone.layers if l.trainable_weights]) < len(backbone.layers)


TURN_SECONDS = 3.0  # a prepared run's wait for its turn; its first step alone takes milliseconds


@pytest.mark.parametrize("changes", [
    {"augment": {"policy": "flip_crop"}},  # random layers: their seed states are put back
    # MixUp draws in the input pipeline: with parallel calls the same seed gave a different run each time.
    {"augment": {"policy": "mixup"}, "optimizer": {"name": "sgd", "momentum": 0.9, "lr_decay": "cosine"}},
], ids=["dropout+flip_crop, adam", "mixup, sgd+momentum, cosine"])
def test_a_run_prepared_ahead_trains_to_the_same_numbers_and_waits_for_its_turn(digits, changes):
    """A worker's standby prepares the next trial while the current one trains (`on_ready`): rehearsing
    the first step must leave no trace in the run, and the run must not train before it is let go."""
    config = SMALL.replace(training={"epochs": 2}, **changes)
    plain = train(config, digits, measure_latency=False)
    rec = Recorder()
    waited = []

    def wait_for_turn():
        waited.append(len(rec.epochs))
        time.sleep(TURN_SECONDS)  # the worker's current trial still training

    prepared = train(config, digits, rec, measure_latency=False, on_ready=wait_for_turn)
    assert waited == [0]  # called once, before any epoch
    for key in ("loss", "accuracy", "train_error", "dev_error", "learning_rate"):
        assert [m[key] for m in prepared.history] == [m[key] for m in plain.history], key
    assert prepared.metrics["test_accuracy"] == plain.metrics["test_accuracy"]
    # Its start-up clock starts at its turn: the wait before it (a lower bound) is not in it.
    assert prepared.history[0]["first_step_seconds"] < TURN_SECONDS


def test_a_resumed_run_prepared_ahead_continues_as_an_unprepared_one(digits, tmp_path):
    config = SMALL.replace(optimizer={"lr_decay": "cosine"}, training={"epochs": 4})
    first = Checkpointed(stop_after=2)
    train(config, digits, first, measure_latency=False, checkpoints=str(tmp_path))
    plain = train(config, digits, Checkpointed(), measure_latency=False, resume_from=first.saved[2])
    prepared = train(config, digits, Checkpointed(), measure_latency=False, resume_from=first.saved[2], on_ready=lambda: None)
    assert [m["loss"] for m in prepared.history] == [m["loss"] for m in plain.history]
    assert [m["dev_error"] for m in prepared.history] == [m["dev_error"] for m in plain.history]
