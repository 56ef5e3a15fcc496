"""The database goes away mid-study and comes back; so does everything at once (resume)."""

from __future__ import annotations

import re
import signal
import time

import pytest
from optuna.trial import TrialState

from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import finished, trials_of
from testing.waiting import HANG_GUARD, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "none"]


def test_database_outage_longer_than_a_heartbeat(own_postgres, tmp_path, record):
    url = own_postgres.create_database("outage")
    run_cli("launch", "outage", *PACED, "--trials", "8", "--epochs", "6", storage=url, check=True)
    logs = [tmp_path / f"w{i}.log" for i in range(2)]
    workers = [start_worker(url, "--study", "outage", "--idle-exit", "10", log_path=str(p), HPSEARCH_TEST_EPOCH_SECONDS="0.4")
               for p in logs]
    try:
        wait_for(lambda: finished(url, "outage") >= 2, "two finished trials")
        before = {t.number: t.state for t in trials_of(url, "outage") if t.state in (TrialState.COMPLETE, TrialState.PRUNED)}
        own_postgres.stop()
        down = 8.0  # heartbeat 1 s, stale after 3 s: the outage outlasts both
        time.sleep(down)
        own_postgres.start()
        restarted = time.monotonic()
        wait_for(lambda: finished(url, "outage") > len(before), "a trial to finish after the restart")
        recovered = time.monotonic() - restarted
        codes = [w.wait(HANG_GUARD) for w in workers]
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
    assert "storage unreachable" in text
    assert "Traceback" not in text
    # Back-off: every wait is 1 s (a fresh start) or twice the previous one of the same retry loop.
    waits = [backoff_waits(p.read_text()) for p in logs]
    for per_loop in waits:
        for loop, delays in per_loop.items():
            for previous, delay in zip(delays, delays[1:]):
                assert delay in (1, min(2 * previous, 30)), (loop, delays)
    longest = max(max(d) for per_loop in waits for d in per_loop.values())
    assert longest >= 4, waits  # an 8 s outage outlasts 1 + 2 s: the waits did double
    # Both workers lived through the outage: none of their trials may be called stale afterwards.
    assert "heartbeat stale" not in text and "already failed this trial as stale" not in text
    assert not [t for t in trials if "heartbeat" in str(t.user_attrs.get("retry_reason", ""))]
    failed = [t for t in trials if t.state == TrialState.FAIL]
    record(f"PostgreSQL stopped for {down:.0f} s mid-study (2 workers, trials running)",
           f"workers logged it, backed off ({' s, '.join(map(str, _longest_run(waits)))} s), reconnected; study completed "
           f"8/8; {len(before)} finished trials kept; no live trial failed as stale; {len(failed)} trials failed and re-run",
           f"first trial finished {recovered:.1f} s after the server came back", storage="PostgreSQL")


RETRY = re.compile(r"storage unreachable( while [^(]*)? \(.*\); retrying in (\d+) s")


def backoff_waits(log: str) -> dict[str, list[int]]:
    """The waits each retry loop of one worker logged, in order (the worker loop, or 'while <what>')."""
    out: dict[str, list[int]] = {}
    for match in RETRY.finditer(log):
        out.setdefault((match.group(1) or "worker loop").strip(), []).append(int(match.group(2)))
    return out


def _longest_run(waits: list[dict[str, list[int]]]) -> list[int]:
    return max((d for per_loop in waits for d in per_loop.values()), key=len)


def _mid_trial(url: str, pids: set[int]) -> bool:
    """True when every one of these workers runs a trial that has reported an epoch and has epochs to go."""
    busy = set()
    for name in ("resume", "other"):
        for t in trials_of(url, name):
            if t.state == TrialState.RUNNING and 1 <= len(t.intermediate_values) <= 3:
                busy.add((t.user_attrs.get("worker") or {}).get("pid"))
    return pids <= busy


# Heavy (`.ci/run` runs it, `make test` leaves it out): both halves are in `make test` alone, a
# database outage (above) and a stopped trial resumed by a new worker (test_resume.py).
@pytest.mark.heavy
def test_resume_after_stopping_every_worker_and_the_database(own_postgres, tmp_path, record):
    url = own_postgres.create_database("resume")
    run_cli("launch", "resume", *PACED, "--trials", "6", "--epochs", "5", storage=url, check=True)
    run_cli("launch", "other", *PACED, "--trials", "3", "--epochs", "5", storage=url, check=True)
    # 1 s epochs: a trial that has reported 1 to 3 of its 5 epochs still has 2 s or more to run.
    workers = [start_worker(url, HPSEARCH_TEST_EPOCH_SECONDS="1.0") for _ in range(2)]
    wait_for(lambda: finished(url, "resume") + finished(url, "other") >= 2, "progress")
    wait_for(lambda: _mid_trial(url, {w.pid for w in workers}), "both workers mid-trial", poll=0.1)
    for w in workers:
        w.send_signal(signal.SIGTERM)
    assert [w.wait(120) for w in workers] == [0, 0]  # compose's stop_grace_period is 2 minutes
    own_postgres.stop()
    # The new workers start before the database is back (as compose may start them): they wait.
    logs = [tmp_path / f"new{i}.log" for i in range(2)]
    workers = [start_worker(url, "--idle-exit", "8", log_path=str(p), HPSEARCH_TEST_EPOCH_SECONDS="0.1") for p in logs]
    for p in logs:  # each has tried, found no database, and is waiting to try again
        wait_for(lambda: "retrying in" in p.read_text(), f"{p.name} to find the database down")
    assert all(w.poll() is None for w in workers), "a worker gave up on a database that is still starting"
    own_postgres.start()
    started = time.monotonic()
    assert [w.wait(HANG_GUARD) for w in workers] == [0, 0]
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
    assert interrupted == 2, "SIGTERM mid-trial must interrupt each worker's trial"
    record("every worker stopped (SIGTERM) mid-trial and PostgreSQL stopped; new workers started before it came back",
           f"both studies continued to their budgets (6/6 and 3/3); the {interrupted} interrupted trials re-run",
           f"finished {time.monotonic() - started:.0f} s after the restart", storage="PostgreSQL")
