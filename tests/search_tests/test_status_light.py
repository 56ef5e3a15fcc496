"""`hpsearch status` reads what its table needs, not every trial whole, and says the same as a full read."""

from __future__ import annotations

import math

import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from search.core.spec import StudySpec
from search.core.storage import open_storage
from search.service import studies
from testing.cli import run_cli


def add(study, number: int, state: TrialState, value: float | None = None, **attrs):
    study.add_trial(create_trial(
        state=state, value=value, params={"dropout": 0.1 + number / 1000},
        distributions={"dropout": FloatDistribution(0.0, 0.9)}, user_attrs=attrs,
        intermediate_values={} if state == TrialState.WAITING else {1: 0.5, 2: 0.6},
    ))


@pytest.fixture(params=["journal", "postgresql"])
def varied(request, tmp_path):
    """A study with every kind of trial ranking must tell apart; returns (url, storage, study)."""
    url = f"journal:{tmp_path / 's.journal'}" if request.param == "journal" else request.getfixturevalue("pg_url")
    storage = open_storage(url)
    spec = StudySpec(space="small", trials=60, epochs=2, weights="none", portfolio=False)
    study = studies.launch(storage, "varied", spec)
    for n in range(40):  # values 0.50 .. 0.89, shuffled: the best is trial 27, then 14, then 1
        add(study, n, TrialState.COMPLETE, value=0.5 + (n * 37 % 40) / 100, epochs_run=2)
    add(study, 40, TrialState.COMPLETE, value=0.99, constraints={"latency_ms": 10.0})  # breaks a limit
    add(study, 41, TrialState.COMPLETE, value=math.inf)  # not a finite value
    add(study, 42, TrialState.PRUNED)
    add(study, 43, TrialState.FAIL, fail_reason="boom")
    add(study, 44, TrialState.COMPLETE, value=0.97, confirms=5)  # a confirmation run of trial 5
    add(study, 45, TrialState.COMPLETE, value=0.98, warm_start={"study": "prev", "trial": 1})  # measured elsewhere
    add(study, 46, TrialState.WAITING)
    return url, storage, study


def test_the_light_summary_is_the_full_one(varied):
    _, storage, study = varied
    light = studies.summarize(study, storage)
    assert light == studies.summarize(study)
    assert light.best_trial == 27 and light.best_value == pytest.approx(0.89)
    assert (light.counts.complete, light.counts.pruned, light.counts.failed, light.counts.waiting) == (44, 1, 1, 1)


def test_status_shows_the_best_the_waiting_the_latest_and_confirmations_and_all_on_request(varied):
    url, storage, study = varied
    shown, total = studies.relevant_trials(storage, study, best=3, latest=2)
    assert total == 47
    assert [t.number for t in shown] == [1, 5, 14, 27, 44, 45, 46]
    assert all(t.params == {"dropout": pytest.approx(0.1 + t.number / 1000)} for t in shown)  # read whole

    table = run_cli("status", "varied", storage=url, check=True).stdout
    default, _ = studies.relevant_trials(storage, study)
    assert f"{len(default)} of 47 trials shown: the 10 best, those running or waiting, the 10 latest" in table
    assert table.count("COMPLETE") == sum(t.state == TrialState.COMPLETE for t in default) < 44
    every = run_cli("status", "varied", "--all", storage=url, check=True).stdout
    assert "trials shown" not in every and every.count("COMPLETE") == 44


def test_the_report_from_light_trials_is_the_report_from_whole_ones(pg_url):
    """Trials shaped like real ones (config, curves, decomposition, mistakes), as benchmark 5 prefills them."""
    from benchmarks.scale import prefill as scale_prefill
    from search.analysis.report import analyse
    from search.core import trial_index

    storage = open_storage(pg_url)
    spec = StudySpec(space="small", trials=80, epochs=scale_prefill.EPOCHS, weights="none", portfolio=False)
    study = studies.launch(storage, "shaped", spec)
    scale_prefill.insert_bulk(storage, study._study_id, scale_prefill.shaped_trials(spec, 60, seed=1))
    light = trial_index.index(storage, study._study_id, all_attrs_but=("curves", "mistakes"))
    assert all("curves" not in t.user_attrs for t in light) and any("config" in t.user_attrs for t in light)
    whole, from_light = analyse(study, spec), analyse(study, spec, trials=light)
    assert from_light.to_dict() == whole.to_dict()
    assert [v.curves for v in from_light.best] == [v.curves for v in whole.best] and whole.best[0].curves
    assert len(whole.views) == 60 and whole.next_steps
