"""A worker claims its next trial while the current one trains its last epoch, and its standby prepares it.

The next trial then starts training the moment the current one ends; two trials never train at once
in one worker; --trials still holds exactly; a worker stopped with a trial claimed ahead queues it again.
"""

from __future__ import annotations

import json
import signal

import pytest
from optuna.trial import TrialState

from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import finished, states, trials_of
from testing.waiting import HANG_GUARD, wait_for

LOGGED = ["--trainer", "testing.doubles_faults:logged", "--space", "small", "--weights", "none", "--pruner", "none"]


def test_trials_are_prepared_ahead_never_train_at_once_and_the_budget_holds(journal_url, tmp_path):
    training_log = tmp_path / "training.jsonl"
    run_cli("launch", "ahead", *LOGGED, "--trials", "4", "--epochs", "3", storage=journal_url, check=True)
    log_path = tmp_path / "worker.log"
    worker = start_worker(journal_url, "--study", "ahead", "--idle-exit", "5", log_path=str(log_path),
                          HPSEARCH_TEST_EPOCH_SECONDS="0.3", HPSEARCH_TEST_TRAINING_LOG=str(training_log))
    assert worker.wait(HANG_GUARD) == 0, log_path.read_text()
    trials = trials_of(journal_url, "ahead")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4  # exactly --trials, none lost or extra
    # Every trial after the first was claimed during its predecessor's last epoch and prepared by then.
    assert [("prepared_seconds" in t.user_attrs) for t in trials] == [False, True, True, True]
    assert all(a.datetime_start < b.datetime_start <= a.datetime_complete for a, b in zip(trials, trials[1:]))
    runs = sorted((json.loads(line) for line in training_log.read_text().splitlines()), key=lambda r: r["began"])
    assert len(runs) == 4
    for before, after in zip(runs, runs[1:]):
        assert after["began"] >= before["ended"], "a trial prepared ahead trained beside the current one"
    log = log_path.read_text()
    assert "[study=ahead trial=1] claimed ahead, while the worker's current trial finishes" in log
    assert "[study=ahead trial=1] started (prepared ahead)" in log


def test_a_worker_stopped_with_a_trial_claimed_ahead_queues_it_again(journal_url, tmp_path):
    run_cli("launch", "stop", *LOGGED, "--trials", "3", "--epochs", "4", storage=journal_url, check=True)
    env = {"HPSEARCH_TEST_EPOCH_SECONDS": "1.0", "HPSEARCH_TEST_TRAINING_LOG": str(tmp_path / "training.jsonl")}
    worker = start_worker(journal_url, "--study", "stop", **env)
    try:
        # One worker, two running trials: the current one on its last epoch, the next claimed ahead.
        wait_for(lambda: states(journal_url, "stop").get("RUNNING") == 2, "a trial claimed ahead")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(HANG_GUARD) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    trials = trials_of(journal_url, "stop")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    before_turn = [t for t in trials if "before its turn" in t.user_attrs.get("fail_reason", "")]
    assert len(before_turn) == 1 and before_turn[0].state == TrialState.FAIL
    # Nothing is lost: it waits in the queue with the parameters it was sampled with.
    retry = next(t for t in trials if t.user_attrs.get("retry_of") == before_turn[0].number)
    assert retry.state == TrialState.WAITING and retry.params == before_turn[0].params
    again = start_worker(journal_url, "--study", "stop", "--idle-exit", "5", **{**env, "HPSEARCH_TEST_EPOCH_SECONDS": "0.05"})
    assert again.wait(HANG_GUARD) == 0
    assert finished(journal_url, "stop") == 3


@pytest.mark.slow
def test_real_trials_prepared_ahead_complete_with_their_start_up_counted_from_their_turn(journal_url, tmp_path):
    """On the real trainer (digits): the standby builds and rehearses the next trial, then trains it on its turn.

    How much sooner it starts is a benchmark's figure (benchmark 6: `python -m benchmarks.data`), not
    a timed assertion here: on a busy machine both trials' first steps stretch."""
    run_cli("launch", "real", "--space", "small", "--weights", "none", "--trials", "3", "--epochs", "2",
            "--pruner", "none", storage=journal_url, check=True)
    log_path = tmp_path / "worker.log"
    worker = start_worker(journal_url, "--study", "real", "--idle-exit", "5", log_path=str(log_path))
    assert worker.wait(600) == 0, log_path.read_text()
    trials = trials_of(journal_url, "real")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert "prepared_seconds" not in trials[0].user_attrs
    for t in trials[1:]:
        a = t.user_attrs
        assert a["prepared_seconds"] > 0 and a["first_step_seconds"] > 0, (t.number, a)
        assert 0 <= a["startup_seconds"] < a["prepared_seconds"], (t.number, a)  # its process was ready before its turn
    log = log_path.read_text()
    assert "[study=real trial=2] started (prepared ahead)" in log and "Traceback" not in log

def test_the_trial_claimed_ahead_is_a_dead_workers_trial_queued_again_first(journal_url, tmp_path):
    """Claiming ahead repairs first, as every claim does: a lost trial's retry goes before new trials,
    and the budget counts it (a retry found only later would run past --trials)."""
    from search.core.storage import open_storage
    from tests.reliability_tests.test_worker_death import _leave_row

    # No portfolio: its queued recipes are older than the retry, so they, not the retry, would be claimed next.
    run_cli("launch", "lost", *LOGGED, "--trials", "3", "--epochs", "6", "--no-portfolio", storage=journal_url,
            check=True)
    env = {"HPSEARCH_TEST_EPOCH_SECONDS": "0.5", "HPSEARCH_TEST_TRAINING_LOG": str(tmp_path / "training.jsonl")}
    log_path = tmp_path / "worker.log"
    worker = start_worker(journal_url, "--study", "lost", "--idle-exit", "5", log_path=str(log_path), **env)
    try:
        # While trial 0 trains (its last epoch is at least 2 s away), a dead worker's trial appears:
        # failed, its retry never queued.
        wait_for(lambda: any(t.intermediate_values for t in trials_of(journal_url, "lost")), "trial 0's first epoch")
        storage = open_storage(journal_url).optuna
        lost = _leave_row(storage, storage.get_study_id_from_name("lost"), TrialState.FAIL, {}, age_s=60)
        assert worker.wait(HANG_GUARD) == 0, log_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    trials = {t.number: t for t in trials_of(journal_url, "lost")}
    (retry,) = [t for t in trials.values() if t.user_attrs.get("retry_of") == lost]
    assert "prepared_seconds" in retry.user_attrs and retry.datetime_start < trials[0].datetime_complete
    assert finished(journal_url, "lost") == 3
