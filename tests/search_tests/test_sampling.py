"""The default sampler learns from every trial of a Hyperband study, after a start-up sized to the budget."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from search.core.sampling import WholeStudyHyperband, startup_trials
from search.core.spec import StudySpec, make_pruner, make_sampler

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


class SeenBySampler(optuna.samplers.BaseSampler):
    """Delegates to a real sampler and records how many finished trials the study it is handed holds."""

    def __init__(self, inner: optuna.samplers.BaseSampler):
        self.inner, self.seen = inner, []

    def infer_relative_search_space(self, study, trial):
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        if param_name == "x":
            self.seen.append(len(study.get_trials(deepcopy=False, states=FINISHED)))
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study, trial):
        self.inner.before_trial(study, trial)

    def after_trial(self, study, trial, state, values):
        self.inner.after_trial(study, trial, state, values)


def _run(pruner, n_trials: int = 24, epochs: int = 9) -> tuple[list[int], optuna.Study]:
    spy = SeenBySampler(optuna.samplers.RandomSampler(seed=0))
    # Hyperband puts a trial in a bracket by a hash of the study name and trial number: name it.
    study = optuna.create_study(study_name="s", direction="maximize", sampler=spy, pruner=pruner)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for epoch in range(1, epochs + 1):
            trial.report(x * epoch / epochs, epoch)
            if epoch < epochs and trial.should_prune():
                raise optuna.TrialPruned()
        return x

    study.optimize(objective, n_trials=n_trials)
    return spy.seen, study


def test_the_default_pruner_hands_the_sampler_every_finished_trial_of_every_bracket():
    pruner = make_pruner(StudySpec(epochs=9))
    seen, study = _run(pruner)
    # Trial k is sampled knowing all k trials before it, whichever bracket each ran in.
    assert seen == list(range(len(seen)))
    assert study.get_trials(states=(TrialState.PRUNED,)), "Hyperband still prunes"


def test_optunas_own_hyperband_pruner_would_hand_it_one_bracket():
    """The contrast that makes the test above mean something: Optuna's pruner hides other brackets' trials."""
    seen, _ = _run(optuna.pruners.HyperbandPruner(min_resource=1, max_resource=9, reduction_factor=3))
    assert seen[-1] < len(seen) - 1


def test_verdicts_are_optunas_hyperband_verdicts():
    """Same brackets, same rungs: the two pruners prune the very same trials of the same history."""
    options = {"min_resource": 1, "max_resource": 9, "reduction_factor": 3}
    _, ours = _run(WholeStudyHyperband(**options))
    _, optunas = _run(optuna.pruners.HyperbandPruner(**options))
    assert [(t.state, t.last_step) for t in ours.trials] == [(t.state, t.last_step) for t in optunas.trials]


@pytest.mark.parametrize("trials, expected", [(1, 4), (30, 4), (50, 5), (64, 7), (100, 10), (5000, 10)])
def test_random_start_up_is_a_tenth_of_the_budget_within_bounds(trials, expected):
    assert startup_trials(trials) == expected
    assert make_sampler(StudySpec(trials=trials))._n_startup_trials == expected
