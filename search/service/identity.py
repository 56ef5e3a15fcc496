"""Which process a trial belongs to, and whether that process still runs.

A worker writes its identity into each trial it claims (the `worker` attr): host, pid, and when the
process started, so that a pid the kernel reused for another process is not taken for the worker.
The start is kept in the kernel's own clock, ticks since boot (/proc/PID/stat): psutil's
`create_time()` is boot time plus those ticks in wall-clock seconds, and moves when the wall clock
is stepped (NTP on a VM): seen here, 7 s apart for one live worker within 20 minutes, which then
failed its own running trials as a dead worker's, and their retries, over 2,000 in a few minutes.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import psutil


def start_ticks(pid: int) -> int | None:
    """The process's start in clock ticks since boot (Linux), or None where /proc does not say."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces and parentheses, so count from its end.
    fields = stat[stat.rfind(")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def worker_identity() -> dict[str, Any]:
    pid = os.getpid()
    who: dict[str, Any] = {"host": socket.gethostname(), "pid": pid, "started": psutil.Process(pid).create_time()}
    ticks = start_ticks(pid)
    if ticks is not None:
        who["start_ticks"] = ticks
    return who


def alive(who: dict) -> bool:
    """Whether the process `who` (a worker identity, on this host) still runs: the same pid, started when it said."""
    try:
        pid = int(who["pid"])
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if "start_ticks" in who:
            ticks = start_ticks(pid)
            if ticks is not None:
                return ticks == int(who["start_ticks"])
        # An identity written without ticks (an older hpsearch, or no /proc): the wall-clock start.
        return abs(proc.create_time() - float(who.get("started", 0))) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, ValueError, TypeError):
        return False
