"""Datasets too large to decode in every trial: class folders and TFDS, through the per-host cache.

The file list is split four ways before anything is decoded (stratified, seeded, so the splits are
disjoint and stable for a seed); tf.data then decodes and resizes in parallel maps and writes each
split once per host (`trainers.data.cache`). A trial keeps a split in RAM only while the uint8
splits fit `data.memory_budget_mb`; the others stream from the cache, so a trial's memory does not
grow with the dataset.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from trainers.data import cache as datacache
from trainers.config import ConfigError, DataConfig
from trainers.data.images import FolderIndex, decode, folder_channels, index_folder
from trainers.data.splits import SPLITS, Split, Splits, min_per_class, stratified_split

DEFAULT_SIZE = 128  # folders and TFDS have no one size of their own
# The eval splits are read every epoch, train every step, test once: RAM goes to them in that order.
RAM_ORDER = ("dev", "train_dev", "train", "test")

log = logging.getLogger("trainers.data")


def folder_splits(config: DataConfig) -> tuple[Splits, bool]:
    """The four splits of `dir:PATH` (and `data.target_dir`); True when this call built the cache."""
    source = index_folder(config.dataset[4:])
    size = config.image_size or DEFAULT_SIZE
    fractions = [config.train_dev_fraction, config.dev_fraction, config.test_fraction]
    if config.target_dir:
        target = index_folder(config.target_dir)
        if target.classes != source.classes:
            raise ConfigError(
                f"the target folder's classes {target.classes} differ from the training folder's {source.classes}"
            )
        dev_share = config.dev_fraction / (config.dev_fraction + config.test_fraction)
        check_counts(source, [config.train_dev_fraction])
        check_counts(target, [dev_share])
        train, train_dev = stratified_split(source.labels, [config.train_dev_fraction], config.seed)
        dev, test = stratified_split(target.labels, [dev_share], config.seed + 1)
        parts = {"train": (source, train), "train_dev": (source, train_dev), "dev": (target, dev), "test": (target, test)}
    else:
        check_counts(source, fractions)
        target = None
        idx = stratified_split(source.labels, fractions, config.seed)
        parts = {s: (source, i) for s, i in zip(SPLITS, idx)}
    description = {
        "kind": "folder",
        "dataset": source.root,
        "files": source.fingerprint(),
        "target": target.root if target else None,
        "target_files": target.fingerprint() if target else None,
        "image_size": size,
        "resize": config.resize,
        "seed": config.seed,
        "fractions": fractions,
    }

    def build(folder: str) -> dict[str, Any]:
        indexes = [source] + ([target] if target else [])
        channels = folder_channels([p for ix in indexes for p in ix.paths])
        skipped: list[str] = []
        sizes = {}
        for split, (index, rows) in parts.items():
            paths = [index.paths[i] for i in rows]
            before = len(skipped)
            ds = _decoded(paths, index.labels[rows], size, config.resize, channels, skipped)
            datacache.write_split(ds, os.path.join(folder, split))
            bad = set(skipped[before:])
            kept = np.array([p not in bad for p in paths], dtype=bool)
            datacache.write_labels(os.path.join(folder, split), index.labels[rows][kept])
            sizes[split] = int(kept.sum())
        return {"sizes": sizes, "image_shape": [size, size, channels], "classes": source.classes,
                "skipped": sorted(skipped)}

    entry, built = datacache.open_or_build(description, build)
    for index in (source, target) if target else (source,):
        if any(index.ignored.values()):
            log.warning("%s", index.describe())
    skipped = entry.manifest["skipped"]
    if skipped:  # every trial says so once: each trial's log is read on its own
        log.warning("skipped %d unreadable image files: %s", len(skipped),
                    ", ".join(skipped[:20]) + (" ..." if len(skipped) > 20 else ""))
    return splits_from_entry(entry, config, name=config.dataset), built


def check_counts(index: FolderIndex, fractions: list[float]) -> None:
    """Refuse a class with too few images for every split, naming it (before anything is decoded)."""
    need = min_per_class(fractions)
    for cls, count in index.counts().items():
        if count < need:
            raise ConfigError(
                f"class {cls!r} of {index.root} has {count} image file{'s' if count != 1 else ''}; each class "
                f"needs at least {need} for the train, train-dev, dev and test splits"
            )


def _decoded(paths: list[str], labels: np.ndarray, size: int, mode: str, channels: int, skipped: list[str]):
    """(uint8 image, label) for each readable file, decoded by PIL in parallel tf.data maps."""
    import tensorflow as tf

    lock = threading.Lock()
    blank = np.zeros((size, size, channels), np.uint8)

    def load(path: bytes) -> tuple[np.ndarray, bool]:
        name = path.decode()
        try:
            return decode(name, size, mode, channels), True
        except Exception:  # corrupt, truncated, not an image after all: counted, named once, left out
            with lock:
                skipped.append(name)
            return blank, False

    def decode_one(path, label):
        image, ok = tf.numpy_function(load, [path], (tf.uint8, tf.bool), stateful=False)
        image.set_shape((size, size, channels))
        return image, label, ok

    ds = tf.data.Dataset.from_tensor_slices((np.array(paths, dtype=object).astype(str), labels.astype(np.int32)))
    ds = ds.map(decode_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.filter(_readable).map(_drop_flag)


def _readable(image, label, ok):
    return ok


def _drop_flag(image, label, ok):
    return image, label


def splits_from_entry(entry: datacache.Entry, config: DataConfig, *, name: str) -> Splits:
    """Splits over a cache entry: in RAM while the budget lasts (dev first), else streamed."""
    manifest = entry.manifest
    shape = tuple(manifest["image_shape"])
    image_bytes = int(np.prod(shape))
    budget = config.memory_budget_mb * 2**20
    parts: dict[str, Split] = {}
    for split in RAM_ORDER:
        count = manifest["sizes"][split]
        if split == "train" and config.max_train_examples is not None:
            count = min(count, config.max_train_examples)
        folder = entry.split_path(split)
        if count * image_bytes <= budget:
            parts[split] = Split(*datacache.read_split(folder, count, shape))
            budget -= count * image_bytes
        else:
            parts[split] = Split(None, datacache.read_labels(folder)[:count], folder, shape)
    classes = manifest["classes"]
    streamed = [s for s in SPLITS if not parts[s].in_memory]
    notes = {"cache": entry.path}
    if streamed:
        notes["streamed"] = ", ".join(streamed)
    return Splits(**{s: parts[s] for s in SPLITS}, num_classes=len(classes), class_names=list(classes), name=name,
                  skipped=list(manifest.get("skipped", [])), notes=notes)
