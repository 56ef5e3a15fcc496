"""Augmentation policies from Keras 3 preprocessing layers.

Image-only policies are a block inside the model, so they run on the accelerator and only in
training: Keras random layers are the identity when `training` is false. MixUp and CutMix also
mix the labels, so they run on batches in the training input pipeline instead.
Every layer is told the value range of our tensors (RGB in [0, 255]).
"""

from __future__ import annotations

import keras

from trainers.config import AugmentConfig

VALUE_RANGE = (0.0, 255.0)
LABEL_MIXING = ("mixup", "cutmix")


def augmentation_layers(config: AugmentConfig, seed: int) -> list[keras.layers.Layer]:
    """The in-model layers for `config.policy` (empty for none, mixup and cutmix), then random erasing if asked."""
    layers = _policy_layers(config, seed)
    if config.random_erasing:
        # A (p, p) factor: Keras draws each image's probability from the range, and a single float
        # would mean "up to p". Patches of 2-33% of the image, as in Zhong et al. (2017).
        p = config.random_erasing
        layers.append(keras.layers.RandomErasing(factor=(p, p), scale=(0.02, 0.33), value_range=VALUE_RANGE,
                                                 seed=seed + 7))
    return layers


def _policy_layers(config: AugmentConfig, seed: int) -> list[keras.layers.Layer]:
    m = config.magnitude
    policy = config.policy
    if policy == "flip_crop":
        # Pad-and-crop as a translation by up to 1/8 of the side, plus horizontal flips.
        return [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed + 1),
        ]
    if policy == "geometric":
        return [
            keras.layers.RandomRotation(0.5 * m, fill_mode="reflect", seed=seed),
            keras.layers.RandomZoom((-m, m), fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomTranslation(m, m, fill_mode="reflect", seed=seed + 2),
        ]
    if policy == "color":
        return [
            keras.layers.RandomColorJitter(
                value_range=VALUE_RANGE,
                brightness_factor=m,
                contrast_factor=m,
                saturation_factor=(0.5 - 0.5 * m, 0.5 + 0.5 * m),
                hue_factor=0.5 * m,
                seed=seed,
            )
        ]
    if policy == "occlusion":
        return [keras.layers.RandomErasing(factor=1.0, scale=(0.02, max(0.03, 0.4 * m)), value_range=VALUE_RANGE, seed=seed)]
    if policy == "blur":
        return [keras.layers.RandomGaussianBlur(factor=1.0, sigma=(0.1, 0.1 + 2.0 * m), value_range=VALUE_RANGE, seed=seed)]
    if policy == "randaugment":
        return [keras.layers.RandAugment(value_range=VALUE_RANGE, num_ops=2, factor=m, seed=seed)]
    return []


def label_mixing_layer(config: AugmentConfig, seed: int) -> keras.layers.Layer | None:
    """MixUp or CutMix for batches of {"images", "labels" (one-hot)}; None for other policies."""
    # A magnitude of 0 would draw alpha 0 (a degenerate Beta); keep a floor.
    alpha = max(0.05, config.magnitude)
    if config.policy == "mixup":
        return keras.layers.MixUp(alpha=alpha, seed=seed)
    if config.policy == "cutmix":
        return keras.layers.CutMix(factor=alpha, seed=seed)
    return None
