"""Re-measured configurations: a trial and its confirmation runs, and what they agree on.

The best trial of a noisy search is often the luckiest: initialisation and data order move
results by about as much as the differences a search picks between (Bouthillier et al., MLSys
2021). `hpsearch confirm` re-trains the top configurations under new seeds as trials of the same
study, each marked with CONFIRMS_ATTR (the number of the trial it repeats). Here they are grouped
with the trial they repeat, and each group gets its mean and spread; export then ranks the
confirmed configurations by their mean. Plain arithmetic over frozen trials.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Iterable

import optuna
from optuna.trial import FrozenTrial, TrialState

CONFIRMS_ATTR = "confirms"  # on a confirmation run: the number of the trial whose configuration it repeats
CONFIRM_ATTR = "hpsearch_confirm"  # on the study: {"top": K, "seeds": S, "trials": [numbers confirmed]}, per call


@dataclass
class Confirmed:
    """One configuration measured several times: the original trial and its complete confirmation runs."""

    trial: int  # the original trial
    runs: list[FrozenTrial]  # the original first, then its confirmations that completed
    queued: int  # confirmation runs asked for
    objective: str

    def _series(self, key: str) -> list[float]:
        out = []
        for t in self.runs:
            if key == "objective":
                value = t.values[0] if t.values else None
            else:
                value = t.user_attrs.get(key)
                if value is None and key.endswith("_accuracy"):
                    error = t.user_attrs.get(key.replace("_accuracy", "_error"))
                    value = None if error is None else 1.0 - error
            if value is not None and math.isfinite(value):
                out.append(float(value))
        return out

    def stats(self, key: str) -> dict[str, Any]:
        values = self._series(key)
        return {"n": len(values), "mean": statistics.fmean(values) if values else None,
                "std": statistics.stdev(values) if len(values) > 1 else None, "values": values}

    @property
    def mean(self) -> float | None:
        return self.stats("objective")["mean"]

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.trial, "runs": [t.number for t in self.runs], "confirmations_queued": self.queued,
                self.objective: self.stats("objective"), "dev_accuracy": self.stats("dev_accuracy"),
                "test_accuracy": self.stats("test_accuracy")}


def confirmed(trials: Iterable[FrozenTrial], objective: str) -> list[Confirmed]:
    """Every configuration that has confirmation runs queued or done, by original trial number."""
    trials = list(trials)
    by_number = {t.number: t for t in trials}
    groups: dict[int, Confirmed] = {}
    for t in trials:
        original = t.user_attrs.get(CONFIRMS_ATTR)
        if original is None or original not in by_number:
            continue
        group = groups.setdefault(original, Confirmed(original, [by_number[original]], 0, objective))
        group.queued += 1
        if t.state == TrialState.COMPLETE:
            group.runs.append(t)
    return [groups[k] for k in sorted(groups)]


def by_mean(groups: list[Confirmed], maximize: bool) -> list[Confirmed]:
    """Confirmed configurations, best mean first (a group with no finite value last)."""
    sign = -1.0 if maximize else 1.0
    return sorted(groups, key=lambda g: (g.mean is None, sign * (g.mean or 0.0), g.trial))


def maximizes(study: optuna.Study) -> bool:
    return study.directions[0] == optuna.study.StudyDirection.MAXIMIZE


def of_study(study: optuna.Study, objective: str, trials: Iterable[FrozenTrial] | None = None) -> list[Confirmed]:
    """The study's confirmed configurations, best mean first (`trials`: the study's, if already read)."""
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    return by_mean(confirmed(trials, objective), maximizes(study))
