"""How a study's sampler learns: from every trial of the study, after a start-up sized to its budget.

Optuna hands a sampler only the trials of the new trial's Hyperband bracket when the study's pruner
*is* a `HyperbandPruner` (`optuna.pruners._filter_study`, called for every suggest), and TPE then
needs its own start-up trials in each bracket: with `--epochs 10` (min 1, factor 3, 3 brackets)
about the first 30 trials of a study were random draws, and a 60-minute CPU study of 14 trials was
random search from start to end. `WholeStudyHyperband` prunes exactly as `HyperbandPruner` does
(each trial's rungs are judged within its bracket) but is not one, so the sampler sees the whole
study: TPE's "good" set is then the best complete trials, then the pruned ones ranked by the
last rung they reached and their value there (`optuna.samplers._tpe.sampler._split_pruned_trials`).
The storage format is Optuna's own; any `optuna` or optuna-dashboard reads the study.
"""

from __future__ import annotations

import math

import optuna
from optuna.pruners import BasePruner, HyperbandPruner

# TPE's random start-up: a tenth of the trials the study may run, between these bounds. Optuna's
# fixed 10 was a third of benchmark 1's 30 full-length configurations; fewer than 4 points leave
# TPE's two densities with one or two trials each.
STARTUP_FRACTION = 0.1
MIN_STARTUP, MAX_STARTUP = 4, 10


def startup_trials(trials: int) -> int:
    """Random trials before TPE's model takes over, for a study whose budget is `trials`."""
    return min(MAX_STARTUP, max(MIN_STARTUP, math.ceil(STARTUP_FRACTION * trials)))


class WholeStudyHyperband(BasePruner):
    """Optuna's `HyperbandPruner` (same brackets, rungs and verdicts), with the sampler seeing every trial.

    Args: those of `optuna.pruners.HyperbandPruner`.
    """

    def __init__(self, **hyperband_options):
        self.hyperband = HyperbandPruner(**hyperband_options)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return self.hyperband.prune(study, trial)

    # Read by benchmarks' describe_pruner, as it reads HyperbandPruner's.
    @property
    def _min_resource(self):
        return self.hyperband._min_resource

    @property
    def _max_resource(self):
        return self.hyperband._max_resource

    @property
    def _reduction_factor(self):
        return self.hyperband._reduction_factor
