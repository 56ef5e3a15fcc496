"""A new study runs its space's proven recipes first, inside its budget; --no-portfolio and zoom skip them."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from search.core.storage import open_storage
from search.service.studies import PORTFOLIO_ATTR
from spaces import get_space
from spaces.portfolio import portfolio
from testing.cli import run_cli
from tests.search_tests.helpers import trials_of

DOUBLE = ("--space", "small", "--epochs", "2", "--pruner", "none", "--weights", "none", "--trainer", "testing.doubles:sized")


def test_the_recipes_run_first_with_their_parameters_and_count_in_the_budget(journal_url):
    recipes = portfolio(get_space("small"))
    launched = run_cli("launch", "p", *DOUBLE, "--trials", str(len(recipes) + 2), storage=journal_url, check=True)
    assert f"first, {len(recipes)} proven recipes of space small: {recipes[0][0].name}" in launched.stdout
    run_cli("worker", "--study", "p", "--idle-exit", "5", storage=journal_url, check=True)
    trials = trials_of(journal_url, "p")
    assert len(trials) == len(recipes) + 2 and all(t.state == TrialState.COMPLETE for t in trials)
    first = trials[: len(recipes)]
    assert [t.user_attrs[PORTFOLIO_ATTR] for t in first] == [r.name for r, _ in recipes]
    for t, (_, params) in zip(first, recipes):
        assert t.params == params
    assert not any(PORTFOLIO_ATTR in t.user_attrs for t in trials[len(recipes):])  # then sampled


def test_a_budget_smaller_than_the_portfolio_runs_its_first_recipes_only(journal_url):
    run_cli("launch", "few", *DOUBLE, "--trials", "2", storage=journal_url, check=True)
    run_cli("worker", "--study", "few", "--idle-exit", "5", storage=journal_url, check=True)
    trials = trials_of(journal_url, "few")
    assert [t.user_attrs.get(PORTFOLIO_ATTR) for t in trials] == [r.name for r, _ in portfolio(get_space("small"))[:2]]


def test_no_portfolio_queues_nothing_and_a_resume_queues_nothing_again(journal_url):
    launched = run_cli("launch", "plain", *DOUBLE, "--trials", "2", "--no-portfolio", storage=journal_url, check=True)
    assert "proven recipes" not in launched.stdout
    study = optuna.load_study(study_name="plain", storage=open_storage(journal_url).optuna)
    assert study.get_trials() == []

    run_cli("launch", "again", *DOUBLE, "--trials", "5", storage=journal_url, check=True)
    queued = len(trials_of(journal_url, "again"))
    resumed = run_cli("launch", "again", *DOUBLE, "--trials", "9", "--resume", storage=journal_url, check=True)
    assert "proven recipes" not in resumed.stdout and len(trials_of(journal_url, "again")) == queued
