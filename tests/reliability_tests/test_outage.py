"""The database goes away mid-study and comes back; so does everything at once (resume)."""

from __future__ import annotations

import signal
import time

import pytest
from optuna.trial import TrialState

from tests.conftest import run_cli, start_worker
from tests.search_tests.helpers import finished, trials_of, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "tests.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "none"]


def test_database_outage_longer_than_a_heartbeat(own_postgres, tmp_path, record):
    url = own_postgres.create_database("outage")
    run_cli("launch", "outage", *PACED, "--trials", "8", "--epochs", "6", storage=url, check=True)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [start_worker(url, "--study", "outage", "--idle-exit", "10", log_path=str(p), HPSEARCH_TEST_EPOCH_SECONDS="0.4")
               for p in logs]
    try:
        wait_for(lambda: finished(url, "outage") >= 2, 120, "two finished trials")
        before = {t.number: t.state for t in trials_of(url, "outage") if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
        own_postgres.stop()
        down = 8.0  # heartbeat 1 s, stale after 3 s: the outage outlasts both
        time.sleep(down)
        own_postgres.start()
        restarted = time.monotonic()
        wait_for(lambda: finished(url, "outage") > len(before), 120, "a trial to finish after the restart")
        recovered = time.monotonic() - restarted
        codes = [w.wait(240) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert codes == [0, 0], [p.read_text()[-3000:] for p in logs]
    trials = trials_of(url, "outage")
    after = {t.number: t.state for t in trials}
    assert all(after[n] == s for n, s in before.items()), "a finished trial was lost"
    assert finished(url, "outage") == 8
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    text = "".join(p.read_text() for p in logs)
    assert "storage unreachable" in text or "heartbeat failed" in text
    assert "Traceback" not in text
    failed = [t for t in trials if t.state == TrialState.FAIL]
    record(f"PostgreSQL stopped for {down:.0f} s mid-study (2 workers, trials running)",
           f"workers logged it, backed off, reconnected; study completed 8/8; {len(before)} finished trials kept; "
           f"{len(failed)} trials failed and re-run",
           f"first trial finished {recovered:.1f} s after the server came back")


def test_resume_after_stopping_every_worker_and_the_database(own_postgres, record):
    url = own_postgres.create_database("resume")
    run_cli("launch", "resume", *PACED, "--trials", "6", "--epochs", "5", storage=url, check=True)
    run_cli("launch", "other", *PACED, "--trials", "3", "--epochs", "5", storage=url, check=True)
    workers = [start_worker(url, HPSEARCH_TEST_EPOCH_SECONDS="0.4") for _ in range(2)]
    wait_for(lambda: finished(url, "resume") >= 2, 120, "progress")
    for w in workers:
        w.send_signal(signal.SIGTERM)
    assert [w.wait(30) for w in workers] == [0, 0]
    own_postgres.stop()
    # The new workers start before the database is back (as compose may start them): they wait.
    workers = [start_worker(url, "--idle-exit", "8", HPSEARCH_TEST_EPOCH_SECONDS="0.1") for _ in range(2)]
    time.sleep(3)
    assert all(w.poll() is None for w in workers), "a worker gave up on a database that is still starting"
    own_postgres.start()
    started = time.monotonic()
    assert [w.wait(240) for w in workers] == [0, 0]
    for name, budget in (("resume", 6), ("other", 3)):
        trials = trials_of(url, name)
        assert finished(url, name) == budget
        assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    interrupted = 0
    for name in ("resume", "other"):
        trials = trials_of(url, name)
        for t in trials:
            if t.user_attrs.get("outcome") == "interrupted":
                interrupted += 1
                retries = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
                assert retries and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    assert interrupted >= 1, "SIGTERM mid-trial must interrupt a trial"
    record("every worker stopped (SIGTERM) and PostgreSQL stopped; new workers started before it came back",
           f"both studies continued to their budgets (6/6 and 3/3); {interrupted} interrupted trials re-run",
           f"finished {time.monotonic() - started:.0f} s after the restart")
