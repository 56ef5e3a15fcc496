"""`hpsearch launch --workers K`: K local worker processes and a progress bar until the budget is met.

The workers are ordinary `hpsearch worker --study NAME` processes (the same code a container
runs); the storage URL reaches them through the environment, not argv, so `ps` never shows a
password. Their logs go to files, so the terminal keeps a clean progress bar.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from search.cli.output import duration
from search.core.storage import ENV_URL, Storage
from search.service import studies


def run_local_workers(storage: Storage, name: str, count: int, *, log_dir: str) -> studies.StudySummary:
    os.makedirs(log_dir, exist_ok=True)
    env = {**os.environ, ENV_URL: storage.url, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    procs = []
    logs = []
    for k in range(count):
        path = os.path.join(log_dir, f"{name}-worker{k + 1}.log")
        f = open(path, "a", encoding="utf-8")
        logs.append(f)
        procs.append(subprocess.Popen([sys.executable, "-m", "search", "worker", "--study", name, "--idle-exit", "30"],
                                      env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True))
    print(f"{count} local workers started; logs in {log_dir}/{name}-worker*.log", file=sys.stderr)
    summary = studies.summarize(studies.load(storage, name), storage)
    try:
        with Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), TextColumn("ETA {task.fields[eta]}"),
        ) as bar:
            task = bar.add_task(name, total=summary.budget, detail="", eta="-")
            while True:
                summary = studies.summarize(studies.load(storage, name), storage)
                best = f"{summary.objective}={summary.best_value:.4f}" if summary.best_value is not None else "-"
                left = f" time left {duration(summary.time_left)}" if summary.time_left is not None else ""
                bar.update(task, completed=summary.done, eta=duration(summary.eta_seconds),
                           detail=f"pruned {summary.counts.pruned} failed {summary.counts.failed} "
                                  f"running {summary.counts.running} best {best}{left}")
                if summary.state in ("done", "halted") or all(p.poll() is not None for p in procs):
                    break
                time.sleep(1.0)
    except KeyboardInterrupt:
        print("stopping the workers: their running trials are queued again", file=sys.stderr)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 60
        for p in procs:
            try:
                p.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs:
            f.close()
    summary = studies.summarize(studies.load(storage, name), storage)
    if summary.state == "halted":
        print(f"study {name!r} halted: {studies.load(storage, name).user_attrs.get('hpsearch_halted')}", file=sys.stderr)
    return summary
