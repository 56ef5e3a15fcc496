"""An exclusive lock on a file, across the processes of one host (flock)."""

from __future__ import annotations

import contextlib
import fcntl
from typing import Iterator


@contextlib.contextmanager
def locked(path: str, *, blocking: bool = True) -> Iterator[bool]:
    """Hold an exclusive flock on `path` (created if missing) for the block; yields whether it is held.

    With `blocking=False` it never waits: it yields False at once when another process holds it.
    The kernel releases the lock when its holder dies, so a crash never leaves it taken.
    """
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
