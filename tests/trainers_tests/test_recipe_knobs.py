"""The knobs published small-compute recipes rely on: label smoothing, warm-up, weight averaging, random erasing."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from tests.trainers_tests.conftest import Checkpointed, Recorder
from trainers.model.augment import augmentation_layers
from trainers.config import AugmentConfig, ConfigError, TrainConfig
from trainers.train import STOPPED, train


SMALL = TrainConfig().replace(
    model={"backbone": "small_cnn", "depth": 2, "width": 16, "batch_norm": "after", "dropout": 0.1},
    optimizer={"name": "adam", "learning_rate": 3e-3},
    training={"epochs": 4, "batch_size": 32},
)


def mean_confidence(model, split) -> float:
    probabilities = model.predict(split.images.astype("float32"), verbose=0)
    return float(probabilities.max(axis=1).mean())


def test_label_smoothing_makes_the_trained_model_less_sure_of_itself(digits):
    # Smoothed targets put 1 - 0.3 + 0.03 = 0.73 on the true class: the loss is lowest there, not at 1.
    sharp = train(SMALL, digits, measure_latency=False)
    smooth = train(SMALL.replace(training={"label_smoothing": 0.3}), digits, measure_latency=False)
    assert smooth.metrics["dev_accuracy"] >= 0.9
    assert mean_confidence(sharp.model, digits.dev) > 0.9
    assert mean_confidence(smooth.model, digits.dev) < 0.8


@pytest.mark.parametrize("decay, expected", [
    ("none", [0.5, 1.0, 1.0, 1.0]),  # up over the first half, then held
    ("cosine", [0.5, 1.0, 0.5, 0.0]),  # up over the first half, then a cosine to zero: one cycle
])
def test_warm_up_raises_the_learning_rate_from_zero_over_its_share_of_the_steps(digits, decay, expected):
    config = SMALL.replace(optimizer={"lr_decay": decay, "warmup_fraction": 0.5})
    rec = Recorder()
    train(config, digits, rec, measure_latency=False)
    rates = [m["learning_rate"] / config.optimizer.learning_rate for m in rec.metrics]
    assert rates == pytest.approx(expected, abs=1e-6)


def test_warm_up_with_a_schedule_it_cannot_warm_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="warmup_fraction goes with lr_decay none or cosine, not 'exponential'"):
        SMALL.replace(optimizer={"lr_decay": "exponential", "warmup_fraction": 0.1})


def test_weight_averaging_is_what_each_epoch_measures_and_what_the_run_keeps(digits, tmp_path):
    # An average that hardly moves (momentum 0.9999 over about 40 steps an epoch) stays near the
    # weights after the first step, near chance, while the raw weights learn (the loss falls).
    config = SMALL.replace(optimizer={"ema_momentum": 0.9999}, training={"epochs": 3})
    rec = Checkpointed()
    result = train(config, digits, rec, measure_latency=False, checkpoints=str(tmp_path / "a"))
    assert rec.metrics[-1]["loss"] < 0.5 * rec.metrics[0]["loss"]
    assert all(m["dev_accuracy"] < 0.6 for m in rec.metrics)
    kept = result.model.evaluate(digits.dev.images.astype("float32"),
                                 keras.utils.to_categorical(digits.dev.labels, digits.num_classes),
                                 verbose=0, return_dict=True)["accuracy"]
    assert kept == pytest.approx(rec.metrics[-1]["dev_accuracy"], abs=1e-6)
    plain = Recorder()
    train(config.replace(optimizer={"ema_momentum": 0.0}), digits, plain, measure_latency=False)
    assert plain.metrics[-1]["dev_accuracy"] > 0.9

    # A run stopped and resumed keeps measuring the average, not the raw weights it trained.
    stopped = Checkpointed(stop_after=2)
    assert train(config, digits, stopped, measure_latency=False,
                 checkpoints=str(tmp_path / "b")).stop_reason == STOPPED
    resumed = Recorder()
    train(config, digits, resumed, measure_latency=False, resume_from=stopped.saved[2])
    assert resumed.metrics[-1]["dev_accuracy"] < 0.6


def test_random_erasing_changes_every_training_image_at_probability_1_and_none_at_inference():
    images = np.full((16, 28, 28, 3), 200.0, dtype="float32")
    layers = augmentation_layers(AugmentConfig(policy="flip_crop", random_erasing=1.0), seed=3)
    assert isinstance(layers[-1], keras.layers.RandomErasing)

    def through(training):
        x = images
        for layer in layers:
            x = layer(x, training=training)
        return keras.ops.convert_to_numpy(x)

    erased = through(True)
    assert all((erased[i] != 200.0).any() for i in range(len(images)))  # a flip or a shift of a flat image changes nothing
    np.testing.assert_array_equal(through(False), images)
    assert augmentation_layers(AugmentConfig(policy="flip_crop"), seed=3)[-1].__class__ is not keras.layers.RandomErasing


def test_the_knobs_round_trip_through_yaml():
    config = SMALL.replace(training={"label_smoothing": 0.1}, augment={"random_erasing": 0.5},
                           optimizer={"lr_decay": "cosine", "warmup_fraction": 0.05, "ema_momentum": 0.99})
    assert TrainConfig.from_yaml(config.to_yaml()) == config
