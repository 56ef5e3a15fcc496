"""Greedy ensemble selection on probabilities made so that the answer is known."""

import numpy as np
import pytest

from search.analysis.ensemble import accuracy, greedy, halves, select

CLASSES = 4


def onehot(labels, confidence=0.7):
    p = np.full((len(labels), CLASSES), (1 - confidence) / (CLASSES - 1))
    p[np.arange(len(labels)), labels] = confidence
    return p


def model_right_on(labels, right, seed):
    """Confident and right where `right` is true; confidently wrong (the next class) elsewhere."""
    wrong = (labels + 1 + np.random.default_rng(seed).integers(0, CLASSES - 1, len(labels))) % CLASSES
    return np.where(right[:, None], onehot(labels, 0.6), onehot(wrong, 0.55))


@pytest.fixture
def three_experts():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, CLASSES, 3000)
    part = rng.integers(0, 3, len(labels))  # each model is wrong on its own third only
    probs = {n: model_right_on(labels, part != n, seed=n) for n in range(3)}
    probs[3] = onehot(rng.integers(0, CLASSES, len(labels)))  # a useless model
    return probs, labels


def test_three_models_wrong_on_different_thirds_vote_each_others_mistakes_away(three_experts):
    probs, labels = three_experts
    assert all(accuracy(probs[n], labels) == pytest.approx(2 / 3, abs=0.03) for n in range(3))
    choice = greedy(probs, labels, size=5)
    assert set(choice.weights) == {0, 1, 2} and sum(choice.weights.values()) == pytest.approx(1.0)
    assert choice.dev_accuracy > 0.99


def test_at_most_size_distinct_members(three_experts):
    probs, labels = three_experts
    assert len(greedy(probs, labels, size=2).weights) <= 2
    assert list(greedy(probs, labels, size=1).weights.values()) == [1.0]


def test_the_held_out_figure_comes_from_examples_that_did_not_choose(three_experts):
    probs, labels = three_experts
    report = select(probs, labels, size=4)
    assert report.held_out_accuracy > 0.99 and report.single_held_out_accuracy == pytest.approx(2 / 3, abs=0.03)
    # A model that is right only by memorising its half (right on half a, noise on half b) wins the
    # selection on a, and the held-out figure on b finds it out.
    a, b = halves(labels)
    assert len(a) + len(b) == len(labels) and not set(a) & set(b)
    cheat = onehot(np.random.default_rng(9).integers(0, CLASSES, len(labels)))
    cheat[a] = onehot(labels[a], 0.99)
    cheat[b] = onehot(np.random.default_rng(8).integers(0, CLASSES, len(b)), 0.99)
    solo = select({0: probs[0], 7: cheat}, labels, size=1)
    assert solo.single_held_out_accuracy < 0.5  # chosen on a (0.99 there), judged on b (chance), and vice versa


def test_halves_are_stratified():
    labels = np.repeat(np.arange(CLASSES), [100, 50, 30, 2])
    a, b = halves(labels)
    for c in range(CLASSES):
        assert abs((labels[a] == c).sum() - (labels[b] == c).sum()) <= 1
