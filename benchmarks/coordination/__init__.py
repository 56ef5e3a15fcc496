"""Benchmark 3, coordination: trials per hour of hpsearch's workers against raw Optuna.

The trainer is a double that sleeps a fixed time per epoch and reports every epoch
(testing.doubles_faults.paced), so what is measured is everything around training: the storage,
the sampler, the budget lock, hpsearch's process per trial, its recording (user attrs, the trial
note, the dashboard figures). For each storage (a throwaway PostgreSQL cluster, started as
tests/conftest.py does; the embedded journal file) and each worker count:
- hpsearch: N `python -m search worker --study NAME` processes (the product's own command);
- raw Optuna: N processes each running `study.optimize` on the same storage (opened by
  search.core.storage, so the same engine settings and heartbeat), the same sampler and pruner
  (search.core.spec.make_sampler / make_pruner), the same space and the same double, reporting
  every epoch with trial.report / should_prune, stopped by MaxTrialsCallback.
Workers are started and ready before the study exists, so their import time is not counted;
throughput counts finished trials from the first trial's start to the last one's end. The
spread comes from the steady-state cycle of each worker (one trial start to its next), each
cycle one repeat. A last run measures the cost of the process per trial with TensorFlow imported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.harness.common import REPO, child_env, log, summary, write_result

EPOCHS = 10
EPOCH_SECONDS = 0.5  # a 5-second trial: short, so coordination costs show
TRIALS_PER_WORKER = 4  # three steady-state cycles per worker (3 with --quick)
FULL_COUNTS = [1, 2, 4, 8, 16]
QUICK_COUNTS = [1, 4]
TF_TRIALS = 4
SPACE = "small"


def spec_for(trials: int, trainer: str):
    from search.core.spec import StudySpec

    return StudySpec(space=SPACE, trials=trials, epochs=EPOCHS, pruner="none", sampler="tpe", trainer=trainer)


# ---- storages ----------------------------------------------------------------------------------
class Postgres:
    """A throwaway cluster: tests/conftest.py's PostgresCluster, initialised the way its fixture does."""

    def __init__(self):
        from testing.postgres import PostgresCluster, drop_to_nobody, free_port, pg_bin

        self.root = tempfile.mkdtemp(prefix="hpsearch-bench-pg-")
        os.chmod(self.root, 0o777)
        self.cluster = PostgresCluster(datadir=os.path.join(self.root, "data"), port=free_port())
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(self.cluster.password)
        os.chmod(pwfile, 0o644)
        subprocess.run([pg_bin("initdb"), "-D", self.cluster.datadir, "-U", self.cluster.user, "--pwfile", pwfile,
                        "-A", "scram-sha-256", "--no-sync"], check=True, capture_output=True, preexec_fn=drop_to_nobody)
        self.cluster.start()
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        return self.cluster.create_database(f"bench{self.count}")

    def close(self) -> None:
        self.cluster.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Journal:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="hpsearch-bench-journal-")
        self.count = 0

    def fresh(self) -> str:
        self.count += 1
        return f"journal:{os.path.join(self.root, f'bench{self.count}.journal')}"

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ---- raw Optuna worker (a child process) -------------------------------------------------------
def raw_worker(url: str, name: str, trials: int) -> int:
    import optuna

    from search.core.storage import open_storage
    from spaces import get_space
    from search.core.spec import make_pruner, make_sampler
    from testing.doubles_faults import paced

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = spec_for(trials, "testing.doubles_faults:paced")
    space = get_space(SPACE)
    storage = open_storage(url)
    print("ready", flush=True)
    while name not in {s.study_name for s in storage.optuna.get_all_studies()}:
        time.sleep(0.05)
    study = optuna.load_study(study_name=name, storage=storage.optuna, sampler=make_sampler(spec), pruner=make_pruner(spec))
    optimize_raw(study, space, spec, paced, trials)
    return 0


def optimize_raw(study, space, spec, trainer, budget: int) -> None:
    """What a user of raw Optuna writes: `study.optimize` over `trainer`, reporting each epoch to the
    pruner, until `budget` trials of the study finished (complete or pruned), whoever ran them."""
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    class Reporter:
        def __init__(self, trial):
            self.trial, self.pruned = trial, False

        def report(self, epoch, metrics):
            self.trial.report(metrics["dev_accuracy"], epoch)
            self.pruned = self.trial.should_prune()

        def should_stop(self):
            return self.pruned

    def objective(trial):
        trial.set_user_attr("worker", {"pid": os.getpid()})  # to find each worker's cycle, as hpsearch records
        reporter = Reporter(trial)
        result = trainer(space.suggest(trial, spec.base_config(trial.number)), None, reporter)
        if reporter.pruned:
            raise optuna.TrialPruned()
        return result.metrics["dev_accuracy"]

    study.optimize(objective, callbacks=[MaxTrialsCallback(budget, states=(TrialState.COMPLETE, TrialState.PRUNED))])


# ---- one measurement -------------------------------------------------------------------------
def start_workers(kind: str, url: str, name: str, count: int, trials: int, logs: str, env: dict) -> list[subprocess.Popen]:
    procs = []
    for k in range(count):
        if kind == "hpsearch":
            cmd = [sys.executable, "-m", "search", "worker", "--study", name, "--idle-exit", "900"]
        else:
            cmd = [sys.executable, "-m", "benchmarks.coordination", "--raw-worker", url, name, str(trials)]
        out = open(os.path.join(logs, f"{kind}-{k}.log"), "w")
        procs.append(subprocess.Popen(cmd, env={**env, "HPSEARCH_STORAGE": url}, stdout=out, stderr=subprocess.STDOUT,
                                      cwd=REPO,
                                      start_new_session=True))
    ready = "serving" if kind == "hpsearch" else "ready"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        texts = [open(os.path.join(logs, f"{kind}-{k}.log")).read() for k in range(count)]
        if all(ready in t for t in texts):
            return procs
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.2)
    stop(procs)
    raise RuntimeError(f"{kind} workers did not start; logs in {logs}:\n" + texts[0][-2000:])


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def measure(kind: str, url: str, count: int, trials: int, trainer: str, env: dict) -> dict[str, Any]:
    import optuna
    from optuna.trial import TrialState

    from search.core.storage import open_storage
    from search.service.studies import launch

    storage = open_storage(url)
    name = f"{kind}-{count}"
    logs = tempfile.mkdtemp(prefix="hpsearch-bench-logs-")
    procs = start_workers(kind, url, name, count, trials, logs, env)
    try:
        if kind == "hpsearch":
            launch(storage, name, spec_for(trials, trainer))
        else:
            optuna.create_study(study_name=name, storage=storage.optuna, direction="maximize")
        deadline = time.monotonic() + 60 + 20 * trials * EPOCHS * EPOCH_SECONDS
        for p in procs:  # both kinds exit by themselves once the budget is met
            p.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{kind} with {count} workers did not finish; logs in {logs}") from None
    finally:
        stop(procs)
    study = optuna.load_study(study_name=name, storage=storage.optuna)
    done = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    failed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.FAIL]
    if failed:
        log(f"coordination: {kind} {count} workers: {len(failed)} failed trials, e.g. {failed[0].user_attrs.get('fail_reason')}")
    shutil.rmtree(logs, ignore_errors=True)
    span = (max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)).total_seconds()
    sleep = EPOCHS * EPOCH_SECONDS
    cycles = []
    by_worker: dict[Any, list] = {}
    for t in done:
        by_worker.setdefault((t.user_attrs.get("worker") or {}).get("pid"), []).append(t.datetime_start)
    for starts in by_worker.values():
        starts.sort()
        cycles += [(b - a).total_seconds() for a, b in zip(starts, starts[1:])]
    startup = [t.user_attrs["startup_seconds"] for t in done if "startup_seconds" in t.user_attrs]
    return {
        "trials": len(done),
        "failed": len(failed),
        "span_seconds": round(span, 2),
        "trials_per_hour": len(done) / span * 3600,
        "steady_trials_per_hour": summary([count * 3600 / c for c in cycles]),
        # What a trial costs beyond its training: from one trial's start to the worker's next,
        # less the training time (spawn, imports, recording, choosing the next trial) ...
        "overhead_per_trial_seconds": summary([c - sleep for c in cycles]),
        # ... and the part of it inside the trial (its start to its end).
        "in_trial_overhead_seconds": summary(
            [(t.datetime_complete - t.datetime_start).total_seconds() - sleep for t in done]),
        "startup_seconds": summary(startup) if startup else None,
    }


def import_seconds(module: str, env: dict) -> float:
    """Seconds to import `module` in a fresh interpreter: the part of a trial's start-up that is the import."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--raw-worker":
        return raw_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--counts", help="comma-separated worker counts")
    parser.add_argument("--storages", default="postgresql,journal")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    started = time.monotonic()
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    counts = [int(c) for c in args.counts.split(",")] if args.counts else (QUICK_COUNTS if args.quick else FULL_COUNTS)
    global TRIALS_PER_WORKER, TF_TRIALS
    if args.quick:
        TRIALS_PER_WORKER, TF_TRIALS = 3, 3
    env = child_env(HPSEARCH_TEST_EPOCH_SECONDS=str(EPOCH_SECONDS), HPSEARCH_HEARTBEAT="10")
    os.environ.update({k: env[k] for k in ("PYTHONPATH", "HPSEARCH_TEST_EPOCH_SECONDS")})
    results: dict[str, Any] = {}
    tf_overhead = None
    for storage_name in [s.strip() for s in args.storages.split(",") if s.strip()]:
        store = Postgres() if storage_name == "postgresql" else Journal()
        try:
            rows = {}
            for count in counts:
                trials = count * TRIALS_PER_WORKER
                row = {}
                for kind in ("hpsearch", "raw_optuna") if count % 2 else ("raw_optuna", "hpsearch"):
                    row[kind] = measure(kind, store.fresh(), count, trials, "testing.doubles_faults:paced", env)
                row["ratio"] = row["hpsearch"]["trials_per_hour"] / row["raw_optuna"]["trials_per_hour"]
                row["steady_ratio"] = (row["hpsearch"]["steady_trials_per_hour"]["median"]
                                       / row["raw_optuna"]["steady_trials_per_hour"]["median"])
                rows[str(count)] = row
                log(f"coordination: {storage_name} {count} workers: hpsearch {row['hpsearch']['trials_per_hour']:.0f}/h, "
                    f"raw Optuna {row['raw_optuna']['trials_per_hour']:.0f}/h (ratio {row['ratio']:.2f}); "
                    f"hpsearch overhead {row['hpsearch']['overhead_per_trial_seconds']['median']:.2f} s/trial")
            results[storage_name] = rows
            if storage_name == "journal":
                tf_overhead = measure("hpsearch", store.fresh(), 1, TF_TRIALS,
                                      "benchmarks.coordination.paced_trainers:paced_with_tensorflow", env)
                tf_overhead["import_seconds"] = summary(import_seconds("trainers.train", env) for _ in range(3))
                log(f"coordination: with TensorFlow imported: overhead "
                    f"{tf_overhead['overhead_per_trial_seconds']['median']:.2f} s/trial, "
                    f"start-up {tf_overhead['startup_seconds']['median']:.2f} s, "
                    f"import of trainers.train alone {tf_overhead['import_seconds']['median']:.2f} s")
        finally:
            store.close()
    ratios = [row["ratio"] for rows in results.values() for row in rows.values()]
    targets = {
        "throughput": {"target": "at every worker count, at least 0.9 of raw Optuna's trials per hour",
                       "worst_ratio": min(ratios), "met": min(ratios) >= 0.9},
    }
    if tf_overhead:
        o = tf_overhead["overhead_per_trial_seconds"]["median"]
        targets["overhead_with_tensorflow"] = {"target": "process-per-trial overhead under 2 s per trial with TensorFlow imported",
                                               "median_seconds": o, "met": o < 2.0}
    body = {"settings": {"epochs": EPOCHS, "epoch_seconds": EPOCH_SECONDS, "trial_sleep_seconds": EPOCHS * EPOCH_SECONDS,
                         "trials_per_worker": TRIALS_PER_WORKER, "counts": counts, "space": SPACE, "sampler": "tpe",
                         "pruner": "none (every trial runs all its epochs; should_prune is still asked)",
                         "heartbeat_seconds": int(env["HPSEARCH_HEARTBEAT"]), "tf_trials": TF_TRIALS,
                         "cores": len(os.sched_getaffinity(0))},
            "storages": results, "with_tensorflow": tf_overhead, "targets": targets}
    path = write_result("coordination", args.quick, body, started=started, path=args.out)
    log(f"coordination: wrote {path}")
    return 0

