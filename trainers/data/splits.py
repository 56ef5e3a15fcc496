"""The four splits (train, train-dev, dev, test) as types, and the stratified, seeded draw of them.

A split holds its pixels as uint8 in [0, 255], in RAM (`images`) or, when its uint8 form does not
fit the memory budget, as a folder of the per-host cache streamed from disk (`source`). Labels are
always in RAM: they are small. No TensorFlow here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SPLITS = ("train", "train_dev", "dev", "test")


@dataclass
class Split:
    images: np.ndarray | None  # (n, h, w, c) uint8 in [0, 255]; None when streamed from `source`
    labels: np.ndarray  # (n,) int32
    source: str | None = None  # a cached split (tf.data.Dataset.save folder) to stream from
    shape: tuple[int, int, int] | None = None  # the image shape when streamed

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:]) if self.images is not None else tuple(self.shape)

    @property
    def in_memory(self) -> bool:
        return self.images is not None

    def head(self, count: int) -> "Split":
        """The first `count` examples (the split's order is already a seeded shuffle)."""
        if self.images is not None:
            return Split(self.images[:count], self.labels[:count])
        return Split(None, self.labels[:count], self.source, self.shape)


@dataclass
class Splits:
    train: Split
    train_dev: Split
    dev: Split
    test: Split
    num_classes: int
    class_names: list[str]
    name: str
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (folders)
    notes: dict[str, str] = field(default_factory=dict)  # where each split came from, for people

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.train.image_shape

    def sizes(self) -> dict[str, int]:
        return {s: len(getattr(self, s)) for s in SPLITS}


def stratified_split(labels: np.ndarray, fractions: list[float], seed: int) -> list[np.ndarray]:
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


def min_per_class(fractions: list[float]) -> int:
    """The fewest images a class needs for one in every part with a positive fraction, and in train."""
    for n in range(1, 10_000):
        counts = [int(round(f * n)) for f in fractions]
        if all(c >= 1 for c, f in zip(counts, fractions) if f > 0) and n - sum(counts) >= 1:
            return n
    return math.inf  # type: ignore[return-value]
