"""Greedy ensemble selection over a study's kept models (Caruana et al. 2004), judged on examples it did not see.

Selection with replacement: start from the most accurate model, then add, again and again, the
model (possibly one already in) whose addition makes the averaged probabilities most accurate
(ties: the lower log loss), at most `size` distinct members; the ensemble is the prefix of those
steps that scored best, each member weighted by how often it was chosen. auto-sklearn and
AutoGluon build their ensembles this way; it needs no training, only each model's stored
probabilities on dev.

Dev both chooses and would judge, so the figure reported is cross-fitted: dev is cut in two
stratified halves, the selection made on one half is scored on the other, and the other way
round. Choosing the best single model is a selection too, and is judged the same way, so the two
held-out figures compare like with like. The exported ensemble is then chosen on the whole of dev.
Pure: arrays in, weights and accuracies out. Test predictions are never an input here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

ENSEMBLE_ATTR = "hpsearch_ensemble"  # study user attr: the last exported ensemble, for the report and the note
ROUNDS_PER_MEMBER = 4  # selection steps per allowed member: room to re-weight after the members are in
HALVES_SEED = 0


@dataclass(frozen=True)
class Choice:
    weights: dict[int, float]  # trial number -> weight (they sum to 1)
    dev_accuracy: float  # on the examples that chose it


@dataclass(frozen=True)
class EnsembleReport:
    chosen: Choice  # on the whole of dev: what is exported
    held_out_accuracy: float  # the ensemble procedure, cross-fitted over the two dev halves
    single_held_out_accuracy: float  # picking the best single model, cross-fitted the same way
    halves: tuple[int, int]  # examples in each dev half


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float((probs.argmax(-1) == labels).mean()) if len(labels) else float("nan")


def _log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-7, 1.0)).mean())


def combine(probs: Mapping[int, np.ndarray], weights: Mapping[int, float]) -> np.ndarray:
    """The weighted average of the members' probabilities."""
    return sum(w * probs[n] for n, w in weights.items())


def halves(labels: np.ndarray, seed: int = HALVES_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Two stratified halves of dev (indices): each class's examples shuffled, then dealt alternately."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for label in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == label))
        a.append(idx[0::2])
        b.append(idx[1::2])
    return np.sort(np.concatenate(a)), np.sort(np.concatenate(b))


def greedy(probs: Mapping[int, np.ndarray], labels: np.ndarray, size: int) -> Choice:
    """Greedy selection with replacement over `probs` (trial -> [examples, classes]) on `labels`."""
    if not probs:
        raise ValueError("no models to choose from")
    numbers = sorted(probs)

    def score(p: np.ndarray) -> tuple[float, float]:
        return accuracy(p, labels), -_log_loss(p, labels)

    total = np.zeros_like(probs[numbers[0]], dtype=np.float64)
    counts: dict[int, int] = {}
    best_counts, best_score = None, None
    for step in range(ROUNDS_PER_MEMBER * size):
        allowed = [n for n in numbers if n in counts or len(counts) < size]
        # max() keeps the first of equals: the lowest trial number, so the choice is reproducible.
        n = max(allowed, key=lambda m: score((total + probs[m]) / (step + 1)))
        total += probs[n]
        counts[n] = counts.get(n, 0) + 1
        current = score(total / (step + 1))
        if best_score is None or current > best_score:
            best_counts, best_score = dict(counts), current
    steps = sum(best_counts.values())
    return Choice(weights={n: c / steps for n, c in sorted(best_counts.items())}, dev_accuracy=best_score[0])


def select(probs: Mapping[int, np.ndarray], labels: np.ndarray, size: int) -> EnsembleReport:
    """The ensemble of at most `size` models chosen on all of dev, and honest figures for it and for one model."""
    a, b = halves(labels)
    held_out, single = np.zeros(len(labels), bool), np.zeros(len(labels), bool)
    for choose, judge in ((a, b), (b, a)):
        part = {n: p[choose] for n, p in probs.items()}
        choice = greedy(part, labels[choose], size)
        held_out[judge] = combine({n: probs[n][judge] for n in choice.weights}, choice.weights).argmax(-1) == labels[judge]
        best = max(sorted(part), key=lambda n: accuracy(part[n], labels[choose]))
        single[judge] = probs[best][judge].argmax(-1) == labels[judge]
    return EnsembleReport(chosen=greedy(probs, labels, size), held_out_accuracy=float(held_out.mean()),
                          single_held_out_accuracy=float(single.mean()), halves=(len(a), len(b)))


def describe(doc: Mapping) -> list[str]:
    """An exported ensemble (its export document, `hpsearch export --ensemble`) against the best single model."""
    members = ", ".join(f"{m['trial']} ({m['weight']:.2f})" for m in doc["members"])
    single = doc["best_single"]
    return [
        f"An ensemble of {doc['size']} of the {len(doc['chosen_from'])} kept models (trials and weights: {members}) "
        f"was exported{' on ' + doc['exported'][:16].replace('T', ' ') if doc.get('exported') else ''}.",
        f"On dev examples that did not choose it: {doc['dev_accuracy_held_out']:.4f}, against "
        f"{doc['best_single_dev_accuracy_held_out']:.4f} for the best single model chosen the same way.",
        f"On the test split: {doc['test_accuracy']:.4f}, against {single['test_accuracy']:.4f} for trial "
        f"{single['trial']}, the study's best.",
    ] + describe_tta(doc.get("tta")) + ([f"It takes {doc['latency_ms']:.1f} ms an image at batch 1, against {single['latency_ms']:.1f} ms for trial "
          f"{single['trial']} alone (measured at the export, in turns)."] if "latency_ms" in doc else [])


def describe_tta(tta: Mapping | None) -> list[str]:
    if not tta:
        return []
    judged = (f"{tta['dev_accuracy_held_out']:.4f} on held-out dev examples against "
              f"{tta['plain_dev_accuracy_held_out']:.4f} without")
    if tta["policy"] == "none":
        return [f"Test-time augmentation was tried and left out: choosing a policy gave {judged}."]
    return [f"Test-time augmentation ({tta['policy']}: {len(tta['views'])} views averaged) was kept: {judged}; "
            f"on the test split, {tta['test_accuracy']:.4f}."]
