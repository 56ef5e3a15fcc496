"""Benchmark runs go a few at a time; a failure or a spent --hours stops new starts but loses no finished run."""

from __future__ import annotations

import sys
import threading
import time

from benchmarks.harness import parallel


def test_two_jobs_run_side_by_side_each_pinned_to_one_thread():
    both_running = threading.Barrier(2, timeout=60)  # passes only if two runs are in flight at once
    seen, finished = [], []

    def start(key, threads):
        seen.append((key, threads))
        both_running.wait()
        return key * 10

    assert parallel.run_parallel([1, 2, 3, 4], start, lambda k, r: finished.append((k, r)), jobs=2, label="t")
    assert sorted(finished) == [(1, 10), (2, 20), (3, 30), (4, 40)]
    assert {threads for _, threads in seen} == {1}
    assert parallel.thread_env(1) == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def test_one_job_keeps_tensorflows_own_thread_count():
    seen = []
    parallel.run_parallel(["a"], lambda k, threads: seen.append(threads), lambda k, r: None, jobs=1, label="t")
    assert seen == [None] and parallel.thread_env(None) == {}


def test_a_failed_run_stops_new_starts_and_the_run_beside_it_is_still_saved(monkeypatch):
    failure_logged = threading.Event()
    messages = []

    def log(message):
        messages.append(message)
        failure_logged.set()

    monkeypatch.setattr(parallel, "log", log)
    started, saved = [], []

    def start(key, threads):
        started.append(key)
        if key == "bad":
            raise RuntimeError("bad seed 0 failed:\nTraceback ...")
        assert failure_logged.wait(60)  # still running when the failure is handled
        return key

    ok = parallel.run_parallel(["bad", "beside", "never"], start, lambda k, r: saved.append(k), jobs=2, label="bench")
    assert not ok
    assert "never" not in started
    assert saved == ["beside"]
    assert messages[0].startswith("bench: bad seed 0 failed")


def test_no_run_starts_after_the_deadline(monkeypatch):
    messages = []
    monkeypatch.setattr(parallel, "log", messages.append)
    started = []
    ok = parallel.run_parallel([1, 2, 3], lambda k, t: started.append(k), lambda k, r: None, jobs=2,
                               deadline=time.monotonic(), label="bench")
    assert ok and started == []
    assert messages == ["bench: --hours spent; 3 runs left for the next invocation"]


def test_a_child_run_is_saved_whole_with_how_it_ran(tmp_path):
    out = str(tmp_path / "run.json")
    script = f"import json, os; json.dump({{'threads_seen': os.environ.get('TF_NUM_INTRAOP_THREADS')}}, open({out + '.part'!r}, 'w'))"
    run = parallel.run_child([sys.executable, "-c", script], out, 1, "demo seed 0")
    assert run["threads_seen"] == "1" and run["threads"] == 1
    assert run["span"][0] <= run["span"][1] and run["wall_seconds"] >= 0
    assert not (tmp_path / "run.json.part").exists() and (tmp_path / "run.json").exists()


def test_a_failed_child_leaves_nothing_to_reuse(tmp_path):
    out = str(tmp_path / "run.json")
    try:
        parallel.run_child([sys.executable, "-c", "raise SystemExit('no data')"], out, None, "demo seed 1")
    except RuntimeError as e:
        assert "demo seed 1 failed" in str(e) and "no data" in str(e)
    else:
        raise AssertionError("a failed child must raise")
    assert not (tmp_path / "run.json").exists()
