"""Which trials of a study are best: feasibility under the satisficing limits, then the objectives."""

from __future__ import annotations

import math

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.core.confirmations import CONFIRMS_ATTR
from search.core.spec import StudySpec


def is_feasible(trial: FrozenTrial) -> bool:
    constraints = trial.user_attrs.get("constraints")
    if not constraints:
        return True
    return all(v is not None and v <= 0 for v in constraints.values())


def ranked_trials(study: optuna.Study, spec: StudySpec | None, trials=None) -> list[FrozenTrial]:
    """Complete, feasible trials, best first.

    One objective: by its value. Several (a Pareto front): the front's trials first, each ranked
    by the first objective; that is the stated export rule for multi-objective studies.
    `trials`: the study's trials when already read (search.core.trial_index's light ones will do).
    """
    # A zoomed study's warm-start trials were measured by the study it came from: context for its
    # sampler, never its pick (its own runs of those configurations are queued first).
    # A confirmation run repeats a ranked trial's configuration: it is counted with that trial
    # (search.core.confirmations), not ranked as a configuration of its own.
    if trials is None:
        trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    trials = [t for t in trials if t.state == TrialState.COMPLETE and is_feasible(t) and "warm_start" not in t.user_attrs and CONFIRMS_ATTR not in t.user_attrs]
    trials = [t for t in trials if t.values and all(v is not None and math.isfinite(v) for v in t.values)]
    directions = study.directions
    sign = 1.0 if directions[0] == optuna.study.StudyDirection.MINIMIZE else -1.0
    if len(directions) == 1:
        return sorted(trials, key=lambda t: (sign * t.values[0], t.number))
    front = {t.number for t in study.best_trials if is_feasible(t)}
    return sorted(trials, key=lambda t: (t.number not in front, sign * t.values[0], t.number))
