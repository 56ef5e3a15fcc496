"""Waiting for a state, never for a fixed time: a wait ends on what it asserts, or on a watched process's exit."""

from __future__ import annotations

import time


# A wait ends on the state it asserts, or early when a process it watches has exited. Its bound only
# catches a hang: no run these tests start comes near it on a loaded 2-core machine (pytest's own
# per-test timeout, 900 s, is above it so that the wait's message, not a stack dump, says what hung).
HANG_GUARD = 600.0


def wait_for(predicate, what: str, *, watch=(), poll: float = 0.25, timeout: float = HANG_GUARD):
    """Poll `predicate` until it returns something truthy, and return that.

    Args:
        what: what is awaited, for the failure message.
        watch: processes (Popen) whose exit means the state will never come: fail at once, naming it.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        exited = [p for p in watch if p.poll() is not None]
        if exited:
            codes = ", ".join(f"pid {p.pid} exited {p.returncode}" for p in exited)
            raise AssertionError(f"waiting for {what}: {codes}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"no {what} after {timeout:.0f} s: hung")
        time.sleep(poll)
