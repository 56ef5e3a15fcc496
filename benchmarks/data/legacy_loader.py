"""Today's loader before issue 10, kept only so that benchmarks.data can measure before against after.

A verbatim copy of trainers/data/loading.py at commit 8085498 (float32 arrays, from_tensor_slices + cache(),
every trial decodes everything, keras.datasets train and test pooled and re-split). Nothing
outside benchmarks/ imports it.
"""


from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from trainers.config import ConfigError, DataConfig

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
KERAS_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
SPLITS = ("train", "train_dev", "dev", "test")


@dataclass
class Split:
    images: np.ndarray  # (n, h, w, c) float32 in [0, 255]
    labels: np.ndarray  # (n,) int32

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Splits:
    train: Split
    train_dev: Split
    dev: Split
    test: Split
    num_classes: int
    class_names: list[str]
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])

    def sizes(self) -> dict[str, int]:
        return {s: len(getattr(self, s)) for s in SPLITS}


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


def check_folder(path: str, sample: int = 8) -> None:
    """Cheap checks of a class-folder dataset before a study is launched on it.

    Two or more class subfolders, each with image files; a few files of each class are decoded,
    so a folder of corrupt or non-image files is refused now rather than in every trial.
    """
    from PIL import Image, UnidentifiedImageError

    if not os.path.isdir(path):
        raise ConfigError(f"dataset folder {path!r} does not exist")
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    if not classes:
        raise ConfigError(f"dataset folder {path!r} has no class subfolders")
    readable = []
    for cls in classes:
        folder = os.path.join(path, cls)
        files = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_SUFFIXES))[:sample]
        for file in files:
            try:
                with Image.open(os.path.join(folder, file)) as img:
                    img.verify()
                readable.append(cls)
                break
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                continue
    if not readable:
        raise ConfigError(f"dataset folder {path!r} holds no readable images")
    if len(readable) < 2:
        raise ConfigError(f"dataset folder {path!r} has images of one class only ({readable[0]}); need two or more")


def load_splits(config: DataConfig) -> Splits:
    """Load `config.dataset` and split it four ways, disjoint and seeded."""
    check_dataset_name(config.dataset)
    name = config.dataset
    if name == "digits":
        images, labels, classes = _digits()
    elif name in KERAS_DATASETS:
        images, labels, classes = _keras_dataset(name)
    elif name.startswith("tfds:"):
        images, labels, classes = _tfds(name[5:], config.image_size or 128)
    else:
        images, labels, classes = _folder(name[4:], config.image_size or 128)
    if config.image_size and images.shape[1] != config.image_size:
        images = _resize(images, config.image_size)

    if config.target_dir:
        if not name.startswith("dir:"):
            raise ConfigError("data.target_dir needs a dir:PATH dataset as the training distribution")
        t_images, t_labels, t_classes = _folder(config.target_dir, images.shape[1])
        if t_classes != classes:
            raise ConfigError(
                f"the target folder's classes {t_classes} differ from the training folder's {classes}"
            )
        train_idx, train_dev_idx = _stratified_split(labels, [config.train_dev_fraction], config.seed)
        dev_share = config.dev_fraction / (config.dev_fraction + config.test_fraction)
        dev_idx, test_idx = _stratified_split(t_labels, [dev_share], config.seed + 1)
        parts = {
            "train": Split(images[train_idx], labels[train_idx]),
            "train_dev": Split(images[train_dev_idx], labels[train_dev_idx]),
            "dev": Split(t_images[dev_idx], t_labels[dev_idx]),
            "test": Split(t_images[test_idx], t_labels[test_idx]),
        }
    else:
        fractions = [config.train_dev_fraction, config.dev_fraction, config.test_fraction]
        train_idx, train_dev_idx, dev_idx, test_idx = _stratified_split(labels, fractions, config.seed)
        parts = {
            s: Split(images[i], labels[i])
            for s, i in zip(SPLITS, (train_idx, train_dev_idx, dev_idx, test_idx))
        }
    if config.max_train_examples is not None:
        train = parts["train"]
        parts["train"] = Split(train.images[: config.max_train_examples], train.labels[: config.max_train_examples])
    for split_name, split in parts.items():
        if len(split) == 0 and split_name != "train_dev":
            raise ConfigError(f"the {split_name} split of {name} is empty; the dataset is too small")
    return Splits(**parts, num_classes=len(classes), class_names=list(classes), name=name)


def _stratified_split(labels: np.ndarray, fractions: list[float], seed: int) -> list[np.ndarray]:
    """Indices of a main part plus one part per fraction, drawn per class so each part is balanced."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for k, fraction in enumerate(fractions):
            count = int(round(fraction * len(idx)))
            parts[k + 1].append(idx[start : start + count])
            start += count
        parts[0].append(idx[start:])
    # Shuffle within each part so the classes are interleaved (a fixed sample of train is mixed).
    return [rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts]


def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    # 8x8 images with values 0..16: scale to 0..255 so every dataset has the same value range.
    images = (digits.images.astype("float32") * (255.0 / 16.0))[..., None]
    return images, digits.target.astype("int32"), [str(c) for c in digits.target_names]


def _keras_dataset(name: str):
    import keras

    module = getattr(keras.datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as exc:  # no network, proxy, corrupt cache
        raise RuntimeError(f"cannot download {name} with keras.datasets: {exc}") from exc
    images = np.concatenate([x_train, x_test]).astype("float32")
    if images.ndim == 3:
        images = images[..., None]
    labels = np.concatenate([y_train, y_test]).reshape(-1).astype("int32")
    return images, labels, [str(c) for c in range(int(labels.max()) + 1)]


def _tfds(name: str, size: int):
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ConfigError(
            f"dataset tfds:{name} needs tensorflow-datasets: pip install 'hpsearch[tfds]'"
        ) from None
    import tensorflow as tf

    try:
        ds, info = tfds.load(name, split="all", as_supervised=True, with_info=True)
    except Exception as exc:
        raise RuntimeError(f"cannot load tfds:{name}: {exc}") from exc
    ds = ds.map(lambda x, y: (tf.image.resize(x, (size, size)), y))
    images, labels = [], []
    for x, y in ds.as_numpy_iterator():
        images.append(x)
        labels.append(y)
    label_info = info.features["label"]
    classes = list(getattr(label_info, "names", None) or range(label_info.num_classes))
    return np.stack(images).astype("float32"), np.array(labels, dtype="int32"), [str(c) for c in classes]


def _folder(path: str, size: int):
    """Images in class subfolders; corrupt or unreadable files are skipped with a warning."""
    from PIL import Image, UnidentifiedImageError

    if not os.path.isdir(path):
        raise ConfigError(f"dataset folder {path!r} does not exist")
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    if not classes:
        raise ConfigError(f"dataset folder {path!r} has no class subfolders")
    images, labels, skipped = [], [], []
    for label, cls in enumerate(classes):
        folder = os.path.join(path, cls)
        for file in sorted(os.listdir(folder)):
            full = os.path.join(folder, file)
            if not file.lower().endswith(IMAGE_SUFFIXES):
                skipped.append(full)
                continue
            try:
                with Image.open(full) as img:
                    img = img.convert("RGB").resize((size, size), Image.BILINEAR)
                    images.append(np.asarray(img, dtype="float32"))
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                skipped.append(full)
                continue
            labels.append(label)
    if skipped:
        log.warning("skipped %d unreadable or non-image files in %s, e.g. %s", len(skipped), path, skipped[0])
    present = sorted(set(labels))
    if not images:
        raise ConfigError(f"dataset folder {path!r} holds no readable images")
    if len(present) < 2:
        raise ConfigError(f"dataset folder {path!r} has images of one class only ({classes[present[0]]}); need two or more")
    return np.stack(images), np.array(labels, dtype="int32"), classes


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    import tensorflow as tf

    return tf.image.resize(images, (size, size)).numpy().astype("float32")


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
    """A tf.data pipeline over one split: cache, shuffle (training), batch, transform, prefetch.

    Labels are one-hot so that MixUp/CutMix (the `batch_transform`) can mix them.
    """
    import tensorflow as tf

    images, labels = split.images, split.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    ds = ds.map(lambda x, y: (x, tf.one_hot(y, num_classes)), num_parallel_calls=tf.data.AUTOTUNE).cache()
    if training:
        ds = ds.shuffle(min(len(labels), 10_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and batch_transform is not None:

        def mix(x, y):
            out = batch_transform({"images": x, "labels": y}, training=True)
            return out["images"], out["labels"]

        ds = ds.map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
