"""`hpsearch export NAME --ensemble K --tta`: test-time augmentation, kept only where held-out dev says it helps.

The kept models' stored predictions are of the plain images, so the views need the data again:
the study's dev split is loaded on the exporting host (as the best trial loaded it: its data
config, so the same seed and order) and checked against the labels the models were measured on, then every view of
trainers.tta runs through the ensemble once. search.analysis.tta decides; the official test split
is run only for the policy kept, and only to report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from search.analysis.tta import choose
from search.core.artifacts import ArtifactError

if TYPE_CHECKING:
    from trainers.config import DataConfig

INFERENCE_BATCH = 256


def apply(model, data: "DataConfig", dev_labels: np.ndarray, test_labels: np.ndarray,
          progress: Callable[[int, int], None] | None = None) -> tuple[Any, dict[str, Any]]:
    """The model to export (`model`, or it averaged over the kept views) and what was decided, for the export document.

    `progress(done, total)` is called as the views are run. Raises ArtifactError when the data
    cannot be loaded here or are not the data the kept models were measured on.
    """
    from trainers import tta
    from trainers.config import ConfigError
    from trainers.data import load_splits
    from trainers.predictions import accuracy, predict

    try:
        splits = load_splits(data)
    except (ConfigError, OSError) as exc:
        raise ArtifactError(f"--tta runs the models on the study's dev split, which cannot be loaded here: {exc}") from None
    for name, split, labels in (("dev", splits.dev, dev_labels), ("test", splits.test, test_labels)):
        if not np.array_equal(split.labels, labels):
            raise ArtifactError(f"the {name} split loaded here is not the one the kept models were measured on "
                                "(the data changed since the study ran); --tta cannot judge its views")
    views = sorted({v for members in tta.POLICIES.values() for v in members}, key=list(tta.VIEWS).index)
    probs = {}
    for done, view in enumerate(views):
        if progress:
            progress(done, len(views) + 1)
        probs[view], _ = predict(tta.viewed(model, view), splits.dev, splits.num_classes, INFERENCE_BATCH)
    choice = choose(probs, dev_labels, tta.POLICIES)
    doc: dict[str, Any] = {
        "policy": choice.policy,
        "views": list(tta.POLICIES.get(choice.policy, ("identity",))),
        "dev_accuracy_held_out": choice.held_out_accuracy,
        "plain_dev_accuracy_held_out": choice.plain_held_out_accuracy,
        "dev_accuracy_by_policy": choice.dev_accuracy,
    }
    if choice.kept:
        model = tta.averaged(model, choice.policy)
        test_probs, _ = predict(model, splits.test, splits.num_classes, INFERENCE_BATCH)
        doc["test_accuracy"] = accuracy(test_probs, test_labels)
    if progress:
        progress(len(views) + 1, len(views) + 1)
    return model, doc
