"""The pruner's verdict at the early check, part-way through a trial's first epoch (`launch --early-check`).

The trainer measures a fixed stratified sample of dev after a share of the first epoch
(trainers.early_check); the worker reports it to Optuna at step 0, which no epoch uses (epochs are
steps 1..E), so curves, resumes and the epoch budget keep their meaning, and a study stays plain
Optuna. `EarlyCheckPruner` answers step 0 itself and hands every later step to the study's pruner
(hpsearch's Hyperband), so the rungs of whole epochs are judged exactly as before.

The rule at step 0, one more rung below Hyperband's first: a trial is stopped when it is in the
worst 1/η of the study's checks so far (η, Hyperband's reduction factor, 3), *and* clearly so: its
estimate plus two standard errors (binomial, on the sample's size) is still below that line. With
a sample of 1,000 images and accuracies near 0.8 that margin is about 2.5 points, so the check
cuts what cannot learn (near chance, diverging) and leaves close calls to the first epoch's rung.
It waits until `min_trials` other trials have been checked at the same share of an epoch.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import TrialState

EARLY_CHECK_ATTR = "early_check"  # a trial's check: {"fraction", "examples", "standard_error", "value"}
CHECK_STEP = 0
MARGIN_STANDARD_ERRORS = 2.0
MIN_TRIALS = 5


def record(fraction: float, metrics: dict, value: float) -> dict:
    """What a trial keeps of its check (its EARLY_CHECK_ATTR), read by the pruner's rule."""
    return {"fraction": fraction, "examples": int(metrics.get("examples", 0)),
            "standard_error": metrics.get("standard_error", float("nan")), "value": value}


class EarlyCheckPruner(BasePruner):
    """Judges the early check (step 0); every other step is `inner`'s."""

    def __init__(self, inner: BasePruner, reduction_factor: int = 3, min_trials: int = MIN_TRIALS):
        self.inner, self.reduction_factor, self.min_trials = inner, reduction_factor, min_trials

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        if trial.last_step != CHECK_STEP:
            return self.inner.prune(study, trial)
        own = trial.user_attrs.get(EARLY_CHECK_ATTR, {})
        others = [
            t.intermediate_values[CHECK_STEP]
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
            if t.number != trial.number and CHECK_STEP in t.intermediate_values
            and t.user_attrs.get(EARLY_CHECK_ATTR, {}).get("fraction") == own.get("fraction")
        ]
        return verdict(trial.intermediate_values[CHECK_STEP], float(own.get("standard_error", 0.0)), others,
                       maximize=study.direction == StudyDirection.MAXIMIZE,
                       reduction_factor=self.reduction_factor, min_trials=self.min_trials)

    # Read by benchmarks' describe_pruner, as it reads Hyperband's.
    def __getattr__(self, name: str):
        if name.startswith("_") and name != "inner" and "inner" in self.__dict__:
            return getattr(self.__dict__["inner"], name)
        raise AttributeError(name)


def verdict(value: float, standard_error: float, others: list[float], *, maximize: bool,
            reduction_factor: int = 3, min_trials: int = MIN_TRIALS) -> bool:
    """True when `value` is in the worst 1/reduction_factor of `others` by more than the margin."""
    finite = [v for v in others if np.isfinite(v)]
    if len(finite) < min_trials or not np.isfinite(value):
        return False
    margin = MARGIN_STANDARD_ERRORS * (standard_error if np.isfinite(standard_error) else 0.0)
    if maximize:
        return value + margin < float(np.quantile(finite, 1.0 / reduction_factor))
    return value - margin > float(np.quantile(finite, 1.0 - 1.0 / reduction_factor))
