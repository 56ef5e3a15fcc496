"""16 workers, hundreds of trials, several studies at once: unique numbers, exact budgets, nothing stuck."""

from __future__ import annotations

import os
import time

import pytest
from optuna.trial import TrialState

from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import trials_of

# Heavy (left out of `make test`, run by `.ci/run`): 16 workers for minutes; the lighter sibling in
# `make test` is test_workers_pg.py's four workers meeting a 12-trial budget exactly.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.heavy]

# A trainer that does no training: two epochs reported at once, behind the same reporter protocol.
FAST = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "median",
        "--epochs", "2"]


def _run(url, studies: dict[str, int], workers: int, logs) -> float:
    for name, budget in studies.items():
        run_cli("launch", name, *FAST, "--trials", str(budget), storage=url, check=True)
    started = time.monotonic()
    paths = [logs / f"worker{i}.log" for i in range(workers)]
    # 16 workers and their trial processes on 2 cores starve threads for seconds at a time: the 1 s
    # heartbeat the other tests use (stale after 3 s) would call live trials lost. This test is about
    # budgets and numbering under load, so it uses a heartbeat nearer production's (10 s).
    procs = [start_worker(url, "--idle-exit", "6", log_path=str(p), HPSEARCH_TEST_EPOCH_SECONDS="0", HPSEARCH_HEARTBEAT="5")
             for p in paths]
    codes = [p.wait(900) for p in procs]
    assert codes == [0] * workers, [p.read_text()[-3000:] for p, code in zip(paths, codes) if code != 0]
    return time.monotonic() - started - 6  # the last idle wait is not work


def _check(url, name, budget):
    trials = trials_of(url, name)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) and sorted(numbers) == list(range(len(numbers)))
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == budget, (name, len(done), budget)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    return trials


def test_sixteen_workers_on_one_study_of_two_hundred_trials(pg_url, record, tmp_path):
    seconds = _run(pg_url, {"load": 200}, workers=16, logs=tmp_path)
    trials = _check(pg_url, "load", 200)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    assert failed == 0
    # A trial prepared ahead started in its process before its turn: its start is not the process's.
    ahead = sum("prepared_seconds" in t.user_attrs for t in trials)
    startup = sorted(t.user_attrs["startup_seconds"] for t in trials
                     if "startup_seconds" in t.user_attrs and "prepared_seconds" not in t.user_attrs)
    median = f"median trial process start {startup[len(startup) // 2]:.2f} s" if startup else "no trial process started at its turn"
    record("16 workers, one study of 200 trials (no-training trainer; heartbeat 5 s)",
           "200/200 finished, trial numbers unique, none RUNNING or WAITING, no failures, no deadlock",
           f"{200 / seconds * 3600:.0f} trials/hour on {len(os.sched_getaffinity(0))} cores; {ahead} trials prepared ahead; "
           f"{median} for the others", storage="PostgreSQL")


def test_sixteen_workers_on_several_studies_at_once(pg_url, record, tmp_path):
    studies = {"a": 30, "b": 20, "c": 15}
    seconds = _run(pg_url, studies, workers=16, logs=tmp_path)
    for name, budget in studies.items():
        _check(pg_url, name, budget)
    record("16 workers, 3 studies at once (30, 20, 15 trials; heartbeat 5 s)", "every budget exact, numbers unique per study, nothing stuck",
           f"{sum(studies.values()) / seconds * 3600:.0f} trials/hour", storage="PostgreSQL")
