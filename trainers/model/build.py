"""One function from a configuration to an uncompiled Keras model.

Input pixels are in [0, 255] with the dataset's own channels. The pipelines feed them as uint8
(4x less to move than float32); the float32 input casts them inside the model, so on a GPU the
cast runs on the device, and a saved model takes 0-255 images of any dtype. The graph is:
cast -> grey->RGB (if needed) -> augmentation (training only) -> resize to the backbone's input ->
pixel preprocessing -> backbone (small CNN, or a frozen-BN pretrained network) -> head.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from trainers.model.augment import augmentation_layers
from trainers.model.backbones import (
    APPLICATIONS,
    build_application,
    head,
    min_input_size,
    pixel_preprocessing,
    small_cnn_blocks,
)
from trainers.config import TrainConfig


@dataclass
class BuiltModel:
    model: keras.Model
    backbone: keras.Model | None  # the pretrained network, to freeze and unfreeze; None for the small CNN
    input_size: int


def backbone_input_size(config: TrainConfig, image_side: int) -> int:
    """The side the backbone sees: as configured, else the image side raised to the backbone's minimum."""
    wanted = config.model.input_size or image_side
    return max(wanted, min_input_size(config.model.backbone))


def build_model(config: TrainConfig, image_shape: tuple[int, int, int], num_classes: int) -> BuiltModel:
    model_cfg = config.model
    inputs = keras.Input(shape=image_shape, name="image")
    x = inputs
    if image_shape[-1] == 1:
        # Every backbone and colour augmentation expects RGB; repeating the grey channel is exact.
        x = keras.layers.Concatenate(name="grey_to_rgb")([x, x, x])
    for layer in augmentation_layers(config.augment, config.training.seed):
        x = layer(x)
    side = backbone_input_size(config, image_shape[0])
    if side != image_shape[0] or image_shape[0] != image_shape[1]:
        x = keras.layers.Resizing(side, side, name="resize_to_backbone")(x)
    for layer in pixel_preprocessing(model_cfg.backbone):
        x = layer(x)

    backbone = None
    if model_cfg.backbone == "small_cnn":
        features = small_cnn_blocks(x, model_cfg)
    else:
        backbone = build_application(model_cfg.backbone, model_cfg, side)
        # training=False keeps the backbone's BatchNormalization in inference mode, frozen or
        # fine-tuned: its moving statistics are not wrecked by small, new-domain batches.
        x = backbone(x, training=False)
        features = keras.layers.GlobalAveragePooling2D(name="global_pool")(x)
    outputs = head(features, model_cfg, num_classes)
    model = keras.Model(inputs, outputs, name=f"hpsearch_{model_cfg.backbone}")
    return BuiltModel(model=model, backbone=backbone, input_size=side)


def set_backbone_trainable(built: BuiltModel, fraction: float) -> int:
    """Unfreeze the top `fraction` of the backbone's layers (0 freezes it whole); returns how many.

    BatchNormalization layers stay frozen in every case (see build_model).
    """
    if built.backbone is None:
        return 0
    layers = built.backbone.layers
    count = int(round(fraction * len(layers)))
    built.backbone.trainable = count > 0
    for i, layer in enumerate(layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = (i >= len(layers) - count) and not is_bn
    return count


def known_backbones() -> list[str]:
    return ["small_cnn", *APPLICATIONS]
