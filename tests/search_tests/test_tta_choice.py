"""Test-time augmentation is kept only when held-out dev examples say it helps."""

import numpy as np

from search.analysis.tta import choose

CLASSES = 4
POLICIES = {"flip": ("identity", "flip"), "shift 1 px": ("identity", "shift")}


def probs_right_on(labels, right, confidence):
    """`confidence` on the label where `right`, on the next class elsewhere."""
    target = np.where(right, labels, (labels + 1) % CLASSES)
    p = np.full((len(labels), CLASSES), (1 - confidence) / (CLASSES - 1))
    p[np.arange(len(labels)), target] = confidence
    return p


def views_where(labels, flip_helps: bool, seed=0):
    rng = np.random.default_rng(seed)
    plain_right = rng.random(len(labels)) < 0.8
    identity = probs_right_on(labels, plain_right, 0.55)
    if flip_helps:  # the flipped view is confidently right wherever the plain one is wrong, and unsure elsewhere
        flip = np.where(plain_right[:, None], np.full_like(identity, 1 / CLASSES), probs_right_on(labels, True, 0.9))
    else:  # the flipped view is a different image: confidently wrong on a random half
        flip = probs_right_on(labels, rng.random(len(labels)) < 0.5, 0.9)
    shift = probs_right_on(labels, rng.random(len(labels)) < 0.3, 0.9)
    return {"identity": identity, "flip": flip, "shift": shift}, plain_right


def test_a_view_that_fixes_mistakes_is_kept_and_judged_on_examples_that_did_not_choose_it():
    labels = np.random.default_rng(1).integers(0, CLASSES, 2000)
    views, plain_right = views_where(labels, flip_helps=True)
    choice = choose(views, labels, POLICIES)
    assert choice.kept and choice.policy == "flip"
    assert choice.plain_held_out_accuracy == plain_right.mean()
    assert choice.held_out_accuracy > choice.plain_held_out_accuracy + 0.1
    assert choice.dev_accuracy["flip"] == 1.0 and choice.dev_accuracy["none"] == plain_right.mean()


def test_views_that_change_what_the_image_shows_are_left_out():
    labels = np.random.default_rng(2).integers(0, CLASSES, 2000)
    views, plain_right = views_where(labels, flip_helps=False)
    choice = choose(views, labels, POLICIES)
    assert not choice.kept and choice.policy == "none"
    assert choice.held_out_accuracy == choice.plain_held_out_accuracy == plain_right.mean()
    assert max(choice.dev_accuracy["flip"], choice.dev_accuracy["shift 1 px"]) < choice.dev_accuracy["none"]


def test_a_tie_keeps_the_plain_model():
    labels = np.random.default_rng(3).integers(0, CLASSES, 500)
    views, _ = views_where(labels, flip_helps=False)
    same = {"identity": views["identity"], "flip": views["identity"], "shift": views["identity"]}
    assert choose(same, labels, POLICIES).policy == "none"
