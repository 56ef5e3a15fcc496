"""Whether test-time augmentation helps an exported model, judged on dev examples that did not choose it.

Each policy (trainers.tta.POLICIES) averages the model's probabilities over a few views of the
image. Picking the best policy on dev and reporting its dev accuracy would flatter it (with four
policies, one wins by chance), so the choice is cross-fitted on the same two stratified dev halves
as the ensemble's members (search.analysis.ensemble.halves): a policy, or none, is picked on one
half and scored on the other, and the other way round. Test-time augmentation is kept only when
that procedure beats the plain model on the held-out examples; the policy kept is then the one
picked on the whole of dev. Pure: arrays in, a decision out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from search.analysis.ensemble import accuracy, halves

NONE = "none"


@dataclass(frozen=True)
class TtaChoice:
    policy: str  # a key of trainers.tta.POLICIES, or "none"
    held_out_accuracy: float  # choosing a policy (or none) on one dev half, scored on the other, both ways
    plain_held_out_accuracy: float  # the model without augmentation, on the same examples
    dev_accuracy: dict[str, float] = field(default_factory=dict)  # each policy (and none) on the whole of dev

    @property
    def kept(self) -> bool:
        return self.policy != NONE


def policy_probabilities(views: Mapping[str, np.ndarray], policies: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """Each policy's probabilities (the mean over its views), "none" first: the identity view."""
    out = {NONE: views["identity"]}
    for name, members in policies.items():
        out[name] = sum(views[v] for v in members) / len(members)
    return out


def _pick(probs: Mapping[str, np.ndarray], labels: np.ndarray) -> str:
    # max() keeps the first of equals: "none" before any policy, then the policies in their order.
    return max(probs, key=lambda name: accuracy(probs[name], labels))


def choose(views: Mapping[str, np.ndarray], labels: np.ndarray, policies: Mapping[str, Sequence[str]]) -> TtaChoice:
    """The policy to ship (or "none") from the views' dev probabilities (view -> [examples, classes])."""
    probs = policy_probabilities(views, policies)
    a, b = halves(labels)
    held_out = np.zeros(len(labels), bool)
    for choose_idx, judge in ((a, b), (b, a)):
        picked = _pick({n: p[choose_idx] for n, p in probs.items()}, labels[choose_idx])
        held_out[judge] = probs[picked][judge].argmax(-1) == labels[judge]
    plain = accuracy(probs[NONE], labels)
    procedure = float(held_out.mean())
    return TtaChoice(policy=_pick(probs, labels) if procedure > plain else NONE, held_out_accuracy=procedure,
                     plain_held_out_accuracy=plain,
                     dev_accuracy={n: accuracy(p, labels) for n, p in probs.items()})
