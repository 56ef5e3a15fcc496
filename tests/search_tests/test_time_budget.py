"""`launch --time-budget`: no trial starts once it is spent, running trials finish, status says why."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from search.core.budget import CLOCK_ATTR, DurationError, describe_duration, parse_duration
from search.core.storage import open_storage
from search.service import studies
from tests.conftest import run_cli
from tests.search_tests.helpers import trials_of

# Seconds the claim's own writes may take between the budget check and the trial's row (a busy machine).
CLAIM_WRITE_SLACK = 2.0


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("60m", 3600), ("1.5h", 5400), ("1h30m", 5400), ("45", 45), ("2d", 172800)])
def test_durations_read_as_people_write_them(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(describe_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["5q", "m", "-3m", "0", "1h30", ""])
def test_unreadable_durations_are_refused(text):
    with pytest.raises(DurationError):
        parse_duration(text)


def test_a_bad_time_budget_is_one_line_and_creates_nothing(journal_url):
    proc = run_cli("launch", "t", "--time-budget", "an hour", storage=journal_url)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1 and "--time-budget" in proc.stderr and "60m" in proc.stderr
    assert "no studies" in run_cli("status", storage=journal_url, check=True).stdout


def _clock(url: str, name: str) -> float:
    return studies.load(open_storage(url), name).user_attrs[CLOCK_ATTR]["started"]


@pytest.mark.slow
def test_time_budget_stops_new_trials_lets_running_ones_finish_and_resume_gives_a_fresh_allowance(journal_url, tmp_path):
    # A budget of 2 s is shorter than any real trial here (the trial process alone imports TensorFlow):
    # trials claimed in those 2 s run well past it, and must finish, not be cut.
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("optimizer: adam\naugment_policy: none\nbatch_size: [64]\ndepth: {low: 1, high: 1}\n")
    logs = str(tmp_path / "logs")
    proc = run_cli("launch", "timed", "--space", "small", "--trials", "100", "--epochs", "2", "--pruner", "none",
                   "--time-budget", "2s", "--narrow", str(narrow), "--workers", "2", "--log-dir", logs,
                   storage=journal_url, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "100 trials within 2s" in proc.stdout
    assert "ended, time budget of 2s spent" in proc.stdout  # the table's footnote

    started = _clock(journal_url, "timed")
    trials = trials_of(journal_url, "timed")
    assert 1 <= len(trials) <= 4, [t.number for t in trials]  # two workers, a 2 s window: far from 100
    for t in trials:
        assert t.datetime_start.timestamp() <= started + 2.0 + CLAIM_WRITE_SLACK, t.number
    assert all(t.state == TrialState.COMPLETE for t in trials), [(t.number, t.state.name) for t in trials]
    assert max(t.datetime_complete.timestamp() for t in trials) > started + 2.0  # finished after the budget

    status = json.loads(run_cli("status", "timed", "--format", "json", storage=journal_url, check=True).stdout)["study"]
    assert status["state"] == "done" and status["ended"] == "time budget of 2s spent"
    assert status["time_budget_seconds"] == 2.0 and status["time_left_seconds"] == 0.0 and status["eta_seconds"] == 0.0
    table = run_cli("status", storage=journal_url, check=True).stdout
    assert "time left" in table and "0:00:00 of 0:00:02" in table

    # Resuming gives a fresh allowance: the clock restarts at the next claim, and more trials run.
    before = len(trials)
    proc = run_cli("launch", "timed", "--resume", "--trials", "100", "--time-budget", "1s", "--workers", "1",
                   "--log-dir", logs, storage=journal_url, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _clock(journal_url, "timed") > started
    after = trials_of(journal_url, "timed")
    assert len(after) > before and all(t.state == TrialState.COMPLETE for t in after)
    status = json.loads(run_cli("status", "timed", "--format", "json", storage=journal_url, check=True).stdout)["study"]
    assert status["ended"] == "time budget of 1s spent" and status["time_budget_seconds"] == 1.0
