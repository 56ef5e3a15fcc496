"""How many trials of a study are in each state: the budget's arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import optuna
from optuna.trial import TrialState


@dataclass
class Counts:
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    waiting: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned

    @property
    def counted(self) -> int:
        return self.complete + self.pruned + self.running + self.waiting


def counts_from_states(states: dict[str, int]) -> Counts:
    """Counts from `Storage.count_states` (state name -> number of trials)."""
    return Counts(complete=states.get("COMPLETE", 0), pruned=states.get("PRUNED", 0), failed=states.get("FAIL", 0),
                  running=states.get("RUNNING", 0), waiting=states.get("WAITING", 0))


def count_trials(trials: Iterable[optuna.trial.FrozenTrial]) -> Counts:
    c = Counts()
    for t in trials:
        if t.state == TrialState.COMPLETE:
            c.complete += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.FAIL:
            c.failed += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
        elif t.state == TrialState.WAITING:
            c.waiting += 1
    return c
