"""Proven recipes first: a short portfolio of known-good configurations per built-in space.

A new study runs its space's portfolio before anything is sampled (`launch --no-portfolio` skips
it; the entries count against `--trials`). Each entry is a published small-compute recipe written
in the space's own dimensions, with its source; where the source leaves a knob open, the comment
says what was filled in. TPE then starts from trials that are good on most image tasks instead of
from random draws alone, and a study whose budget buys few trials still tries them.

Pure: plain data and a function fitting it into a (possibly narrowed) space.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from spaces._base import Categorical, Dimension, Space


@dataclass(frozen=True)
class Recipe:
    name: str
    source: str
    params: Mapping[str, Any] = field(default_factory=dict)


# The small CNN from scratch (space `small`, and the small-CNN branch of `default`).
SMALL_CNN_RECIPES = (
    # keras.io/examples/vision/mnist_convnet ("Simple MNIST convnet"): Conv32 -> pool -> Conv64 ->
    # pool -> dropout 0.5 -> softmax; Adam at Keras's default 1e-3, batch 128, no augmentation.
    Recipe("keras-mnist-convnet", "keras.io/examples/vision/mnist_convnet", {
        "depth": 2, "width": 32, "batch_norm": "none", "dropout": 0.5, "hidden_layer": False,
        "augment_policy": "none", "optimizer": "adam", "learning_rate": 1e-3, "lr_decay": "none", "batch_size": 128}),
    # The Fashion-MNIST benchmark table (its README, also in Debian's dataset-fashion-mnist), row
    # "2 Conv+pooling+BN, no augmentation: 0.934": the row gives the architecture only; a dense 128
    # with dropout 0.25, Adam 1e-3 and batch 64 are filled in (common Keras choices).
    Recipe("fashion-mnist-2conv-bn", "github.com/zalandoresearch/fashion-mnist#benchmark", {
        "depth": 2, "width": 32, "batch_norm": "before", "dropout": 0.25, "hidden_layer": True, "head_units": 128,
        "augment_policy": "none", "optimizer": "adam", "learning_rate": 1e-3, "lr_decay": "none", "batch_size": 64}),
    # ResNet's CIFAR-10 recipe (He et al. 2016, sec. 4.2): SGD, momentum 0.9 (r = -1), BN before each
    # ReLU, flips and 4-px pad-and-crop (our flip_crop), no dropout; lr 0.1 at batch 256 scaled
    # linearly to batch 128 (Goyal et al. 2017), decayed by a cosine (Loshchilov & Hutter 2017).
    Recipe("resnet-cifar-sgd-cosine", "arxiv.org/abs/1512.03385; arxiv.org/abs/1706.02677", {
        "depth": 2, "width": 32, "batch_norm": "before", "dropout": 0.0, "hidden_layer": False,
        "augment_policy": "flip_crop", "augment_magnitude": 0.1, "optimizer": "sgd", "learning_rate": 0.05,
        "momentum_r": -1.0,
        "lr_decay": "cosine", "batch_size": 128}),
    # The same table, row "2 Conv+2 FC, random horizontal flips: 0.939": our flip_crop adds a
    # translation of up to 1/8; a dense 256 with dropout 0.5, Adam 1e-3 and batch 128 are filled in.
    Recipe("fashion-mnist-2conv-2fc-flip", "github.com/zalandoresearch/fashion-mnist#benchmark", {
        "depth": 2, "width": 32, "batch_norm": "none", "dropout": 0.5, "hidden_layer": True, "head_units": 256,
        "augment_policy": "flip_crop", "augment_magnitude": 0.1, "optimizer": "adam", "learning_rate": 1e-3,
        "lr_decay": "none", "batch_size": 128}),
)

# A pretrained backbone, its head trained frozen first, then its top layers fine-tuned.
TRANSFER_RECIPES = (
    # tensorflow.org/tutorials/images/transfer_learning: MobileNetV2, dropout 0.2, flips, 10 frozen
    # epochs then 10 fine-tuning (frozen_epochs 0.5) from layer 100 of 154 (the top 35%) at a tenth
    # of the learning rate; RMSprop 1e-4 there, Adam 1e-4 here (our optimizers); batch 32.
    Recipe("tf-transfer-mobilenet-v2", "tensorflow.org/tutorials/images/transfer_learning", {
        "backbone": "mobilenet_v2", "frozen_epochs": 0.5, "fine_tune_fraction": 0.35, "fine_tune_lr_ratio": 0.1,
        "batch_norm": "none", "dropout": 0.2, "hidden_layer": False, "augment_policy": "flip_crop",
        "augment_magnitude": 0.1, "optimizer": "adam", "learning_rate": 1e-4, "lr_decay": "none", "batch_size": 32}),
    # keras.io/examples/vision/image_classification_efficientnet_fine_tuning: EfficientNetB0 frozen,
    # dropout 0.2, Adam 1e-2 for the head, then the top 20 layers (of 238: 8%) at 1e-5, a ratio of
    # 1e-3 that the space's lowest (0.01) stands for; flips and small translations; batch 64.
    Recipe("keras-efficientnet-b0-fine-tune", "keras.io/examples/vision/image_classification_efficientnet_fine_tuning", {
        "backbone": "efficientnet_b0", "frozen_epochs": 0.5, "fine_tune_fraction": 0.08, "fine_tune_lr_ratio": 0.01,
        "batch_norm": "none", "dropout": 0.2, "hidden_layer": False, "augment_policy": "flip_crop",
        "augment_magnitude": 0.1, "optimizer": "adam", "learning_rate": 1e-2, "lr_decay": "none", "batch_size": 64}),
)

PORTFOLIOS: dict[str, tuple[Recipe, ...]] = {
    "small": tuple(Recipe(r.name, r.source, {"backbone": "small_cnn", **r.params}) for r in SMALL_CNN_RECIPES),
    # Transfer first: a user of the default space usually wants it; then the small CNN from scratch.
    "default": (TRANSFER_RECIPES[0], *(Recipe(r.name, r.source, {"backbone": "small_cnn", **r.params})
                                       for r in SMALL_CNN_RECIPES[:2]),
                TRANSFER_RECIPES[1], *(Recipe(r.name, r.source, {"backbone": "small_cnn", **r.params})
                                       for r in SMALL_CNN_RECIPES[2:])),
}


def fit(value: Any, dimension: Dimension) -> Any:
    """`value` inside the dimension: a number clamped into its range; a choice kept, or None if excluded."""
    if isinstance(dimension, Categorical):
        return value if value in dimension.choices else None
    return dimension.kind(min(max(value, dimension.low), dimension.high))


def portfolio(space: Space) -> list[tuple[Recipe, dict[str, Any]]]:
    """The space's recipes with their parameters fitted into its (narrowed) ranges.

    A recipe whose choice the narrowing excludes (another backbone, another optimizer) is left out;
    numbers outside a narrowed range are moved to its nearest end; two recipes that fit to the same
    parameters are run once. A space with no portfolio (a user's module) gets none.
    """
    out: list[tuple[Recipe, dict[str, Any]]] = []
    for recipe in PORTFOLIOS.get(space.name, ()):
        params = {}
        for name, value in recipe.params.items():
            fitted = fit(value, space.dimensions[name]) if name in space.dimensions else None
            if fitted is None:
                break
            params[name] = fitted
        else:
            if all(params != p for _, p in out):
                out.append((recipe, params))
    return out
