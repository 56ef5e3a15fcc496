"""A trial stopped mid-run resumes from its last epoch's checkpoint: real Keras training, real workers."""

from __future__ import annotations

import re
import signal
import time

import pytest
from optuna.trial import TrialState

from testing.cli import run_cli, start_worker
from tests.search_tests.helpers import trials_of
from testing.waiting import HANG_GUARD, wait_for

pytestmark = pytest.mark.slow


def _checkpoint_epoch(url: str) -> int:
    running = [t for t in trials_of(url, "resume") if t.state == TrialState.RUNNING]
    return running[0].user_attrs.get("checkpoint", {}).get("epoch", 0) if running else 0


def test_a_worker_stopped_at_epoch_3_of_6_and_a_new_worker_finish_the_trial_from_epoch_4(journal_url, tmp_path):
    # 32 px digits, no augmentation: epochs of a second or more, so three epochs are left after the
    # checkpoint of epoch 3 for the stop to land in, whatever the machine's load.
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("optimizer: adam\nlearning_rate: {low: 3.0e-3, high: 5.0e-3}\naugment_policy: none\nbatch_size: [64]\n")
    run_cli("launch", "resume", "--dataset", "digits", "--image-size", "32", "--space", "small", "--trials", "1",
            "--epochs", "6", "--pruner", "none", "--weights", "none", "--narrow", str(narrow), storage=journal_url, check=True)
    first_log, second_log = tmp_path / "w1.log", tmp_path / "w2.log"
    worker = start_worker(journal_url, "--study", "resume", log_path=str(first_log))
    try:
        wait_for(lambda: _checkpoint_epoch(journal_url) >= 3, "the checkpoint of epoch 3")
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)  # what `docker compose stop` sends
        assert worker.wait(HANG_GUARD) == 0, first_log.read_text()[-3000:]
        stop_seconds = time.monotonic() - stopped_at
    finally:
        if worker.poll() is None:
            worker.kill()
    (interrupted,) = [t for t in trials_of(journal_url, "resume") if t.state == TrialState.FAIL]
    saved = interrupted.user_attrs["checkpoint"]["epoch"]
    assert saved >= 3 and interrupted.user_attrs["outcome"] == "interrupted"
    (queued,) = [t for t in trials_of(journal_url, "resume") if t.state == TrialState.WAITING]
    assert queued.user_attrs["resume_from"] == interrupted.user_attrs["checkpoint"]

    second = start_worker(journal_url, "--study", "resume", "--idle-exit", "5", log_path=str(second_log))
    assert second.wait(600) == 0, second_log.read_text()[-3000:]
    (retry,) = [t for t in trials_of(journal_url, "resume") if t.state == TrialState.COMPLETE]
    assert retry.user_attrs["retry_of"] == interrupted.number
    assert f"resumed after epoch {saved}/6" in second_log.read_text()
    # One run: six epochs in its curves and its pruner's view, the first ones those of the stopped trial.
    assert retry.user_attrs["epochs_run"] == 6 and sorted(retry.intermediate_values) == [1, 2, 3, 4, 5, 6]
    inherited = interrupted.user_attrs["curves"]["dev_error"][:saved]
    assert retry.user_attrs["curves"]["dev_error"][:saved] == pytest.approx(inherited)
    assert [retry.intermediate_values[e] for e in range(1, saved + 1)] == pytest.approx(
        [interrupted.intermediate_values[e] for e in range(1, saved + 1)])
    # The retry trained only the epochs after the checkpoint: its log names epochs saved+1 .. 6 only.
    trained = [int(n) for n in re.findall(r"\] epoch (\d+)/6 dev_accuracy=", second_log.read_text())]
    assert trained == list(range(saved + 1, 7)), trained
    assert "checkpoint" not in retry.user_attrs or retry.user_attrs["checkpoint"]["epoch"] > saved
    print(f"stopped after the checkpoint of epoch {saved}; the worker took {stop_seconds:.1f} s to stop")
