"""16 workers, hundreds of trials, several studies at once: unique numbers, exact budgets, nothing stuck."""

from __future__ import annotations

import os

import time

import pytest
from optuna.trial import TrialState

from tests.conftest import run_cli, start_worker
from tests.search_tests.helpers import trials_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# A trainer that does no training: two epochs reported at once, behind the same reporter protocol.
FAST = ["--trainer", "tests.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "median",
        "--epochs", "2"]


def _run(url, studies: dict[str, int], workers: int) -> float:
    for name, budget in studies.items():
        run_cli("launch", name, *FAST, "--trials", str(budget), storage=url, check=True)
    started = time.monotonic()
    procs = [start_worker(url, "--idle-exit", "6", HPSEARCH_TEST_EPOCH_SECONDS="0") for _ in range(workers)]
    codes = [p.wait(900) for p in procs]
    assert codes == [0] * workers
    return time.monotonic() - started - 6  # the last idle wait is not work


def _check(url, name, budget):
    trials = trials_of(url, name)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) and sorted(numbers) == list(range(len(numbers)))
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == budget, (name, len(done), budget)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    return trials


def test_sixteen_workers_on_one_study_of_two_hundred_trials(pg_url, record):
    seconds = _run(pg_url, {"load": 200}, workers=16)
    trials = _check(pg_url, "load", 200)
    failed = sum(t.state == TrialState.FAIL for t in trials)
    assert failed == 0
    startup = sorted(t.user_attrs["startup_seconds"] for t in trials if "startup_seconds" in t.user_attrs)
    record("16 workers, one study of 200 trials (no-training trainer)",
           "200/200 finished, trial numbers unique, none RUNNING or WAITING, no failures, no deadlock",
           f"{200 / seconds * 3600:.0f} trials/hour on {len(os.sched_getaffinity(0))} cores; median trial process start {startup[len(startup) // 2]:.2f} s",
           storage="PostgreSQL")


def test_sixteen_workers_on_several_studies_at_once(pg_url, record):
    studies = {"a": 30, "b": 20, "c": 15}
    seconds = _run(pg_url, studies, workers=16)
    for name, budget in studies.items():
        _check(pg_url, name, budget)
    record("16 workers, 3 studies at once (30, 20, 15 trials)", "every budget exact, numbers unique per study, nothing stuck",
           f"{sum(studies.values()) / seconds * 3600:.0f} trials/hour", storage="PostgreSQL")
