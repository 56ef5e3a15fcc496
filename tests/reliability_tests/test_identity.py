"""A worker is known by its pid and its start in ticks since boot, which a wall-clock step does not move."""

from __future__ import annotations

import os
import subprocess
import sys

from search.service.identity import alive, start_ticks, worker_identity


def test_a_live_worker_stays_alive_when_the_wall_clock_is_stepped():
    who = worker_identity()
    assert alive(who)
    # psutil's create_time() is boot time + ticks in wall-clock seconds: a step of the clock (NTP on
    # a VM; 7 s seen here) moves it, so the start the worker recorded no longer matches it.
    stepped = {**who, "started": who["started"] - 7.0}
    assert alive(stepped)


def test_a_dead_worker_and_a_reused_pid_are_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not alive({"host": "h", "pid": child.pid, "started": 0.0, "start_ticks": 1})
    # Our own pid, as if reused by another process: started at another tick.
    who = worker_identity()
    assert not alive({**who, "start_ticks": who["start_ticks"] - 100})


def test_an_identity_without_ticks_falls_back_to_the_wall_clock_start():
    who = {k: v for k, v in worker_identity().items() if k != "start_ticks"}
    assert alive(who)
    assert not alive({**who, "started": who["started"] - 7.0})


def test_start_ticks_reads_the_kernels_record():
    assert start_ticks(os.getpid()) == start_ticks(os.getpid()) > 0
    assert start_ticks(2**22 + 12345) is None  # no such process
