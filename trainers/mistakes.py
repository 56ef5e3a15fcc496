"""What a trained model gets wrong on dev: the confusion matrix, the most-confused pairs, the worst mistakes.

The seeds' error analysis: before deciding what to fix, look at the dev examples the model gets
wrong and count them by kind (one class taken for another, blurry images). Measured in inference
mode (no dropout, no augmentation), over the whole dev split, in batches, so a streamed split
costs no more memory than its batches plus the few images of the worst mistakes.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainers.predictions import predict
from trainers.data.splits import Split

TOP_PAIRS = 10  # most-confused pairs kept
TOP_MISTAKES = 16  # most confident wrong predictions kept, with their images


@dataclass
class Mistakes:
    classes: list[str]
    confusion: list[list[int]]  # [true class][predicted class] -> dev examples
    pairs: list[dict[str, Any]]  # {"true", "predicted", "count", "share" of all dev errors}, most first
    worst: list[dict[str, Any]]  # {"index" in dev, "true", "predicted", "confidence"}, most confident first
    images: np.ndarray | None = field(default=None, repr=False)  # the worst mistakes' pixels (not serialised)
    # Every dev example's probabilities and label, in dev's order (not serialised: trainers.predictions keeps them).
    probabilities: np.ndarray | None = field(default=None, repr=False)
    labels: np.ndarray | None = field(default=None, repr=False)

    @property
    def errors(self) -> int:
        return int(sum(sum(row) for row in self.confusion) - sum(self.confusion[i][i] for i in range(len(self.confusion))))

    @property
    def examples(self) -> int:
        return int(sum(sum(row) for row in self.confusion))

    def to_dict(self) -> dict[str, Any]:
        return {"classes": self.classes, "confusion": self.confusion, "pairs": self.pairs, "worst": self.worst,
                "errors": self.errors, "examples": self.examples}


def most_confused(confusion: np.ndarray, top: int = TOP_PAIRS) -> list[dict[str, Any]]:
    """Off-diagonal cells of a confusion matrix, largest first (ties: by class numbers)."""
    errors = int(confusion.sum() - np.trace(confusion))
    cells = [(int(confusion[t, p]), t, p) for t in range(len(confusion)) for p in range(len(confusion)) if t != p]
    cells = sorted((c for c in cells if c[0] > 0), key=lambda c: (-c[0], c[1], c[2]))[:top]
    return [{"true": t, "predicted": p, "count": n, "share": n / errors} for n, t, p in cells]


def find_mistakes(model, split: Split, num_classes: int, class_names: list[str], batch_size: int,
                  top: int = TOP_MISTAKES) -> Mistakes:
    """Run `model` over `split` in inference mode and collect its mistakes."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    worst: list[tuple[float, int, int, int, np.ndarray]] = []  # a min-heap of (confidence, -index, ...)
    seen = [0]  # examples before the current batch

    def collect(x, probs: np.ndarray, truth: np.ndarray) -> None:
        predicted = probs.argmax(-1)
        np.add.at(confusion, (truth, predicted), 1)
        pixels = None
        for k in np.flatnonzero(predicted != truth):
            confidence = float(probs[k, predicted[k]])
            if len(worst) < top or confidence > worst[0][0]:
                pixels = np.asarray(x) if pixels is None else pixels
                entry = (confidence, -(seen[0] + int(k)), int(truth[k]), int(predicted[k]), pixels[k].astype(np.uint8))
                (heapq.heappush if len(worst) < top else heapq.heapreplace)(worst, entry)
        seen[0] += len(truth)

    probabilities, labels = predict(model, split, num_classes, batch_size, on_batch=collect)
    worst.sort(key=lambda e: (-e[0], -e[1]))
    return Mistakes(
        classes=list(class_names),
        confusion=confusion.tolist(),
        pairs=most_confused(confusion),
        worst=[{"index": -e[1], "true": e[2], "predicted": e[3], "confidence": e[0]} for e in worst],
        images=np.stack([e[4] for e in worst]) if worst else None,
        probabilities=probabilities,
        labels=labels,
    )
