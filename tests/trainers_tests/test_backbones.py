"""Every backbone builds at its smallest input with weights=None and takes one training step."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from trainers.model.backbones import APPLICATIONS, min_input_size, pixel_preprocessing
from trainers.config import TrainConfig
from trainers.model import build_model, set_backbone_trainable

# Pinned so that an accidental change of architecture (head, BN, preprocessing) is noticed.
# 10 classes, RGB input at the smallest side, batch_norm "after" (a BN in the head), dropout 0.2.
PARAMS = {
    "small_cnn": (8, 66_986),
    "mobilenet_v2": (32, 2_275_914),
    "resnet50": (32, 23_616_406),
    "efficientnet_b0": (32, 4_067_501),
    "vgg16": (32, 14_721_878),
    "densenet121": (32, 7_051_850),
    "inception_v3": (75, 21_831_466),
    "xception": (71, 20_890_162),
}


def test_the_table_covers_every_backbone():
    assert set(PARAMS) == {"small_cnn", *APPLICATIONS}
    assert min_input_size("inception_v3") == 75 and min_input_size("xception") == 71


@pytest.mark.slow
@pytest.mark.parametrize("backbone", list(PARAMS))
def test_builds_and_trains_one_step(backbone):
    side, params = PARAMS[backbone]
    config = TrainConfig().replace(model={"backbone": backbone, "weights": "none", "batch_norm": "after", "dropout": 0.2})
    built = build_model(config, (side, side, 3), 10)
    assert built.model.count_params() == params
    # Eagerly: tracing one train step of a large application into a graph took 50-95 s on 2 cores
    # (densenet121), eager 6 s, and what this test checks (the build, the head, a finite loss, a
    # gradient reaching the head) is the same either way. Graph-mode training of an application is
    # what tests/trainers_tests/test_train.py's transfer run and the backbone-transfer study do.
    built.model.compile(optimizer="adam", loss="categorical_crossentropy", run_eagerly=True)
    x = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype("float32")
    y = keras.utils.to_categorical([1, 2], 10)
    before = [w.numpy().copy() for w in built.model.trainable_weights[-2:]]
    loss = built.model.train_on_batch(x, y)
    assert np.isfinite(loss)
    after = [w.numpy() for w in built.model.trainable_weights[-2:]]
    assert any(not np.allclose(a, b) for a, b in zip(after, before)), "a training step must change the head"


def test_small_input_is_resized_up_to_the_backbone_minimum():
    config = TrainConfig().replace(model={"backbone": "xception", "weights": "none"})
    built = build_model(config, (8, 8, 1), 10)
    assert built.input_size == 71
    assert built.model.get_layer("resize_to_backbone").output.shape[1:3] == (71, 71)
    assert built.model.get_layer("grey_to_rgb") is not None


def test_freezing_and_fine_tuning_keep_batch_norm_frozen():
    config = TrainConfig().replace(model={"backbone": "mobilenet_v2", "weights": "none"})
    built = build_model(config, (32, 32, 3), 5)
    assert set_backbone_trainable(built, 0.0) == 0
    assert not built.backbone.trainable_weights
    unfrozen = set_backbone_trainable(built, 0.3)
    layers = built.backbone.layers
    assert unfrozen == round(0.3 * len(layers))
    assert all(not l.trainable for l in layers[: len(layers) - unfrozen])
    assert not any(l.trainable for l in layers if isinstance(l, keras.layers.BatchNormalization))
    assert built.backbone.trainable_weights


def _pixels(backbone, rgb):
    x = np.array(rgb, dtype="float32").reshape(1, 1, 1, 3)
    for layer in pixel_preprocessing(backbone):
        x = layer(x)
    return np.asarray(x).reshape(3)


def test_each_family_gets_its_own_pixel_convention():
    rgb = [255.0, 128.0, 0.0]
    assert np.allclose(_pixels("small_cnn", rgb), [1.0, 128 / 255, 0.0])
    assert np.allclose(_pixels("mobilenet_v2", rgb), [1.0, 128 / 127.5 - 1, -1.0], atol=1e-5)  # [-1, 1]
    # caffe: BGR order, ImageNet mean subtracted, still 0..255 scale
    assert np.allclose(_pixels("resnet50", rgb), [0 - 103.939, 128 - 116.779, 255 - 123.68], atol=1e-3)
    expected_torch = (np.array(rgb) / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    assert np.allclose(_pixels("densenet121", rgb), expected_torch, atol=1e-4)
    assert np.allclose(_pixels("efficientnet_b0", rgb), rgb)  # normalises inside the network
    # The same conventions as keras.applications' own preprocess_input:
    x = np.array(rgb, dtype="float32").reshape(1, 1, 1, 3)
    assert np.allclose(_pixels("vgg16", rgb), keras.applications.vgg16.preprocess_input(x.copy()).reshape(3), atol=1e-3)
    assert np.allclose(_pixels("xception", rgb), keras.applications.xception.preprocess_input(x.copy()).reshape(3))
    assert np.allclose(
        _pixels("densenet121", rgb), keras.applications.densenet.preprocess_input(x.copy()).reshape(3), atol=1e-4
    )


def test_local_weights_file_is_loaded(tmp_path):
    config = TrainConfig().replace(model={"backbone": "mobilenet_v2", "weights": "none"})
    source = build_model(config, (32, 32, 3), 3).backbone
    path = tmp_path / "mnv2.weights.h5"
    source.save_weights(str(path))
    loaded = build_model(config.replace(model={"weights": str(path)}), (32, 32, 3), 3).backbone
    assert np.allclose(loaded.weights[0].numpy(), source.weights[0].numpy())
