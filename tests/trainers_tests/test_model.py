"""Batch-norm placements and augmentation policies build and do what they say."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from trainers.model.augment import augmentation_layers, label_mixing_layer
from trainers.config import AUGMENT_POLICIES, AugmentConfig, TrainConfig
from trainers.model import build_model


def _layer_kinds(model):
    return [type(l).__name__ for l in model.layers]


@pytest.mark.parametrize("placement", ["none", "before", "after"])
def test_batch_norm_placement_in_every_conv_block(placement):
    config = TrainConfig().replace(model={"backbone": "small_cnn", "depth": 3, "batch_norm": placement})
    model = build_model(config, (16, 16, 1), 10).model
    kinds = _layer_kinds(model)
    convs = [i for i, k in enumerate(kinds) if k == "Conv2D"]
    assert len(convs) == 6  # two per block
    bns = kinds.count("BatchNormalization")
    if placement == "none":
        assert bns == 0
        return
    assert bns == 6
    for i in convs:
        # before: conv -> BN -> ReLU ; after: conv -> ReLU -> BN
        expected = ["BatchNormalization", "ReLU"] if placement == "before" else ["ReLU", "BatchNormalization"]
        assert kinds[i + 1 : i + 3] == expected
        # A BN right after the conv makes the conv's bias redundant.
        assert model.layers[i].use_bias == (placement != "before")


def test_batch_norm_goes_in_the_head_of_a_pretrained_backbone():
    config = TrainConfig().replace(model={"backbone": "mobilenet_v2", "weights": "none", "batch_norm": "after", "head_units": 32})
    model = build_model(config, (32, 32, 3), 4).model
    kinds = _layer_kinds(model)
    i = kinds.index("Dense")
    assert kinds[i + 1 : i + 3] == ["ReLU", "BatchNormalization"]


IMAGE_POLICIES = [p for p in AUGMENT_POLICIES if p not in ("none", "mixup", "cutmix")]


@pytest.mark.parametrize("policy", IMAGE_POLICIES)
def test_augmentation_changes_images_in_training_and_is_identity_at_inference(policy):
    layers = augmentation_layers(AugmentConfig(policy=policy, magnitude=0.5), seed=1)
    assert layers, policy
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    changed = x
    for layer in layers:
        changed = layer(changed, training=True)
    same = x
    for layer in layers:
        same = layer(same, training=False)
    changed, same = np.asarray(changed), np.asarray(same)
    assert np.allclose(same, x), f"{policy} must be the identity at inference"
    assert not np.allclose(changed, x), f"{policy} must change images in training"
    # The value range is respected: our pixels are in [0, 255], not [0, 1].
    assert changed.min() >= -1e-3 and changed.max() <= 255.0 + 1e-3 and changed.max() > 2.0


def test_augmentation_runs_inside_the_model():
    config = TrainConfig().replace(augment={"policy": "geometric", "magnitude": 0.3})
    model = build_model(config, (16, 16, 3), 10).model
    kinds = _layer_kinds(model)
    assert {"RandomRotation", "RandomZoom", "RandomTranslation"} <= set(kinds)
    assert kinds.index("RandomRotation") < kinds.index("Conv2D")


@pytest.mark.parametrize("policy", ["mixup", "cutmix"])
def test_label_mixing_mixes_images_and_labels(policy):
    layer = label_mixing_layer(AugmentConfig(policy=policy, magnitude=0.5), seed=3)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (8, 16, 16, 3)).astype("float32")
    labels = keras.utils.to_categorical(np.arange(8) % 4, 4)
    out = layer({"images": images, "labels": labels}, training=True)
    mixed = np.asarray(out["labels"])
    assert np.allclose(mixed.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(mixed, labels), "labels must be mixed"
    assert label_mixing_layer(AugmentConfig(policy="flip_crop"), seed=0) is None
