"""Backbones: the small CNN trained from scratch and the keras.applications networks.

One table (`APPLICATIONS`) says, for every pretrained backbone, which constructor builds it,
its smallest input side and how it wants its pixels (`preprocess_input` differs by family).
Preprocessing is built from stock Keras layers so that a saved model loads with
`keras.models.load_model` alone, without hpsearch installed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import keras
import numpy as np

from trainers.config import ConfigError, ModelConfig


@dataclass(frozen=True)
class Application:
    constructor: str  # attribute of keras.applications
    min_size: int  # smallest input side the network accepts
    pixels: str  # "caffe" (BGR, mean-subtracted, 0-255), "tf" ([-1, 1]), "torch", "raw" (0-255)


APPLICATIONS: dict[str, Application] = {
    "mobilenet_v2": Application("MobileNetV2", 32, "tf"),
    "resnet50": Application("ResNet50", 32, "caffe"),
    "efficientnet_b0": Application("EfficientNetB0", 32, "raw"),
    "vgg16": Application("VGG16", 32, "caffe"),
    "densenet121": Application("DenseNet121", 32, "torch"),
    "inception_v3": Application("InceptionV3", 75, "tf"),
    "xception": Application("Xception", 71, "tf"),
}

_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def min_input_size(backbone: str) -> int:
    return APPLICATIONS[backbone].min_size if backbone in APPLICATIONS else 8


def pixel_preprocessing(backbone: str) -> list[keras.layers.Layer]:
    """Layers that turn RGB pixels in [0, 255] into what `backbone` was trained on."""
    if backbone == "small_cnn":
        return [keras.layers.Rescaling(1.0 / 255.0, name="scale_0_1")]
    pixels = APPLICATIONS[backbone].pixels
    if pixels == "tf":
        return [keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale_minus1_1")]
    if pixels == "torch":
        return [
            keras.layers.Rescaling(1.0 / 255.0, name="scale_0_1"),
            keras.layers.Normalization(
                mean=list(_TORCH_MEAN), variance=[s * s for s in _TORCH_STD], name="imagenet_normalize"
            ),
        ]
    if pixels == "caffe":
        # RGB -> BGR and mean subtraction, as one fixed 1x1 convolution (a stock, serialisable layer).
        flip = np.zeros((1, 1, 3, 3), dtype="float32")
        for rgb, bgr in ((0, 2), (1, 1), (2, 0)):
            flip[0, 0, rgb, bgr] = 1.0
        layer = keras.layers.Conv2D(3, 1, use_bias=True, trainable=False, name="rgb_to_bgr_centered")
        layer.build((None, None, None, 3))
        layer.set_weights([flip, -np.array(_CAFFE_MEAN_BGR, dtype="float32")])
        return [layer]
    return []  # "raw": the network normalises inside


def build_application(backbone: str, model: ModelConfig, input_size: int) -> keras.Model:
    """The headless pretrained network, with its weights loaded as `model.weights` says."""
    app = APPLICATIONS[backbone]
    weights = model.weights
    local_file = None
    if weights not in ("imagenet", "none"):
        local_file, weights = weights, None
    elif weights == "none":
        weights = None
    constructor = getattr(keras.applications, app.constructor)
    try:
        # Keras's own name: EfficientNet derives its weight file from the model's name, so any other
        # name asks for a file that exists nowhere. Renamed once the weights are in.
        net = constructor(include_top=False, weights=weights, input_shape=(input_size, input_size, 3))
    except Exception as exc:  # a failed download or a corrupt cache: say which backbone and why
        raise RuntimeError(f"cannot load ImageNet weights for {backbone}: {exc}") from exc
    net.name = f"backbone_{backbone}"
    if local_file is not None:
        try:
            with warnings.catch_warnings():  # Keras warns per layer before it raises: the error says it once
                warnings.simplefilter("ignore")
                net.load_weights(local_file, skip_mismatch=False)
        except (OSError, ValueError) as exc:
            # Keras's mismatch message runs over many lines, starting "A total of N objects could not be loaded."
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(" Example error message")[0]
            raise ConfigError(f"model.weights {local_file!r} cannot be loaded into {backbone}: {reason}") from None
    return net


BACKBONE_PREFIX = "backbone_"


def find_backbone(model: keras.Model) -> tuple[str, keras.Model]:
    """The pretrained network inside a built or saved hpsearch model, and its backbone's name.

    Raises ConfigError when the model has none (a small CNN).
    """
    for layer in model.layers:
        name = layer.name[len(BACKBONE_PREFIX):] if layer.name.startswith(BACKBONE_PREFIX) else None
        if name in APPLICATIONS:
            return name, layer
    raise ConfigError("the model has no keras.applications backbone (a small CNN trained from scratch)")


def check_weights_file(backbone: str, path: str) -> None:
    """Raise ConfigError, in one line, unless `path` loads into `backbone` (built headless, with no weights)."""
    build_application(backbone, ModelConfig(backbone=backbone, weights=path), APPLICATIONS[backbone].min_size)


def small_cnn_blocks(x, model: ModelConfig):
    """`depth` conv blocks (conv, BN, ReLU around it as placed, conv, pool), widths doubling."""
    for block in range(model.depth):
        filters = model.width * (2**block)
        for conv in range(2):
            name = f"block{block + 1}_conv{conv + 1}"
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=model.batch_norm != "before", name=name
            )(x)
            x = _activation(x, model.batch_norm, name)
        # Downsample while the map is bigger than 2x2: the digits images are only 8x8.
        if x.shape[1] is not None and x.shape[1] >= 4:
            x = keras.layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
    return keras.layers.GlobalAveragePooling2D(name="global_pool")(x)


# Short runs on small data take few steps: the default momentum (0.99) leaves the moving
# statistics near their initial values, and inference-mode errors meaningless, for hundreds of steps.
BN_MOMENTUM = 0.9


def _activation(x, batch_norm: str, name: str):
    if batch_norm == "before":
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        return keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    if batch_norm == "after":
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return x


def head(x, model: ModelConfig, num_classes: int):
    """Dense head: optional hidden layer (with BN as placed), dropout, float32 softmax."""
    if model.head_units:
        x = keras.layers.Dense(model.head_units, use_bias=model.batch_norm != "before", name="head_dense")(x)
        x = _activation(x, model.batch_norm, "head_dense")
    elif model.batch_norm != "none" and model.backbone != "small_cnn":
        # No hidden layer: the placement still applies to the pooled features feeding the classifier.
        x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name="head_bn")(x)
    if model.dropout > 0:
        x = keras.layers.Dropout(model.dropout, name="head_dropout")(x)
    # float32 output keeps the softmax and the loss stable under mixed precision.
    return keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="predictions")(x)
