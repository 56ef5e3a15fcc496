"""Satisficing limits: an infeasible trial is marked where the dashboard shows it and never exported as best;
a multi-objective study runs end to end and exports by its stated rule."""

from __future__ import annotations

import json

import optuna
import pytest
from testing.cli import run_cli
from optuna.trial import TrialState

from search.core.ranking import ranked_trials
from search.service import studies
from search.core.spec import StudySpec
from search.core.storage import open_storage

COMMON = ("--space", "small", "--epochs", "2", "--pruner", "none", "--weights", "none", "--human-error", "0.01",
          "--trainer", "testing.doubles:sized", "--no-portfolio")


def run_study(storage_url: str, name: str, trials: list[dict], *launch_args: str) -> optuna.Study:
    """Launch, queue exactly these configurations (the budget), and let one real worker run them."""
    run_cli("launch", name, "--trials", str(len(trials)), *COMMON, *launch_args, storage=storage_url, check=True)
    study = studies.load(open_storage(storage_url), name)
    for params in trials:
        study.enqueue_trial(params)
    run_cli("worker", "--study", name, "--idle-exit", "20", storage=storage_url, check=True)
    return studies.load(open_storage(storage_url), name)


def by_width(study: optuna.Study) -> dict[int, optuna.trial.FrozenTrial]:
    return {t.params["width"]: t for t in study.get_trials(states=(TrialState.COMPLETE,))}


def note_of(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> str:
    from optuna_dashboard import get_note

    return get_note(optuna.Trial(study, trial._trial_id))


def test_latency_limit_never_exports_the_most_accurate_infeasible_trial(journal_url):
    # The double: dev accuracy and latency (width / 8 ms) both grow with width; the limit is 10 ms.
    study = run_study(journal_url, "lat", [{"width": 128, "dropout": 0.0}, {"width": 64, "dropout": 0.0}, {"width": 16, "dropout": 0.0}],
                      "--max-latency-ms", "10")
    trials = by_width(study)
    wide, fast = trials[128], trials[64]
    assert wide.values[0] > fast.values[0] > trials[16].values[0]  # the infeasible trial is the most accurate

    # Marked where the dashboard shows it: mirrored user attrs, and the trial note.
    assert wide.user_attrs["feasible"] is False and wide.user_attrs["constraints"] == {"latency_ms": pytest.approx(6.0)}
    assert fast.user_attrs["feasible"] is True and fast.user_attrs["constraints"]["latency_ms"] == pytest.approx(-2.0)
    assert "INFEASIBLE" in note_of(study, wide) and "above the limit 10" in note_of(study, wide)
    assert "INFEASIBLE" not in note_of(study, fast)
    # Optuna's own constraints agree (set_constraint, one per limit).
    assert wide.constraints == {"latency_ms": pytest.approx(6.0)}
    assert study.best_trial.number == fast.number

    # Never exported, never ranked, never summarised as best.
    assert [t.number for t in ranked_trials(study, StudySpec())] == [fast.number, trials[16].number]
    assert studies.summarize(study).best_trial == fast.number
    doc = json.loads(run_cli("export", "lat", "--format", "json", "--top", "5", storage=journal_url, check=True).stdout)
    assert doc["trial"] == fast.number and doc["metrics"]["latency_ms"] <= 10
    assert wide.number not in [r["trial"] for r in doc.get("runners_up", [])]
    assert "within every satisficing limit" in doc["selection"]
    status = run_cli("status", "lat", storage=journal_url, check=True).stdout
    assert "infeasible" in status


def test_nothing_feasible_is_a_one_line_error(journal_url):
    run_study(journal_url, "tight", [{"width": 128}], "--max-latency-ms", "1")
    proc = run_cli("export", "tight", storage=journal_url)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "hpsearch: error: nothing to export from study 'tight': none meets the satisficing limits"


def test_multi_objective_study_exports_by_the_stated_rule(journal_url):
    # Pareto front on (dev accuracy up, latency down), with a 10 ms limit:
    #   width 64, dropout 0    -> best accuracy among feasible, 8 ms      (front)
    #   width 32, dropout 0    -> less accurate, 4 ms                     (front)
    #   width 64, dropout 0.5  -> more accurate than width 32, but 8 ms: dominated by the first
    #   width 128, dropout 0   -> most accurate, 16 ms                    (infeasible)
    queued = [{"width": 64, "dropout": 0.0}, {"width": 32, "dropout": 0.0}, {"width": 64, "dropout": 0.5}, {"width": 128, "dropout": 0.0}]
    study = run_study(journal_url, "pareto", queued, "--objectives", "dev_accuracy,latency_ms", "--max-latency-ms", "10")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 4
    number = {(t.params["width"], round(t.params["dropout"], 1)): t.number for t in complete}
    values = {t.number: t.values for t in complete}
    best64, best32, dominated = number[(64, 0.0)], number[(32, 0.0)], number[(64, 0.5)]
    assert values[dominated][0] > values[best32][0]  # plain accuracy order would put it second
    assert {t.number for t in study.best_trials} == {best64, best32}  # Optuna's front, feasible only

    doc = json.loads(run_cli("export", "pareto", "--format", "json", "--top", "3", storage=journal_url, check=True).stdout)
    assert doc["trial"] == best64
    assert [r["trial"] for r in doc["runners_up"]] == [best32, dominated]  # the front first, then the rest
    assert set(doc["objectives"]) == {"dev_accuracy", "latency_ms"}
    assert doc["selection"].endswith("; on the Pareto front first")


def test_ranked_trials_filters_infeasible_even_when_best():
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("hpsearch_spec", StudySpec(max_latency_ms=10.0).to_dict())
    for value, excess in ((0.99, 5.0), (0.90, -1.0), (0.95, None), (0.80, -3.0)):
        attrs = {"constraints": {"latency_ms": excess}} if excess != -3.0 else {}
        study.add_trial(optuna.trial.create_trial(value=value, user_attrs=attrs))
    ranked = ranked_trials(study, StudySpec(max_latency_ms=10.0))
    # 0.99 breaks the limit; 0.95 was never measured (None): both out. No constraints at all: feasible.
    assert [t.value for t in ranked] == [0.90, 0.80]
