"""`launch --early-check`: the pruner's first verdict part-way through a trial's first epoch."""

from __future__ import annotations

from optuna.trial import TrialState

from search.core.early_check import EARLY_CHECK_ATTR, verdict
from testing.cli import run_cli
from tests.search_tests.helpers import trials_of

# testing.doubles:checked: trials 0, 3, 6, 9, 12 (training seed = trial number) check at chance (0.10), the others at 0.60-0.70.
DOUBLE = ("--space", "small", "--epochs", "2", "--weights", "none", "--trainer", "testing.doubles:checked", "--no-portfolio")


def test_a_lost_cause_is_pruned_at_the_check_once_the_study_has_seen_enough_checks(journal_url):
    launched = run_cli("launch", "ec", *DOUBLE, "--trials", "13", "--early-check", "0.25", storage=journal_url, check=True)
    assert "pruner hyperband (first verdict after 25% of epoch 1)" in launched.stdout
    worker = run_cli("worker", "--study", "ec", "--idle-exit", "5", storage=journal_url, check=True)
    trials = trials_of(journal_url, "ec")
    assert len(trials) == 13
    at_check = {t.number for t in trials if t.state == TrialState.PRUNED and list(t.intermediate_values) == [0]}
    # Trials 0 and 3 come before five other checks exist: the rule waits, and the first epoch's rung judges them.
    assert at_check == {6, 9, 12}
    assert "pruned at the check after 25% of epoch 1" in worker.stderr
    for t in trials:
        check = t.user_attrs[EARLY_CHECK_ATTR]
        assert check["fraction"] == 0.25 and check["examples"] == 2000 and check["standard_error"] == 0.01
        assert t.intermediate_values[0] == check["value"]
        # Epochs keep their steps (1, 2), after the check's step 0.
        assert sorted(t.intermediate_values) == list(range(len(t.intermediate_values)))


def test_without_the_option_no_check_is_reported(journal_url):
    run_cli("launch", "plain", *DOUBLE, "--trials", "2", storage=journal_url, check=True)
    run_cli("worker", "--study", "plain", "--idle-exit", "5", storage=journal_url, check=True)
    for t in trials_of(journal_url, "plain"):
        assert 0 not in t.intermediate_values and EARLY_CHECK_ATTR not in t.user_attrs


def test_a_close_call_is_left_to_the_first_epoch_and_error_objectives_are_mirrored():
    others = [0.50, 0.55, 0.60, 0.70, 0.80, 0.90]  # the worst third's line is at about 0.58
    assert verdict(0.40, 0.02, others, maximize=True)
    assert not verdict(0.55, 0.02, others, maximize=True)  # below the line, within two standard errors of it
    assert not verdict(0.40, 0.02, others[:4], maximize=True)  # too few checks yet
    errors = [1 - v for v in others]
    assert verdict(0.60, 0.02, errors, maximize=False) and not verdict(0.45, 0.02, errors, maximize=False)


def test_bad_early_check_values_are_refused_in_one_line(journal_url):
    for args, message in [(("--early-check", "1.5"), "--early-check is a share of the first epoch, from 0 (off) to below 1"),
                          (("--early-check", "0.25", "--pruner", "none"), "--early-check gives the pruner an earlier verdict"),
                          (("--set", "training.early_check=0.2"), "--set training.early_check: use --early-check instead")]:
        proc = run_cli("launch", "bad", *DOUBLE, *args, storage=journal_url)
        assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr
