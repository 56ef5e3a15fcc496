"""Helpers for tests that drive real worker processes against a real storage."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from search.core.storage import open_storage


def trials_of(url: str, name: str):
    storage = open_storage(url)
    return optuna.load_study(study_name=name, storage=storage.optuna).get_trials(deepcopy=False)


def states(url: str, name: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials_of(url, name):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def finished(url: str, name: str) -> int:
    return sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials_of(url, name))


def running_trial(url: str, name: str):
    running = [t for t in trials_of(url, name) if t.state == TrialState.RUNNING and t.intermediate_values]
    return running[0] if running else None
