"""`launch NEXT --zoom PREV`: a narrower space around PREV's best, warm-started, PREV's best queued first."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from optuna.trial import TrialState

from search.analysis.zoom import ZoomError, zoom_narrowing
from spaces import Categorical, RandomTrial, get_space
from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import trials_of
from testing.waiting import HANG_GUARD

DOUBLE = ["--trainer", "testing.doubles:overfitting", "--space", "small", "--weights", "none", "--pruner", "none",
          "--epochs", "3"]


@pytest.mark.parametrize("seed", range(25))
def test_a_zoom_never_widens_and_keeps_every_top_value(seed):
    previous = get_space("small", {"learning_rate": {"low": 1e-4, "high": 1e-2}, "depth": {"low": 1, "high": 3}}).dimensions
    top = []
    for k in range(1 + seed % 5):
        trial = RandomTrial(seed * 10 + k)
        get_space("small", {"learning_rate": {"low": 1e-4, "high": 1e-2}, "depth": {"low": 1, "high": 3}}).suggest(trial)
        top.append(trial.params)
    narrowing = zoom_narrowing(previous, top, slack=0.3)
    zoomed = get_space("small", narrowing).dimensions
    for name, dim in zoomed.items():
        old = previous[name]
        values = [p[name] for p in top if name in p]
        if isinstance(dim, Categorical):
            assert set(dim.choices) <= set(old.choices)
            assert all(v in dim.choices for v in values)
        else:
            assert old.low <= dim.low <= dim.high <= old.high, name
            assert all(dim.low <= v <= dim.high for v in values), name


def test_log_dimensions_are_widened_in_log_space_and_categoricals_keep_the_choices_used():
    previous = get_space("small").dimensions
    top = [{"learning_rate": 1e-3, "optimizer": "adam", "batch_size": 64},
           {"learning_rate": 1e-2, "optimizer": "adam", "batch_size": 32}]
    narrowing = zoom_narrowing(previous, top, slack=0.1)
    pad = 0.1 * math.log(1e-1 / 1e-5)  # a tenth of the previous range, in log space, on each side
    assert narrowing["learning_rate"]["low"] == pytest.approx(1e-3 * math.exp(-pad))
    assert narrowing["learning_rate"]["high"] == pytest.approx(1e-2 * math.exp(pad))
    assert narrowing["optimizer"] == ["adam"] and narrowing["batch_size"] == [32, 64]
    assert "momentum_r" not in narrowing  # no top trial used SGD: its range stays as it was
    with pytest.raises(ZoomError):
        zoom_narrowing(previous, top, slack=2.0)


@pytest.fixture
def previous(journal_url, tmp_path):
    # Dropout at most 0.2: the overfitting double's variance (0.12 (1 - 2 dropout)) then dominates every
    # trial, whatever the (unseeded) sampler draws, so `report` always suggests a narrowing.
    narrow = tmp_path / "prev-space.yaml"
    narrow.write_text("dropout: {low: 0.0, high: 0.2}\n")
    run_cli("launch", "prev", *DOUBLE, "--narrow", str(narrow), "--trials", "14", "--workers", "1",
            "--log-dir", str(tmp_path / "logs"), storage=journal_url, check=True)
    return [t for t in trials_of(journal_url, "prev")]


def _status(url, name):
    return json.loads(run_cli("status", name, "--format", "json", storage=url, check=True).stdout)


def test_zoom_warm_starts_without_spending_the_budget_and_runs_the_best_configurations_first(journal_url, previous, tmp_path):
    proc = run_cli("launch", "next", "--zoom", "prev", "--top", "3", "--trials", "4", storage=journal_url, check=True)
    assert "zoomed from 'prev' around its top 3 trials, slack 0.1" in proc.stdout
    before = trials_of(journal_url, "next")
    warm = [t for t in before if "warm_start" in t.user_attrs]
    queued = [t for t in before if t.state == TrialState.WAITING]
    assert warm and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in warm)
    by_number = {t.number: t for t in previous}
    for t in warm:  # PREV's measurements, as PREV recorded them
        source = by_number[t.user_attrs["warm_start"]["trial"]]
        assert t.params == source.params and t.values == source.values
    best3 = sorted((t for t in previous if t.state == TrialState.COMPLETE), key=lambda t: -t.value)[:3]
    assert sorted(json.dumps(t.params, sort_keys=True) for t in best3) == sorted(
        json.dumps(t.system_attrs["fixed_params"], sort_keys=True) for t in queued)

    worker = start_worker(journal_url, "--study", "next", "--idle-exit", "3", log_path=str(tmp_path / "w.log"))
    assert worker.wait(HANG_GUARD) == 0, (tmp_path / "w.log").read_text()[-3000:]
    after = trials_of(journal_url, "next")
    own = [t for t in after if "warm_start" not in t.user_attrs]
    assert len(own) == 4 and all(t.state == TrialState.COMPLETE for t in own)  # the budget counts its own trials only
    assert [t.params for t in own[:3]] == [dict(t.system_attrs["fixed_params"]) for t in queued]  # the queue ran first
    status = _status(journal_url, "next")["study"]
    assert status["state"] == "done" and status["done"] == 4 and status["warm_start_trials"] == len(warm)
    assert status["lineage"].startswith("zoomed from 'prev'")
    exported = yaml.safe_load(run_cli("export", "next", storage=journal_url, check=True).stdout)
    assert exported["trial"] in {t.number for t in own}  # never a trial NEXT did not run
    report = run_cli("report", "next", storage=journal_url, check=True).stdout
    assert "This study was zoomed from 'prev'" in report

    # Each range of NEXT lies within PREV's.
    prev_dims, next_dims = get_space("small").dimensions, get_space("small", status_spec(journal_url, "next")["narrowing"]).dimensions
    for name, dim in next_dims.items():
        if not isinstance(dim, Categorical):
            assert prev_dims[name].low <= dim.low <= dim.high <= prev_dims[name].high


def status_spec(url, name):
    from search.core.spec import read_spec
    from search.core.storage import open_storage
    from search.service import studies

    return read_spec(studies.load(open_storage(url), name)).to_dict()


def test_zoom_takes_the_narrowing_report_suggests_and_refuses_one_that_widens(journal_url, previous, tmp_path):
    suggested = json.loads(run_cli("report", "prev", "--format", "json", storage=journal_url, check=True).stdout)["narrowing"]
    assert suggested, "the overfitting double's study should get a narrowing suggestion"
    path = tmp_path / "next.yaml"
    path.write_text(yaml.safe_dump(suggested))
    proc = run_cli("launch", "next", "--zoom", "prev", "--narrow", str(path), storage=journal_url, check=True)
    assert f"around the narrowing in {path}" in proc.stdout
    assert status_spec(journal_url, "next")["narrowing"] == suggested

    # PREV ran with dropout 0 .. 0.5: a zoom with dropout up to 0.9 would widen it.
    wide = tmp_path / "wide.yaml"
    prev_narrowed = tmp_path / "prev-narrow.yaml"
    prev_narrowed.write_text("dropout: {low: 0.0, high: 0.3}\n")
    run_cli("launch", "narrowprev", *DOUBLE, "--narrow", str(prev_narrowed), "--trials", "3", "--workers", "1",
            "--log-dir", str(tmp_path / "logs"), storage=journal_url, check=True)
    wide.write_text("dropout: {low: 0.1, high: 0.5}\n")
    proc = run_cli("launch", "wider", "--zoom", "narrowprev", "--narrow", str(wide), storage=journal_url)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "a zoom never widens: dropout" in proc.stderr
    assert "wider" not in run_cli("status", storage=journal_url, check=True).stdout  # nothing half-made


@pytest.mark.parametrize("args, message", [
    (["--top", "3"], "--top goes with --zoom PREV"),
    (["--zoom", "nope"], "no study named 'nope'"),
    (["--zoom", "prev", "--resume"], "use one or the other"),
    (["--zoom", "prev", "--space", "default"], "a zoom keeps the previous study's space"),
    (["--zoom", "prev", "--slack", "3"], "--slack is a share"),
])
def test_bad_zooms_are_one_line(journal_url, previous, args, message):
    proc = run_cli("launch", "z", *args, storage=journal_url)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
