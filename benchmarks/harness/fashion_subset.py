"""Benchmark 1's task: real Fashion-MNIST (Debian's dataset-fashion-mnist), offline, 28x28.

A stratified subset of the official training split trains; train-dev (2%) and dev (5%, 3,000
images) are held out of that same split, disjoint from the subset; the official 10,000-image
test split measures each contender's pick. All through trainers.data.load_splits, as a study
with `--dataset fashion_mnist` gets it, so nothing here changes trainers/.
"""

from __future__ import annotations

from trainers.config import DataConfig

TRAIN_DEV_FRACTION = 0.02
DEV_FRACTION = 0.05


def data_config(train_images: int) -> DataConfig:
    return DataConfig(dataset="fashion_mnist", train_dev_fraction=TRAIN_DEV_FRACTION, dev_fraction=DEV_FRACTION,
                      max_train_examples=train_images, seed=0)


def load(train_images: int):
    from trainers.data import load_splits

    return load_splits(data_config(train_images))


def describe(train_images: int) -> str:
    return (f"Fashion-MNIST 28x28: {train_images:,} training images (a stratified subset of the official 60,000), "
            f"dev 3,000 and train-dev 1,200 held out of the same split, test: the official 10,000")
