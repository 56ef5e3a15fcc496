"""Workers against a real PostgreSQL cluster: exact budgets, dead workers, graceful stops, pruning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from optuna.trial import TrialState

from search.core.storage import normalize_url, open_storage
from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import finished, running_trial, states, trials_of
from testing.waiting import HANG_GUARD, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none"]


def launch(url, name, *args):
    return run_cli("launch", name, *args, storage=url, check=True)


def stop_all(workers, sig=signal.SIGTERM, timeout=60):
    for w in workers:
        if w.poll() is None:
            w.send_signal(sig)
    return [w.wait(timeout) for w in workers]


def test_four_workers_meet_a_twelve_trial_budget_exactly(pg_url):
    launch(pg_url, "exact", *PACED, "--trials", "12", "--epochs", "3", "--pruner", "none")
    workers = [start_worker(pg_url, "--study", "exact", "--idle-exit", "20") for _ in range(4)]
    try:
        codes = [w.wait(HANG_GUARD) for w in workers]
    finally:
        stop_all(workers)
    assert codes == [0, 0, 0, 0]
    trials = trials_of(pg_url, "exact")
    done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) == 12
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    for t in done:
        p = t.params
        assert {"backbone", "depth", "width", "batch_norm", "dropout", "augment_policy", "optimizer",
                "learning_rate", "lr_decay", "batch_size"} <= set(p)
        assert ("momentum_r" in p) == (p["optimizer"] == "sgd")
        if p["optimizer"] == "sgd":
            assert t.user_attrs["momentum"] == pytest.approx(1 - 10 ** p["momentum_r"])
        assert ("augment_magnitude" in p) == (p["augment_policy"] != "none")
        assert t.user_attrs["config"]["optimizer"]["learning_rate"] == p["learning_rate"]
    # Sampled parameters keep their natural scale: the learning rate is log-distributed in the study.
    assert done[0].distributions["learning_rate"].log is True


# "another host" (found by its stale heartbeat) is heavy: test_worker_death.py's mid-epoch kill,
# in `make test`, is found by its heartbeat too.
@pytest.mark.parametrize("where", ["this host", pytest.param("another host", marks=pytest.mark.heavy)])
def test_a_worker_killed_mid_trial_is_failed_and_rerun(pg_url, where):
    """On this host a dead pid gives the worker away at once; elsewhere, its stale heartbeat."""
    launch(pg_url, "kill9", *PACED, "--trials", "3", "--epochs", "6", "--pruner", "none")
    slow = {"HPSEARCH_TEST_EPOCH_SECONDS": "0.7"}
    victim = start_worker(pg_url, "--study", "kill9", **slow)
    try:
        trial = wait_for(lambda: running_trial(pg_url, "kill9"), "a trial to report an epoch")
        if where == "another host":
            storage = open_storage(pg_url)
            storage.optuna.set_trial_user_attr(trial._trial_id, "worker", {"host": "gpu-node-7", "pid": 1, "started": 0})
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        # Another worker arrives later; heartbeats are 1 s, so the trial is stale after 3 s.
        rescuer = start_worker(pg_url, "--study", "kill9", "--idle-exit", "10", **slow)
        assert rescuer.wait(HANG_GUARD) == 0
    finally:
        stop_all([victim])
    trials = {t.number: t for t in trials_of(pg_url, "kill9")}
    assert trials[trial.number].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.user_attrs.get("retry_of") == trial.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == trials[trial.number].params
    expected = "heartbeat" if where == "another host" else "worker process died"
    assert expected in retries[0].user_attrs["retry_reason"]
    assert finished(pg_url, "kill9") == 3
    assert not [t for t in trials.values() if t.state == TrialState.RUNNING]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_mid_trial_stops_the_worker_gracefully(pg_url, sig):
    launch(pg_url, "term", *PACED, "--trials", "2", "--epochs", "20", "--pruner", "none")
    worker = start_worker(pg_url, "--study", "term", HPSEARCH_TEST_EPOCH_SECONDS="0.5")
    try:
        trial = wait_for(lambda: running_trial(pg_url, "term"), "a trial to report an epoch")
        worker.send_signal(sig)
        code = worker.wait(120)  # within compose's stop_grace_period (2 minutes), or Docker kills it
    finally:
        stop_all([worker])
    assert code == 0
    trials = trials_of(pg_url, "term")
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = next(t for t in trials if t.number == trial.number)
    assert stopped.state == TrialState.FAIL and "interrupted" in stopped.user_attrs["fail_reason"]
    # Nothing is lost: the interrupted trial waits in the queue for the next worker, beside the
    # portfolio's second recipe (queued at launch, never claimed).
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert [t.user_attrs.get("retry_of") for t in waiting if "portfolio_recipe" not in t.user_attrs] == [trial.number]
    assert len(waiting) == 2


def test_pruning_prunes_hopeless_learning_rates(pg_url, tmp_path):
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("optimizer: adam\n")
    launch(pg_url, "prune", *PACED, "--narrow", str(narrow), "--trials", "14", "--epochs", "6",
           "--pruner", "median", "--sampler", "random")
    workers = [start_worker(pg_url, "--study", "prune", "--idle-exit", "15") for _ in range(2)]
    assert [w.wait(HANG_GUARD) for w in workers] == [0, 0]
    trials = trials_of(pg_url, "prune")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned, states(pg_url, "prune")
    assert len(pruned) + len(complete) == 14
    for t in pruned:
        assert t.user_attrs["epochs_run"] < 6 and max(t.intermediate_values) == t.user_attrs["epochs_run"]
        assert t.user_attrs["stop_reason"].startswith("pruned at epoch")
    # What was pruned was worse than what completed.
    best_pruned_lr = max(t.params["learning_rate"] for t in pruned)
    assert best_pruned_lr < max(t.params["learning_rate"] for t in complete)


def test_status_and_export_on_postgres_mask_the_password(pg_url, postgres, tmp_path):
    launch(pg_url, "shown", *PACED, "--trials", "2", "--epochs", "2", "--pruner", "none")
    worker = start_worker(pg_url, "--study", "shown", "--idle-exit", "5")
    assert worker.wait(HANG_GUARD) == 0
    status = run_cli("status", storage=pg_url, check=True)
    assert "shown" in status.stdout and "done" in status.stdout
    detail = run_cli("status", "shown", "--format", "json", storage=pg_url, check=True)
    assert '"complete": 2' in detail.stdout
    out = tmp_path / "best.yaml"
    exported = run_cli("export", "shown", "-o", str(out), storage=pg_url, check=True)
    for text in (status.stdout, status.stderr, detail.stdout, exported.stdout, exported.stderr, out.read_text()):
        assert postgres.password not in text
        assert "s3cr" not in text


def test_studies_are_plain_optuna_studies(pg_url):
    """Optuna's own CLI reads what hpsearch stored, unchanged."""
    launch(pg_url, "plain", *PACED, "--trials", "2", "--epochs", "2", "--pruner", "none")
    worker = start_worker(pg_url, "--study", "plain", "--idle-exit", "3")
    assert worker.wait(HANG_GUARD) == 0
    optuna_cli = os.path.join(os.path.dirname(sys.executable), "optuna")
    out = subprocess.run([optuna_cli, "trials", "--study-name", "plain", "--storage", normalize_url(pg_url), "-f", "json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    trials = json.loads(out.stdout)
    assert len(trials) == 2 and all(t["state"] == "COMPLETE" for t in trials)
    assert {"learning_rate", "dropout"} <= set(trials[0]["params"])


def test_a_trial_failed_by_another_worker_mid_run_does_not_stop_this_one(pg_url, tmp_path):
    """As when a heartbeat looked stale on a starved machine: the result is refused, the worker goes on."""
    launch(pg_url, "taken", *PACED, "--trials", "2", "--epochs", "6", "--pruner", "none")
    log = tmp_path / "worker.log"
    worker = start_worker(pg_url, "--study", "taken", "--idle-exit", "5", log_path=str(log), HPSEARCH_TEST_EPOCH_SECONDS="0.5")
    try:
        trial = wait_for(lambda: running_trial(pg_url, "taken"), "a trial to report an epoch")
        open_storage(pg_url).optuna.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        assert worker.wait(HANG_GUARD) == 0, log.read_text()[-3000:]
    finally:
        stop_all([worker])
    assert "another worker already failed this trial as stale" in log.read_text()
    assert finished(pg_url, "taken") == 2  # the budget is still met, by a trial run after it
