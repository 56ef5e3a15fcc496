"""Run a benchmark's independent runs a few at a time, each a child process on one TensorFlow thread.

Benchmarks 1 and 7 are dozens of runs of 10-30 minutes. On the 2-core machines this project runs
on, one run at a time leaves a core mostly idle (TensorFlow's small-model steps do not scale across
two threads); two runs pinned to one thread each finish in about half the time by the clock. The
measures are in epochs, so the pinning does not bias them; the seconds each run reports carry the
load, which each run records.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Callable, Hashable

from benchmarks.harness.common import child_env, log

JOBS = 2  # runs at a time by default: this project's machines have 2 cores


def threads_per_run(jobs: int) -> int | None:
    """One TensorFlow thread per run when several run at once; None keeps TensorFlow's own count."""
    return 1 if jobs > 1 else None


def thread_env(threads: int | None) -> dict[str, str]:
    """The environment that pins a child's TensorFlow to `threads` threads (empty: not pinned)."""
    if not threads:
        return {}
    return {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads)}


def run_child(cmd: list[str], out: str, threads: int | None, what: str) -> dict[str, Any]:
    """Run a child that writes its JSON to `out`.part; stamp how it ran and move it to `out` whole.

    Only a whole run is ever saved, so a later invocation reuses it or redoes it, never half of it.
    Raises RuntimeError, with the child's last words, when the child fails.
    """
    started_monotonic, started_wall = time.monotonic(), time.time()
    proc = subprocess.run(cmd, env=child_env(**thread_env(threads)), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    with open(out + ".part", encoding="utf-8") as f:
        run = json.load(f)
    run["load_average"] = os.getloadavg()[0]
    run["wall_seconds"] = round(time.monotonic() - started_monotonic, 1)
    run["span"] = [round(started_wall, 1), round(time.time(), 1)]  # the elapsed time of overlapping runs comes from these
    run["threads"] = threads
    with open(out + ".part", "w", encoding="utf-8") as f:
        json.dump(run, f)
    os.replace(out + ".part", out)
    return run


def run_parallel(
    todo: list[Hashable],
    start: Callable[[Hashable, int | None], Any],
    done: Callable[[Hashable, Any], None],
    *,
    jobs: int,
    deadline: float = math.inf,
    label: str,
) -> bool:
    """Call `start(key, threads)` for each key, `jobs` at a time, then `done(key, result)` as each ends.

    No run starts after `deadline` (time.monotonic()); the keys left are logged for the next
    invocation. A run that raises RuntimeError stops new starts, the ones running finish (and are
    handed to `done`, so they are saved), and the result is False.
    """
    threads = threads_per_run(jobs)
    pending, running, ok = list(todo), {}, True
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        while pending or running:
            while pending and len(running) < max(1, jobs) and ok:
                if time.monotonic() >= deadline:
                    log(f"{label}: --hours spent; {len(pending)} runs left for the next invocation")
                    pending = []
                    break
                key = pending.pop(0)
                running[pool.submit(start, key, threads)] = key
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                try:
                    result = future.result()
                except RuntimeError as e:
                    log(f"{label}: {e}")
                    ok, pending = False, []
                    continue
                done(key, result)
    return ok
