"""A decoded, resized uint8 copy of a dataset's four splits, built once per host and shared by every trial.

Layout under the cache root (`$HPSEARCH_CACHE`, default `~/.cache/hpsearch`):

    KEY/manifest.json        written last: its presence is what makes an entry complete
    KEY/train/ ...           one `tf.data.Dataset.save` folder per split, elements (index, (image, label))
    KEY.lock                 `flock`ed by the one process that builds KEY; the others wait on it
    .build-KEY-PID/          an entry being built; renamed to KEY in one step when done

KEY is a hash of everything the pixels depend on (for a folder: every file's relative path,
size and mtime; the image size, resize mode, split seed and fractions), so a changed folder or
setting is a new entry and a stale one is never read. A crashed builder leaves its lock released
(the kernel drops it) and its `.build-*` folder, which the next builder removes.

`Dataset.cache(filename)` and `Dataset.snapshot` do not serve here (see docs/pitfalls): the first
fails with a second writer and a stale lockfile, the second keys on a graph fingerprint that can
change between runs.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from trainers.config import ConfigError
from trainers.filelock import locked

ENV_CACHE = "HPSEARCH_CACHE"
FORMAT = 1  # bump when the layout or the decoding changes: old entries then miss, never mislead
MANIFEST = "manifest.json"
SHARDS = 16  # a training epoch reads the shards in a new random order (more mixing than a buffer alone)

log = logging.getLogger(__name__)


def cache_root() -> str:
    root = os.environ.get(ENV_CACHE)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "hpsearch")
    return root


def entry_key(description: dict[str, Any]) -> str:
    text = json.dumps({"format": FORMAT, **description}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass
class Entry:
    path: str
    manifest: dict[str, Any]

    @property
    def key(self) -> str:
        return os.path.basename(self.path)

    def split_path(self, split: str) -> str:
        return os.path.join(self.path, split)


def _read_manifest(folder: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(folder, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if manifest.get("format") == FORMAT else None


def open_or_build(description: dict[str, Any], build: Callable[[str], dict[str, Any]]) -> tuple[Entry, bool]:
    """The complete entry for `description`, built by `build(folder)` if no process has yet.

    Returns the entry and whether this call built it. `build` writes the splits into the folder
    it is given and returns what goes into the manifest besides the description.
    """
    root = cache_root()
    try:
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, ".writable"), "a"):
            pass
    except OSError as exc:
        raise ConfigError(f"the dataset cache folder {root} is not writable ({exc.strerror}); "
                          f"set ${ENV_CACHE} to a folder that is") from None
    key = entry_key(description)
    final = os.path.join(root, key)
    manifest = _read_manifest(final)
    if manifest:
        return Entry(final, manifest), False
    lock = os.path.join(root, key + ".lock")
    with locked(lock, blocking=False) as free:
        if not free:
            log.info("another process is building the dataset cache %s; waiting for it", final)
    with locked(lock):
        manifest = _read_manifest(final)
        if manifest:
            return Entry(final, manifest), False
        # We hold the lock: anything else of this key is a crashed build or an outdated format.
        for leftover in glob.glob(os.path.join(root, f".build-{key}-*")) + ([final] if os.path.exists(final) else []):
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = tempfile.mkdtemp(prefix=f".build-{key}-{os.getpid()}-", dir=root)
        started = time.monotonic()
        try:
            manifest = {"format": FORMAT, "key": key, "description": description, **build(tmp)}
            manifest["build_seconds"] = round(time.monotonic() - started, 2)
            manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            with open(os.path.join(tmp, MANIFEST + ".tmp"), "w", encoding="utf-8") as f:
                json.dump(manifest, f)
            os.replace(os.path.join(tmp, MANIFEST + ".tmp"), os.path.join(tmp, MANIFEST))
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return Entry(final, manifest), True


# ---- splits in an entry --------------------------------------------------------------------
def write_split(ds, folder: str) -> None:
    """Save a dataset of (uint8 image, int32 label) elements, numbered, in SHARDS shards."""
    import tensorflow as tf

    numbered = ds.enumerate()
    numbered.save(folder, shard_func=lambda i, element: tf.cast(i % SHARDS, tf.int64))


def write_labels(folder: str, labels: np.ndarray) -> None:
    """The labels of a saved split, in its order, beside it: a streamed split's length and classes."""
    np.save(folder + "-labels.npy", labels.astype(np.int32))


def read_labels(folder: str) -> np.ndarray:
    return np.load(folder + "-labels.npy")


def read_split(folder: str, count: int, image_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` elements of a saved split as arrays, in saved order (element numbers put each back)."""
    import tensorflow as tf

    images = np.empty((count, *image_shape), dtype=np.uint8)
    labels = np.empty((count,), dtype=np.int32)
    ds = tf.data.Dataset.load(folder).filter(lambda i, element: i < count)
    for index, (x, y) in ds.batch(256).as_numpy_iterator():
        images[index] = x
        labels[index] = y
    return images, labels


def stream_split(folder: str, *, limit: int | None = None, shuffle_shards: bool = False, seed: int = 0):
    """A saved split streamed from disk as (image, label).

    Args:
        limit: only the elements numbered below it (the same ones `read_split` would keep).
        shuffle_shards: read the shards in a new order each epoch (training).
    """
    import tensorflow as tf

    # Shard s holds elements s, s + SHARDS, s + 2 SHARDS, ... in that order, so the elements below
    # `limit` are among the first ceil(limit / SHARDS) of each shard: reading only those keeps a
    # sample of a large split (the training error's, each epoch) from scanning the whole split.
    per_shard = None if limit is None else -(-limit // SHARDS)

    def reader(shards):
        if shuffle_shards:
            shards = shards.shuffle(SHARDS, seed=seed, reshuffle_each_iteration=True)
        return shards.interleave(lambda d: d if per_shard is None else d.take(per_shard), cycle_length=4,
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle_shards)

    ds = tf.data.Dataset.load(folder, reader_func=reader)
    if limit is not None:
        ds = ds.filter(lambda i, element: i < limit)
    return ds.map(lambda i, element: element)


# ---- hpsearch cache list | clear -----------------------------------------------------------
def _du(path: str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(dirpath, name))
    return total


def list_entries() -> list[dict[str, Any]]:
    """Every complete entry: key, dataset, image size, resize mode, seed, images, bytes on disk, date."""
    root = cache_root()
    rows = []
    for folder in sorted(glob.glob(os.path.join(root, "*"))):
        manifest = _read_manifest(folder) if os.path.isdir(folder) else None
        if not manifest:
            continue
        d = manifest.get("description", {})
        rows.append({
            "key": manifest["key"],
            "dataset": d.get("dataset"),
            "image_size": d.get("image_size"),
            "resize": d.get("resize"),
            "seed": d.get("seed"),
            "images": sum(manifest.get("sizes", {}).values()),
            "bytes": _du(folder),
            "created": manifest.get("created"),
        })
    return rows


def clear(keys: list[str] | None = None) -> list[str]:
    """Delete the named entries (all when None) and leftover builds; an entry being built is kept."""
    root = cache_root()
    if not os.path.isdir(root):
        return []
    wanted = set(keys) if keys else None
    removed = []
    for folder in sorted(glob.glob(os.path.join(root, "*"))):
        key = os.path.basename(folder)
        if not os.path.isdir(folder) or (wanted is not None and key not in wanted):
            continue
        with locked(os.path.join(root, key + ".lock"), blocking=False) as free:
            if free:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(key)
    # Lock files stay: deleting one that another process has open would let two builders in.
    if wanted is None:
        for leftover in glob.glob(os.path.join(root, ".build-*")):
            key = os.path.basename(leftover).split("-")[1]
            with locked(os.path.join(root, key + ".lock"), blocking=False) as free:
                if free:
                    shutil.rmtree(leftover, ignore_errors=True)
    return removed
