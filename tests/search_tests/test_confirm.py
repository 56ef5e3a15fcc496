"""`hpsearch confirm`: the top configurations re-trained under new seeds, by any worker, outside --trials."""

from __future__ import annotations

import json

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from search.core.storage import open_storage
from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import trials_of
from testing.waiting import HANG_GUARD

LUCKY = ["--trainer", "testing.doubles:lucky_first", "--space", "small", "--weights", "none", "--epochs", "3", "--no-portfolio"]


def _queue_widths(url: str, name: str, widths: list[int]) -> None:
    study = optuna.load_study(study_name=name, storage=open_storage(url).optuna)
    for width in widths:
        study.enqueue_trial({"width": width})


def _serve(url: str, name: str, tmp_path, count: int = 1) -> None:
    workers = [start_worker(url, "--study", name, "--idle-exit", "3", log_path=str(tmp_path / f"w{k}.log")) for k in range(count)]
    for k, w in enumerate(workers):
        assert w.wait(HANG_GUARD) == 0, (tmp_path / f"w{k}.log").read_text()[-3000:]


def _export(url: str, name: str) -> dict:
    return yaml.safe_load(run_cli("export", name, storage=url, check=True).stdout)


def test_confirm_reruns_the_top_configurations_on_any_worker_and_export_follows_the_means(journal_url, tmp_path):
    # Trial 0 (width 16) is lucky once; trial 2 (width 128) is truly the best; trial 1 (width 32) is worst
    # on average (dev error 0.127 against the lucky one's mean 0.113).
    run_cli("launch", "noisy", *LUCKY, "--trials", "3", storage=journal_url, check=True)
    _queue_widths(journal_url, "noisy", [16, 32, 128])
    _serve(journal_url, "noisy", tmp_path)
    assert _export(journal_url, "noisy")["trial"] == 0  # a single run crowns the lucky one

    proc = run_cli("confirm", "noisy", "--top", "3", "--seeds", "2", storage=journal_url, check=True)
    assert "6 confirmation runs queued in 'noisy' for trials 0, 2, 1" in proc.stdout
    _serve(journal_url, "noisy", tmp_path, count=2)  # plain workers run them: nothing special to start

    trials = trials_of(journal_url, "noisy")
    runs = [t for t in trials if "confirms" in t.user_attrs]
    assert len(runs) == 6 and len(trials) == 9  # outside --trials: no new search trial was sampled
    assert sorted(t.user_attrs["confirms"] for t in runs) == [0, 0, 1, 1, 2, 2]
    # Each run re-trains its trial's configuration to the last epoch (never pruned), under a seed of its own.
    by_number = {t.number: t for t in trials}
    for t in runs:
        assert t.state == TrialState.COMPLETE and t.user_attrs["epochs_run"] == 3
        assert t.params == by_number[t.user_attrs["confirms"]].params
    assert len({t.user_attrs["config"]["training"]["seed"] for t in trials}) == 9

    exported = _export(journal_url, "noisy")
    assert exported["trial"] == 2  # the means say width 128
    assert exported["selection"].startswith("highest mean dev_accuracy over each confirmed configuration's runs")
    first = exported["confirmation"][0]
    assert first["trial"] == 2 and first["dev_accuracy"]["n"] == 3
    assert first["dev_accuracy"]["mean"] == pytest.approx(0.90, abs=1e-6) and first["dev_accuracy"]["std"] == pytest.approx(0.0)
    lucky = next(g for g in exported["confirmation"] if g["trial"] == 0)
    assert lucky["dev_accuracy"]["mean"] == pytest.approx(1 - (0.06 + 0.14 + 0.14) / 3, abs=1e-6)
    assert lucky["dev_accuracy"]["std"] > 0.04

    status = json.loads(run_cli("status", "noisy", "--format", "json", storage=journal_url, check=True).stdout)
    assert status["study"]["state"] == "done" and status["study"]["done"] == 3
    assert status["study"]["confirmations"] == {"budget": 6, "done": 6}
    assert [g["trial"] for g in status["confirmations"]] == [2, 0, 1]  # best mean first
    table = run_cli("status", "noisy", storage=journal_url, check=True).stdout
    assert "confirmed configurations" in table and "0.9000 ± 0.0000" in table
    report = run_cli("report", "noisy", storage=journal_url, check=True).stdout
    assert "confirmed configurations" in report
    # The dashboard's study note carries the same table.
    from search.analysis.report import analyse, study_note

    note = study_note(analyse(optuna.load_study(study_name="noisy", storage=open_storage(journal_url).optuna)))
    assert "### Confirmed configurations" in note and "| 2 | 2/2 | 0.9000 ± 0.0000 |" in note


@pytest.mark.parametrize("args, message", [
    (["nope"], "no study named 'nope'"),
    (["empty"], "nothing to confirm"),
    (["empty", "--seeds", "0"], "--top and --seeds must be at least 1"),
])
def test_bad_confirms_are_one_line_and_queue_nothing(journal_url, args, message):
    run_cli("launch", "empty", *LUCKY, "--trials", "2", storage=journal_url, check=True)
    proc = run_cli("confirm", *args, storage=journal_url)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert trials_of(journal_url, "empty") == []


def test_a_failed_confirmation_run_is_queued_again_not_replaced_by_a_new_search_trial(journal_url, tmp_path):
    run_cli("launch", "flaky", "--trainer", "testing.doubles_faults:fails_at_seed_3", "--space", "small", "--weights", "none",
            "--epochs", "3", "--trials", "3", storage=journal_url, check=True)
    _serve(journal_url, "flaky", tmp_path)
    run_cli("confirm", "flaky", "--top", "1", "--seeds", "1", storage=journal_url, check=True)
    _serve(journal_url, "flaky", tmp_path)
    trials = trials_of(journal_url, "flaky")
    assert [(t.number, t.state.name, t.user_attrs.get("confirms")) for t in trials[3:]] == [
        (3, "FAIL", trials[3].user_attrs["confirms"]), (4, "COMPLETE", trials[3].user_attrs["confirms"])]
    assert trials[4].user_attrs["retry_of"] == 3 and trials[4].params == trials[3].params
    status = json.loads(run_cli("status", "flaky", "--format", "json", storage=journal_url, check=True).stdout)["study"]
    assert status["state"] == "done" and status["confirmations"] == {"budget": 1, "done": 1} and status["done"] == 3


def test_a_lost_confirmation_run_is_queued_again_as_a_confirmation_run(journal_url):
    """A confirmation run whose worker died is re-run as a confirmation run: it keeps counting against the
    confirmation budget and in the configuration's mean, not as a new search trial against --trials."""
    from search.core.confirmations import CONFIRMS_ATTR
    from search.service import orphans

    storage = open_storage(journal_url)
    study = optuna.create_study(study_name="lost", storage=storage.optuna)
    lost = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    storage.optuna.set_trial_user_attr(lost._trial_id, CONFIRMS_ATTR, 0)
    storage.optuna.set_trial_state_values(lost._trial_id, TrialState.FAIL)  # failed as lost: no recorded outcome
    orphans.Repairer(storage, "this-host").repair(study, failed_count=1)
    orphans.Repairer(storage, "other-host").repair(study, failed_count=1)  # another worker's look queues nothing more
    retries = [t for t in study.get_trials() if t.user_attrs.get("retry_of") == lost.number]
    assert len(retries) == 1 and retries[0].state == TrialState.WAITING
    assert retries[0].user_attrs[CONFIRMS_ATTR] == 0 and retries[0].params == lost.params
