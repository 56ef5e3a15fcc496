"""A harder digits, offline and benchmark-local: configurations differ by tens of points.

At full size scikit-learn's digits is too easy (most reasonable configurations reach 97-99% dev
accuracy in a few epochs), so a search has nothing to find. This variant, built from the same
1,797 images with trainers.data's own four-way split, makes it hard in three documented ways:

- fewer training images: 300 (`DataConfig.max_train_examples`);
- smaller inputs: 6x6 instead of 8x8 (`DataConfig.image_size`; the small CNN resizes back up to
  its minimum of 8, so the detail lost stays lost);
- noise: 30% of the training-distribution labels (train and train-dev) redrawn uniformly at
  random, and Gaussian pixel noise (sigma 20 on 0..255) on every split. Dev and test keep their
  true labels, so dev accuracy still measures what we want.

dev and test are 30% of the images each (539 images: one image is 0.19 points), so a 0.5-point
difference is about three images. Nothing here changes trainers/: the Splits are handed to
`trainers.train.train(config, data, reporter)` directly.
"""

from __future__ import annotations

import numpy as np

from trainers.config import DataConfig

TRAIN_IMAGES = 300
IMAGE_SIZE = 6
LABEL_NOISE = 0.30
PIXEL_NOISE = 20.0
NOISE_SEED = 1234

DATA_CONFIG = DataConfig(
    dataset="digits",
    image_size=IMAGE_SIZE,
    train_dev_fraction=0.10,
    dev_fraction=0.30,
    test_fraction=0.30,
    max_train_examples=TRAIN_IMAGES,
    seed=0,
)

DESCRIPTION = (
    f"scikit-learn digits, {TRAIN_IMAGES} training images, {IMAGE_SIZE}x{IMAGE_SIZE} inputs, "
    f"{LABEL_NOISE:.0%} of training labels redrawn at random, pixel noise sigma {PIXEL_NOISE:g}/255; "
    "dev and test 539 clean-labelled images each"
)


def load():
    """The hard variant as trainers.data.Splits (the same every call: the noise is seeded)."""
    from trainers.data import Split, Splits, load_splits

    clean = load_splits(DATA_CONFIG)
    rng = np.random.default_rng(NOISE_SEED)

    def corrupt(split, relabel: bool) -> Split:
        images = np.clip(split.images + rng.normal(0.0, PIXEL_NOISE, split.images.shape), 0.0, 255.0)
        labels = split.labels.copy()
        if relabel:
            flip = rng.random(len(labels)) < LABEL_NOISE
            labels[flip] = rng.integers(0, clean.num_classes, int(flip.sum()))
        return Split(images.astype("float32"), labels.astype("int32"))

    return Splits(
        train=corrupt(clean.train, True),
        train_dev=corrupt(clean.train_dev, True),
        dev=corrupt(clean.dev, False),
        test=corrupt(clean.test, False),
        num_classes=clean.num_classes,
        class_names=clean.class_names,
        name="digits_hard",
    )
