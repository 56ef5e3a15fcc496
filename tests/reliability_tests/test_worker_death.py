"""SIGKILL of a worker at random points of a trial: the trial is failed, re-run with its lineage,
and the study meets its exact budget with nothing left RUNNING."""

from __future__ import annotations

import random
import signal
import time

import pytest
from optuna.trial import TrialState

from search.core.storage import open_storage
from tests.conftest import run_cli, start_worker
from tests.search_tests.helpers import finished, trials_of, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "tests.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "none"]
SLOW = {"HPSEARCH_TEST_EPOCH_SECONDS": "0.6"}


def _running(url, name, min_epochs):
    for t in trials_of(url, name):
        if t.state == TrialState.RUNNING and len(t.intermediate_values) >= min_epochs and t.user_attrs.get("worker"):
            return t
    return None


@pytest.mark.parametrize("moment, min_epochs, extra_delay", [
    ("before the first epoch", 0, 0.0),
    ("mid-epoch", 1, 0.3),
    ("while reporting", 2, 0.0),
])
def test_sigkill_at_a_random_point_of_a_trial(pg_url, record, moment, min_epochs, extra_delay):
    name = "death"
    run_cli("launch", name, *PACED, "--trials", "3", "--epochs", "5", storage=pg_url, check=True)
    victim = start_worker(pg_url, "--study", name, **SLOW)
    try:
        trial = wait_for(lambda: _running(pg_url, name, min_epochs), 90, f"a trial {moment}", poll=0.05)
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
                          60, "the dead worker's trial to be failed", poll=0.1)
        detected = time.monotonic() - killed_at
        assert rescuer.wait(120) == 0
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
        wait_for(lambda: "idle: no study has a trial to run" in log.read_text(), 120, "the worker to go idle")
        sent = time.monotonic()
        worker.send_signal(sig)
        assert worker.wait(120) == 0, log.read_text()  # compose's stop_grace_period is 2 minutes
        record(f"{sig.name} to an idle worker", "exit 0", f"exited {time.monotonic() - sent:.1f} s after the signal",
               storage="PostgreSQL")
