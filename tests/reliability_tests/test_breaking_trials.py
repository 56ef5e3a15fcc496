"""Trials that break in every way we know: each fails alone with its reason; the worker goes on;
a study whose every trial fails halts with a clear message instead of spinning forever."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from search.service.orphans import MAX_RETRIES
from testing.cli import run_cli, start_worker
from testing.waiting import HANG_GUARD
from tests.search_tests.helpers import trials_of

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

BASE = ["--space", "small", "--weights", "none", "--pruner", "none", "--epochs", "2"]

CASES = {
    "segfault": ("a trial process that segfaults", "trial process crashed (SIGSEGV)"),
    "out_of_memory": ("a trial process killed for memory (SIGKILL)", "trial process was killed (SIGKILL"),
    "memory_error": ("a trial that runs out of memory (MemoryError)", "out of memory (MemoryError): Unable to allocate"),
    "hang": ("a trial that hangs past the per-trial timeout (3 s)", "timed out after 3 s"),
    "nan_loss": ("a trial whose loss becomes NaN", "loss became NaN or infinite at epoch 1"),
    "broken_model": ("a trial that raises inside model building", "ValueError: Input 0 of layer 'conv' is incompatible"),
}


def test_each_broken_trial_fails_alone_and_the_worker_goes_on(pg_url, record):
    for double in CASES:
        # Only the hanging trial is meant to meet its timeout; the others get one they cannot reach
        # on a busy machine, so each fails for its own reason.
        timeout = "3" if double == "hang" else "600"
        run_cli("launch", double, *BASE, "--trainer", f"testing.doubles_faults:{double}", "--trials", "1",
                "--max-failures", "2", "--trial-timeout", timeout, storage=pg_url, check=True)
    run_cli("launch", "healthy", *BASE, "--trainer", "testing.doubles_faults:paced", "--trials", "3",
            storage=pg_url, check=True)
    worker = start_worker(pg_url, "--idle-exit", "5")
    assert worker.wait(900) == 0
    for double, (fault, reason) in CASES.items():
        trials = trials_of(pg_url, double)
        assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL], double
        for t in trials:
            assert reason in t.user_attrs["fail_reason"], (double, t.user_attrs["fail_reason"])
        record(fault, f"trial FAIL with fail_reason \"{trials[0].user_attrs['fail_reason'][:70]}\"; study halted after 2; worker went on",
               storage="PostgreSQL")
    # The same worker finished the healthy study too.
    assert sum(t.state == TrialState.COMPLETE for t in trials_of(pg_url, "healthy")) == 3


def test_a_study_whose_every_trial_fails_halts_with_a_clear_message(pg_url, tmp_path, record):
    proc = run_cli("launch", "doomed", *BASE, "--trainer", "testing.doubles_faults:segfault", "--trials", "5",
                   "--max-failures", "3", "--workers", "1", "--log-dir", str(tmp_path), storage=pg_url)
    assert proc.returncode == 1
    assert "study 'doomed' halted: the last 3 trials failed (latest: trial process crashed (SIGSEGV))" in proc.stderr
    status = run_cli("status", storage=pg_url, check=True)
    assert "halted" in status.stdout
    # Fixing the cause and resuming un-halts it.
    resumed = run_cli("launch", "doomed", *BASE, "--trainer", "testing.doubles_faults:segfault", "--resume", storage=pg_url)
    assert resumed.returncode == 0
    assert "halted" not in run_cli("status", storage=pg_url, check=True).stdout
    record("a study whose every trial fails", "halted after --max-failures (3) failures in a row; "
           "launch --workers exits 1 naming the cause; --resume un-halts", storage="PostgreSQL")


def test_a_study_whose_every_trial_kills_its_worker_halts_once_a_configuration_is_given_up(pg_url, tmp_path):
    run_cli("launch", "killer", *BASE, "--trainer", "testing.doubles_faults:kills_its_worker", "--trials", "10", "--no-portfolio",
            "--max-failures", "1", storage=pg_url, check=True)
    # As a restart policy does: a new worker each time one dies. Each repairs its predecessor's trial
    # and runs the retry, until the configuration is given up and counts as a failure.
    exits = []
    for attempt in range(MAX_RETRIES + 3):
        worker = start_worker(pg_url, "--study", "killer", "--idle-exit", "5", log_path=str(tmp_path / f"w{attempt}.log"))
        exits.append(worker.wait(HANG_GUARD))
        if exits[-1] == 0:  # it found nothing to do: the study is halted
            break
    assert exits == [-9] * (MAX_RETRIES + 1) + [0], exits
    trials = trials_of(pg_url, "killer")
    assert [t.state for t in trials] == [TrialState.FAIL] * (MAX_RETRIES + 1)  # nothing left RUNNING or WAITING
    assert [t.user_attrs.get("retry_of") for t in trials] == [None, *range(MAX_RETRIES)]
    status = run_cli("status", storage=pg_url, check=True).stdout
    assert "halted" in status
    log = (tmp_path / f"w{MAX_RETRIES + 1}.log").read_text()
    assert f"trial={MAX_RETRIES}] lost {MAX_RETRIES + 1} times: not queued again" in log
    assert "[study=killer] halted: the last 1 trials failed" in log
