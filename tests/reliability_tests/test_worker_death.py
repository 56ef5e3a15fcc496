"""SIGKILL of a worker at random points of a trial: the trial is failed, re-run with its lineage,
and the study meets its exact budget with nothing left RUNNING."""

from __future__ import annotations

import datetime
import random
import signal
import time

import pytest
from optuna.trial import FrozenTrial, TrialState

from search.core.storage import open_storage
from search.service import orphans
from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import finished, trials_of
from testing.waiting import HANG_GUARD, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "none"]
SLOW = {"HPSEARCH_TEST_EPOCH_SECONDS": "0.6"}


def _running(url, name, min_epochs):
    for t in trials_of(url, name):
        if t.state == TrialState.RUNNING and len(t.intermediate_values) >= min_epochs and t.user_attrs.get("worker"):
            return t
    return None


# `make test` kills mid-epoch; the two other moments are heavy (`.ci/run` runs them).
@pytest.mark.parametrize("moment, min_epochs, extra_delay", [
    pytest.param("before the first epoch", 0, 0.0, marks=pytest.mark.heavy),
    ("mid-epoch", 1, 0.3),
    pytest.param("while reporting", 2, 0.0, marks=pytest.mark.heavy),
])
def test_sigkill_at_a_random_point_of_a_trial(pg_url, record, moment, min_epochs, extra_delay):
    name = "death"
    run_cli("launch", name, *PACED, "--trials", "3", "--epochs", "5", storage=pg_url, check=True)
    victim = start_worker(pg_url, "--study", name, **SLOW)
    try:
        trial = wait_for(lambda: _running(pg_url, name, min_epochs), f"a trial {moment}", poll=0.05)
        time.sleep(extra_delay + random.uniform(0, 0.1))
        # As if the worker ran on another machine: only its heartbeat can give it away.
        open_storage(pg_url).optuna.set_trial_user_attr(trial._trial_id, "worker", {"host": "elsewhere", "pid": 1, "started": 0})
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(10)
        # Every worker is dead; a new one starts a little later.
        time.sleep(2)
        rescuer = start_worker(pg_url, "--study", name, "--idle-exit", "8", **SLOW)
        failed = wait_for(lambda: next((t for t in trials_of(pg_url, name) if t.number == trial.number and t.state == TrialState.FAIL), None),
                          "the dead worker's trial to be failed", poll=0.1)
        detected = time.monotonic() - killed_at
        assert rescuer.wait(HANG_GUARD) == 0
    finally:
        if victim.poll() is None:
            victim.kill()
    trials = trials_of(pg_url, name)
    retry = [t for t in trials if t.user_attrs.get("retry_of") == failed.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE
    assert retry[0].user_attrs["retry_history"] == [failed.number]
    assert finished(pg_url, name) == 3
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    # How fast is a figure, not a pass/fail rule: heartbeat 1 s, stale after 3 s, a new worker 2 s after the kill.
    record(f"worker SIGKILL {moment} (no worker alive for 2 s, then a new one)",
           f"trial {failed.number} FAIL, re-run as trial {retry[0].number} (retry_of={failed.number}); budget 3/3, none RUNNING",
           f"detected and failed {detected:.1f} s after the kill (heartbeat 1 s, grace 3 s)", storage="PostgreSQL")


def test_sigterm_and_sigint_while_idle(pg_url, record, tmp_path):
    for sig in (signal.SIGTERM, signal.SIGINT):
        log = tmp_path / f"{sig.name}.log"
        worker = start_worker(pg_url, log_path=str(log))
        # It has found nothing to do and is polling: it says so once.
        wait_for(lambda: "idle: no study has a trial to run" in log.read_text(), "the worker to go idle")
        sent = time.monotonic()
        worker.send_signal(sig)
        assert worker.wait(120) == 0, log.read_text()  # compose's stop_grace_period is 2 minutes
        record(f"{sig.name} to an idle worker", "exit 0", f"exited {time.monotonic() - sent:.1f} s after the signal",
               storage="PostgreSQL")


def _leave_row(storage, study_id: int, state: TrialState, user_attrs: dict, age_s: float) -> int:
    """Write a trial's row as a worker that died `age_s` ago left it; its number."""
    started = datetime.datetime.now() - datetime.timedelta(seconds=age_s)
    row = FrozenTrial(number=-1, state=state, value=None, datetime_start=started,
                      datetime_complete=started if state.is_finished() else None, params={}, distributions={},
                      user_attrs=user_attrs, system_attrs={}, intermediate_values={}, trial_id=-1)
    return storage.get_trial_number_from_id(storage.create_new_trial(study_id, template_trial=row))


@pytest.mark.parametrize("where", ["PostgreSQL", "embedded journal"])
def test_a_worker_killed_between_two_writes_leaves_nothing_lost(request, tmp_path, record, where):
    """What a worker killed between two writes leaves: a trial created but never heartbeat nor
    claimed (Optuna's stale check skips it), and a trial failed whose retry was never queued.
    Two workers repair both at once: one retry each, and a trial that failed on its own is not retried."""
    url = request.getfixturevalue("pg_url") if where == "PostgreSQL" else f"journal:{tmp_path / 'studies.journal'}"
    name = "gaps"
    # No portfolio: the rows below stand for trials dead workers created under the budget, so none may be
    # queued beside them (4 recipes queued plus these rows would hold more than the budget, as no claim can).
    run_cli("launch", name, *PACED, "--trials", "4", "--epochs", "2", "--no-portfolio", storage=url, check=True)
    storage = open_storage(url).optuna
    study_id = storage.get_study_id_from_name(name)
    unclaimed = _leave_row(storage, study_id, TrialState.RUNNING, {}, age_s=2 * orphans.UNCLAIMED_GRACE)
    lost = _leave_row(storage, study_id, TrialState.FAIL, {}, age_s=60)
    own_failure = _leave_row(storage, study_id, TrialState.FAIL, {"outcome": "fail", "fail_reason": "the space raised ValueError"},
                             age_s=60)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [start_worker(url, "--study", name, "--idle-exit", "20", log_path=str(p), HPSEARCH_TEST_EPOCH_SECONDS="0.2")
               for p in logs]
    codes = [w.wait(HANG_GUARD) for w in workers]
    text = "".join(p.read_text() for p in logs)
    assert codes == [0, 0], text[-3000:]

    trials = {t.number: t for t in trials_of(url, name)}
    assert trials[unclaimed].state == TrialState.FAIL
    retries = {n: [t for t in trials.values() if t.user_attrs.get("retry_of") == n] for n in (unclaimed, lost, own_failure)}
    assert [len(retries[n]) for n in (unclaimed, lost)] == [1, 1], text[-3000:]
    assert retries[own_failure] == []
    assert retries[unclaimed][0].user_attrs["retry_reason"] == orphans.UNCLAIMED
    assert retries[lost][0].user_attrs["retry_reason"] == orphans.LOST
    assert all(r[0].state == TrialState.COMPLETE for r in (retries[unclaimed], retries[lost]))
    assert finished(url, name) == 4
    assert not [t for t in trials.values() if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert f"trial={unclaimed}] never started by its worker: failed" in text
    assert "Traceback" not in text
    record(f"rows a killed worker leaves between two writes ({where}): a trial created but never claimed, "
           "a lost trial failed but never queued again; two workers repair at once",
           "each re-run once with its lineage, a trial that failed on its own not re-run, budget 4/4", storage=where)
