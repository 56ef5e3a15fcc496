"""`launch --time-budget`: no trial starts once it is spent, running trials finish, status says why."""

from __future__ import annotations

import json

import pytest
from optuna.trial import TrialState

from search.core.budget import (CLOCK_ATTR, DurationError, EpochPace, allowed_overrun, describe_duration, outlasts_budget,
                                 parse_duration)
from search.core.storage import open_storage
from search.service import studies
from testing.cli import run_cli
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


def test_zero_is_a_duration_only_where_allowed():
    # --max-overrun 0 (stop any trial projected past the budget) in any unit; never for --time-budget.
    assert [parse_duration(t, allow_zero=True) for t in ("0", "0s", "0h", "0m0s", "90s")] == [0.0, 0.0, 0.0, 0.0, 90.0]
    for text in ("-3m", "nan", "m"):
        with pytest.raises(DurationError):
            parse_duration(text, allow_zero=True)
    with pytest.raises(DurationError, match="positive"):
        parse_duration("0h")


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
    proc = run_cli("launch", "timed", "--space", "small", "--no-portfolio", "--trials", "100", "--epochs", "2", "--pruner", "none",
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


# ---- a trial that would run far past the budget ----------------------------------------
def test_a_trial_is_stopped_only_when_its_pace_would_take_it_far_past_the_budget():
    # The seed lab's case: a 60-minute budget, a trial at 14 minutes per epoch with 9 epochs left
    # (its first epoch began 6 minutes in) would end 1h26m after the budget; it may go on 15 minutes.
    attrs = {CLOCK_ATTR: {"started": 1000.0}}
    pace = EpochPace(now=0.0)
    pace.started(now=0.0)
    pace.epoch({"first_step_seconds": 30.0}, now=870.0)  # 840 s of epoch after 30 s of start-up
    assert pace.seconds_per_epoch() == 840.0
    why = outlasts_budget(3600.0, None, attrs, pace, epochs_left=9, now=1000.0 + 1200.0)
    assert why == "too slow for the time budget: 9 more epochs at 840 s each would end 1h26m past the 1h budget (15m allowed)"

    # A trial straddling the deadline finishes: 5 epochs of 60 s left, 100 s before the end.
    fast = EpochPace(now=0.0)
    fast.epoch({}, now=60.0)
    assert outlasts_budget(3600.0, None, attrs, fast, epochs_left=5, now=1000.0 + 3500.0) is None
    # Short budgets allow at least 10 minutes; --max-overrun replaces the rule.
    assert allowed_overrun(120.0) == 600.0 and allowed_overrun(4 * 3600.0) == 3600.0 and allowed_overrun(120.0, 0.0) == 0.0
    assert outlasts_budget(3600.0, 0.0, attrs, fast, epochs_left=5, now=1000.0 + 3500.0) is not None
    # Before the clock starts, or with nothing measured yet, nothing is stopped.
    assert outlasts_budget(3600.0, 0.0, {}, fast, epochs_left=5) is None
    assert outlasts_budget(3600.0, 0.0, attrs, EpochPace(), epochs_left=5, now=1e9) is None


def test_max_overrun_needs_a_time_budget_and_says_so_in_one_line(journal_url):
    proc = run_cli("launch", "t", "--max-overrun", "5m", storage=journal_url)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("--max-overrun goes with --time-budget")
    assert "no studies" in run_cli("status", storage=journal_url, check=True).stdout


@pytest.mark.slow
def test_trials_too_slow_for_the_time_budget_stop_after_their_first_epoch_as_pruned(journal_url, tmp_path):
    # Each epoch of the `slow` double takes at least a second on any machine: 30 epochs would end
    # far more than 2 s after a 5 s budget, so each trial stops after the epoch that shows it.
    # No portfolio: its recipes are queued at launch, and on a busy machine the budget can end before
    # the last of them starts (it then waits, rightly); this test is about the trials that ran.
    proc = run_cli("launch", "slow", "--trainer", "testing.doubles:slow", "--space", "small", "--weights", "none",
                   "--no-portfolio",
                   "--trials", "20", "--epochs", "30", "--pruner", "none", "--time-budget", "5s",
                   "--max-overrun", "2s", "--workers", "1", "--log-dir", str(tmp_path / "logs"),
                   storage=journal_url, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = trials_of(journal_url, "slow")
    assert trials and len(trials) < 20
    for t in trials:
        assert t.state == TrialState.PRUNED, (t.number, t.state.name, t.user_attrs.get("stop_reason"))
        assert list(t.intermediate_values) == [1], t.number  # stopped after its first epoch, that epoch kept
        assert "past the 5s budget (2s allowed)" in t.user_attrs["stop_reason"], t.user_attrs["stop_reason"]
    status = json.loads(run_cli("status", "slow", "--format", "json", storage=journal_url, check=True).stdout)["study"]
    assert status["ended"] == "time budget of 5s spent"
    log = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert "[study=slow trial=0] pruned: too slow for the time budget: 29 more epochs" in log
