"""Datasets, split four ways: train, train-dev, dev and test; and the tf.data pipeline over a split.

train-dev is held out from the training distribution; dev and test come from the target
distribution. A dataset with an official test split (keras.datasets, most of TFDS) keeps it as
`test`, so results compare with its published benchmarks; train-dev and dev are then carved from
its training split, stratified. Without one (digits, a folder), all four are disjoint,
stratified, seeded draws. With `dir:PATH` plus `data.target_dir`, train/train-dev come from PATH
and dev/test from the target folder, so the data mismatch between them can be measured.

Pixels stay uint8 in [0, 255] until the model, whose input casts them (on the accelerator, when
there is one). Folders stream through a decoded per-host cache (`trainers.data.streamed`).
"""

from __future__ import annotations

import gzip
import logging
import os
import struct
from typing import Callable

import numpy as np

from trainers.config import ConfigError, DataConfig
from trainers.data.images import IMAGE_SUFFIXES, index_folder
from trainers.data.splits import SPLITS, Split, Splits, min_per_class, stratified_split

__all__ = ["IMAGE_SUFFIXES", "KERAS_DATASETS", "SPLITS", "Split", "Splits", "check_dataset_name", "check_folder",
           "dataset_names", "load_splits", "pipeline", "preload"]

log = logging.getLogger(__name__)

KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
# Debian's dataset-fashion-mnist holds the four files keras.datasets.fashion_mnist downloads.
LOCAL_COPIES = {"fashion_mnist": "/usr/share/datasets/fashion-mnist"}
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
CLASS_NAMES = {
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
}
TENSOR_COPY_MB = 64  # a split in RAM up to this size is also copied into one tensor (see pipeline)
SHUFFLE_BUFFER_MB = 128  # a streamed training split is shuffled within this many MiB (plus its shards' order)
OFFICIAL_TEST = "the dataset's official test split"



def dataset_names() -> list[str]:
    return ["digits", *KERAS_DATASETS, "tfds:NAME", "dir:PATH"]


def check_dataset_name(name: str) -> None:
    """Raise ConfigError for a dataset name no loader knows (cheap: loads nothing)."""
    if name == "digits" or name in KERAS_DATASETS:
        return
    if name.startswith("tfds:") and len(name) > 5:
        return
    if name.startswith("dir:") and len(name) > 4:
        check_folder(name[4:])
        return
    import difflib

    hint = difflib.get_close_matches(name, ["digits", *KERAS_DATASETS], n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ConfigError(f"unknown dataset {name!r}{suggestion}; choose one of: {', '.join(dataset_names())}")


def check_folder(path: str, sample: int = 8, fractions: list[float] | None = None) -> None:
    """Cheap checks of a class-folder dataset before a study is launched on it.

    Two or more class subfolders, each with enough image files for the four splits (a class with
    too few is named); a few files of each class are decoded, so a folder of corrupt or non-image
    files is refused now rather than in every trial.
    """
    from PIL import Image

    index = index_folder(path)
    readable = []
    for label, cls in enumerate(index.classes):
        files = [p for p, k in zip(index.paths, index.labels) if k == label][:sample]
        for file in files:
            try:
                with Image.open(file) as img:
                    img.verify()
                readable.append(cls)
                break
            except Exception:  # PIL raises many kinds on a bad file
                continue
    if not readable:
        raise ConfigError(f"dataset folder {path!r} holds no readable images")
    if len(readable) < 2:
        raise ConfigError(f"dataset folder {path!r} has images of one class only ({readable[0]}); need two or more")
    defaults = DataConfig()
    fractions = fractions or [defaults.train_dev_fraction, defaults.dev_fraction, defaults.test_fraction]
    need = min_per_class(fractions)
    for cls, count in index.counts().items():
        if count < need:
            raise ConfigError(
                f"class {cls!r} of dataset folder {path!r} has {count} image file{'s' if count != 1 else ''}; "
                f"each class needs at least {need} for the train, train-dev, dev and test splits"
            )


# Splits loaded ahead of their trial by `preload`, for this process's next load of the same config.
_PRELOADED: dict[DataConfig, Splits] = {}


def preload(config: DataConfig) -> Splits:
    """Load `config`'s splits now and keep them for this process's next `load_splits(config)`.

    A worker's standby trial process calls it with the data of the trial running beside it, which
    the next trial almost always shares (the data are a study's, not a sampled parameter), so that
    trial starts with its data loaded. Only one set is kept, and it is handed out once.
    """
    splits = load_splits(config)
    _PRELOADED.clear()
    _PRELOADED[config] = splits
    return splits


def load_splits(config: DataConfig) -> Splits:
    """Load `config.dataset` and split it four ways, disjoint and seeded."""
    kept = _PRELOADED.pop(config, None)
    _PRELOADED.clear()
    if kept is not None:
        return kept
    check_dataset_name(config.dataset)
    name = config.dataset
    if config.target_dir and not name.startswith("dir:"):
        raise ConfigError("data.target_dir needs a dir:PATH dataset as the training distribution")
    if name.startswith("dir:"):
        from trainers.data.streamed import folder_splits

        splits, _ = folder_splits(config)
    else:
        splits = _array_splits(config)
    for split_name in SPLITS:
        if len(getattr(splits, split_name)) == 0 and split_name != "train_dev":
            raise ConfigError(f"the {split_name} split of {name} is empty; the dataset is too small")
    return splits


# ---- datasets held as arrays: digits, keras.datasets, TFDS -----------------------------------
def _array_splits(config: DataConfig) -> Splits:
    name = config.dataset
    notes: dict[str, str] = {}
    if name == "digits":
        (images, labels), test, classes = _digits(), None, [str(c) for c in range(10)]
    elif name in KERAS_DATASETS:
        (images, labels), test, classes, notes["source"] = _keras_dataset(name)
    else:
        (images, labels), test, classes = _tfds(name[5:], config.image_size or 128, config.resize)
    if config.image_size and images.shape[1:3] != (config.image_size, config.image_size):
        images = _resize(images, config.image_size, config.resize)
        if test is not None:
            test = (_resize(test[0], config.image_size, config.resize), test[1])
    if test is not None:
        # The official test split stays whole; train-dev and dev are drawn from the training split.
        train, train_dev, dev = stratified_split(labels, [config.train_dev_fraction, config.dev_fraction], config.seed)
        parts = {"train": Split(images[train], labels[train]), "train_dev": Split(images[train_dev], labels[train_dev]),
                 "dev": Split(images[dev], labels[dev]), "test": Split(*test)}
        notes["test"] = OFFICIAL_TEST
    else:
        fractions = [config.train_dev_fraction, config.dev_fraction, config.test_fraction]
        idx = stratified_split(labels, fractions, config.seed)
        parts = {s: Split(images[i], labels[i]) for s, i in zip(SPLITS, idx)}
    if config.max_train_examples is not None:
        parts["train"] = parts["train"].head(config.max_train_examples)
    return Splits(**parts, num_classes=len(classes), class_names=list(classes), name=name, notes=notes)


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 8x8 images with values 0..16: scale to 0..255 so every dataset has the same value range.
    images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return images, digits.target.astype(np.int32)


def _keras_dataset(name: str):
    """((train images, labels), (test images, labels), class names, where they came from)."""
    local = LOCAL_COPIES.get(name)
    if local and all(os.path.exists(os.path.join(local, f)) for f in IDX_FILES):
        x_train, y_train, x_test, y_test = (read_idx(os.path.join(local, f)) for f in IDX_FILES)
        source = local
    else:
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
        except Exception as exc:  # no network, proxy, corrupt cache
            hint = f" (or install Debian's dataset-{name.replace('_', '-')} package)" if local else ""
            raise RuntimeError(f"cannot download {name} with keras.datasets{hint}: {exc}") from exc
        source = "keras.datasets"
    x_train, x_test = (x if x.ndim == 4 else x[..., None] for x in (x_train, x_test))
    y_train, y_test = (np.asarray(y).reshape(-1).astype(np.int32) for y in (y_train, y_test))
    classes = CLASS_NAMES.get(name) or [str(c) for c in range(int(y_train.max()) + 1)]
    return (x_train.astype(np.uint8), y_train), (x_test.astype(np.uint8), y_test), classes, source


def read_idx(path: str) -> np.ndarray:
    """An IDX file (the MNIST family's format), gzipped: a magic number, the dimensions, then uint8 data."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise RuntimeError(f"{path} is not a uint8 IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _tfds(name: str, size: int, mode: str):
    """((train images, labels), official test or None, class names), resized to `size` as uint8."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ConfigError(
            f"dataset tfds:{name} needs tensorflow-datasets: pip install 'hpsearch[tfds]'"
        ) from None
    try:
        parts, info = tfds.load(name, split=None, as_supervised=True, with_info=True)
    except Exception as exc:
        raise RuntimeError(f"cannot load tfds:{name}: {exc}") from exc

    def arrays(ds):
        images, labels = [], []
        for x, y in ds.map(lambda x, y: (_resize_tensor(x, size, mode), y)).as_numpy_iterator():
            images.append(x)
            labels.append(y)
        return np.stack(images), np.array(labels, dtype=np.int32)

    train_names = [s for s in parts if s != "test"]
    train_ds = parts[train_names[0]]
    for other in train_names[1:]:
        train_ds = train_ds.concatenate(parts[other])
    label_info = info.features["label"]
    classes = [str(c) for c in (getattr(label_info, "names", None) or range(label_info.num_classes))]
    return arrays(train_ds), (arrays(parts["test"]) if "test" in parts else None), classes


def _resize_tensor(x, size: int, mode: str):
    """One image or a batch to (size, size) as uint8: stretch, crop (centre square) or pad (letterbox)."""
    import tensorflow as tf

    if mode == "crop":
        shape = tf.shape(x)
        h, w = shape[-3], shape[-2]
        side = tf.minimum(h, w)
        x = tf.image.crop_to_bounding_box(x, (h - side) // 2, (w - side) // 2, side, side)
    if mode == "pad":
        y = tf.image.resize_with_pad(x, size, size)
    else:
        y = tf.image.resize(x, (size, size))
    return tf.cast(tf.clip_by_value(tf.round(y), 0, 255), tf.uint8)


def _resize(images: np.ndarray, size: int, mode: str, chunk: int = 1024) -> np.ndarray:
    """Arrays in RAM resized in chunks (never a float32 copy of the whole set)."""
    out = np.empty((len(images), size, size, images.shape[-1]), dtype=np.uint8)
    for start in range(0, len(images), chunk):
        out[start : start + chunk] = _resize_tensor(images[start : start + chunk], size, mode).numpy()
    return out


# ---- the input pipeline -------------------------------------------------------------------
def pipeline(
    split: Split,
    num_classes: int,
    batch_size: int,
    *,
    training: bool = False,
    seed: int = 0,
    batch_transform: Callable | None = None,
    limit: int | None = None,
):
    """A tf.data pipeline over one split: (shuffle), batch, one-hot, (transform), prefetch.

    A split in RAM is gathered batch by batch from its own array (no tensor, cache or
    shuffle-buffer copies of its pixels); a streamed one is read from the cache with its shards in a new order each
    epoch and a buffer of SHUFFLE_BUFFER_MB. Pixels stay in the split's dtype (uint8).
    Labels are one-hot so that MixUp/CutMix (the `batch_transform`) can mix them.
    """
    import tensorflow as tf

    from trainers.data import cache as datacache

    n = len(split) if limit is None else min(limit, len(split))
    if split.in_memory:
        images, labels = split.images, tf.constant(split.labels[:n])
        order = tf.data.Dataset.range(n)
        if training:
            order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)

        if images.nbytes <= TENSOR_COPY_MB * 2**20:
            # Small splits: one tensor copy is cheap, and an in-graph gather keeps Python (and its
            # lock) out of every step, which shows when steps take milliseconds (28 px images).
            pixels = tf.convert_to_tensor(images)

            def take(index):
                return tf.gather(pixels, index)
        else:

            def take(index):
                # numpy_function reads the split's own array: tf.convert_to_tensor would copy it whole.
                x = tf.numpy_function(lambda i: images[i], [index], tf.as_dtype(images.dtype), stateful=False)
                x.set_shape((None, *images.shape[1:]))
                return x

        def gather(index):
            return take(index), tf.one_hot(tf.gather(labels, index), num_classes)

        ds = order.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = datacache.stream_split(split.source, limit=n, shuffle_shards=training, seed=seed)
        # The filter on element numbers hides the length; Keras needs it to count steps per epoch.
        ds = ds.apply(tf.data.experimental.assert_cardinality(n))
        if training:
            buffer = max(64, SHUFFLE_BUFFER_MB * 2**20 // int(np.prod(split.image_shape)))
            ds = ds.shuffle(min(n, buffer), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=tf.data.AUTOTUNE)
    if training and batch_transform is not None:

        def mix(x, y):
            out = batch_transform({"images": tf.cast(x, tf.float32), "labels": y}, training=True)
            return out["images"], out["labels"]

        # One batch at a time: the layer draws from a seed state that parallel calls would race
        # for, and the same seed gave a different run each time. Prefetching still overlaps it with training.
        ds = ds.map(mix)
    return ds.prefetch(tf.data.AUTOTUNE)


def prepare(config: DataConfig) -> dict:
    """Load a dataset once so that later trials find it ready: for a folder, build its decoded cache.

    Returns what a person wants to know: sizes, where the cache is, whether this call built it,
    and the unreadable files left out.
    """
    check_dataset_name(config.dataset)
    if config.dataset.startswith("dir:"):
        from trainers.data.streamed import folder_splits

        splits, built = folder_splits(config)
        return {"dataset": config.dataset, "sizes": splits.sizes(), "image_shape": list(splits.image_shape),
                "cache": splits.notes.get("cache"), "built": built, "skipped": splits.skipped}
    splits = load_splits(config)
    return {"dataset": config.dataset, "sizes": splits.sizes(), "image_shape": list(splits.image_shape),
            "cache": None, "built": False, "skipped": [], "source": splits.notes.get("source")}
