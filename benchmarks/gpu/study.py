"""One short study on the GPU, run by one real hpsearch worker: its trials per hour.

The study is launched on an embedded journal file and served by `python -m search worker`
(a process per trial, as in production). The trainer is hpsearch's own (trainers.train.train)
where TensorFlow is installed, else benchmarks.gpu.keras_trainer (Keras alone, e.g. on JAX).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

TRIALS = 6
EPOCHS = 5


def run(quick: bool = False, log=print, timeout_seconds: float = 240.0) -> dict[str, Any]:
    import optuna
    from optuna.trial import TrialState

    from benchmarks.harness.common import REPO, child_env
    from search.core.spec import StudySpec
    from search.core.storage import open_storage
    from search.service.studies import launch

    trials = 4 if quick else TRIALS
    has_tf = importlib.util.find_spec("tensorflow") is not None
    trainer = "trainers.train:train" if has_tf else "benchmarks.gpu.keras_trainer:train"
    folder = tempfile.mkdtemp(prefix="hpsearch-bench-gpu-")
    url = f"journal:{os.path.join(folder, 'studies.journal')}"
    storage = open_storage(url)
    spec = StudySpec(space="small", dataset="digits", trials=trials, epochs=EPOCHS, pruner="median",
                     sampler="tpe", trainer=trainer, weights="none")
    launch(storage, "gpu-study", spec)
    started = time.monotonic()
    with open(os.path.join(folder, "worker.log"), "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "search", "worker", "--study", "gpu-study", "--idle-exit", "60"],
                                env=child_env(HPSEARCH_STORAGE=url), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout_seconds)
        except subprocess.TimeoutExpired:  # stop gracefully (SIGTERM) and report the trials that finished
            proc.terminate()
            proc.wait(120)
    wall = time.monotonic() - started
    study = optuna.load_study(study_name="gpu-study", storage=storage.optuna)
    done = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds() if done else None
    row = {
        "trainer": trainer, "trials": trials, "epochs": EPOCHS, "dataset": "digits (8x8)", "space": "small",
        "pruner": "median", "workers": 1, "finished": len(done), "failed": len(failed),
        "pruned": sum(t.state == TrialState.PRUNED for t in done),
        "fail_reasons": sorted({str(t.user_attrs.get("fail_reason")) for t in failed})[:3],
        "worker_exit_code": proc.returncode, "wall_seconds": round(wall, 1),
        "span_seconds": round(span, 1) if span else None,
        "trials_per_hour": round(len(done) / span * 3600, 1) if span else None,
        "startup_seconds": [round(t.user_attrs["startup_seconds"], 2) for t in done if "startup_seconds" in t.user_attrs],
        "trial_seconds": [round((t.datetime_complete - t.datetime_start).total_seconds(), 1) for t in done],
        "best_dev_accuracy": study.best_value if any(t.state == TrialState.COMPLETE for t in done) else None,
    }
    if failed:
        with open(os.path.join(folder, "worker.log")) as f:
            row["worker_log_tail"] = f.read()[-3000:]
    log(f"gpu: study: {row['finished']} trials finished ({row['failed']} failed), {row['trials_per_hour']} trials/h")
    return row
