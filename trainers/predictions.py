"""A completed run's class probabilities on dev and on test, kept beside its model.

A study then builds ensembles of the models it already trained without running them again
(greedy ensemble selection, Caruana et al. 2004: `hpsearch export --ensemble`). Measured in
inference mode, in the splits' own order, so every trial of a study lines up example by example
(the split depends on the data config and its seed, not on the trial).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from trainers.data.splits import Split


@dataclass
class Predictions:
    dev: np.ndarray  # float32 [dev examples, classes]
    dev_labels: np.ndarray  # int32 [dev examples]
    test: np.ndarray  # float32 [test examples, classes]: for reporting only, never for choosing
    test_labels: np.ndarray

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            np.savez_compressed(f, dev=self.dev, dev_labels=self.dev_labels, test=self.test, test_labels=self.test_labels)

    @classmethod
    def load(cls, path: str) -> "Predictions":
        with np.load(path) as z:
            return cls(dev=z["dev"], dev_labels=z["dev_labels"], test=z["test"], test_labels=z["test_labels"])


def predict(model, split: Split, num_classes: int, batch_size: int,
            on_batch: Callable[[np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`model`'s probabilities over `split` in inference mode, in batches, and the split's labels.

    `on_batch(images, probabilities, labels)` sees each batch as it goes (find_mistakes keeps the
    worst mistakes' pixels that way, without holding the split).
    """
    from trainers.data import pipeline

    probs, labels = [], []
    for x, y in pipeline(split, num_classes, batch_size):
        probs.append(np.asarray(model.predict_on_batch(x), dtype=np.float32))
        labels.append(np.asarray(y).argmax(-1).astype(np.int32))
        if on_batch is not None:
            on_batch(x, probs[-1], labels[-1])
    if not probs:
        return np.zeros((0, num_classes), np.float32), np.zeros((0,), np.int32)
    return np.concatenate(probs), np.concatenate(labels)


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(-1) == labels).mean()) if len(labels) else float("nan")
