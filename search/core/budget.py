"""A study's time budget: the clock, what is left, and why a study ended.

The clock starts when a worker claims the study's first trial, not at launch: a study launched
now and served by `docker compose up workers` an hour later still gets its whole allowance.
Like Optuna's `timeout` and Ray Tune's `time_budget_s`, the budget stops new trials only:
once it is spent no trial starts, and the trials already running finish. Both marks are study
user attrs (plain data), so every worker, `status` and the dashboard read the same clock.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any, Mapping

CLOCK_ATTR = "hpsearch_clock"  # {"started": unix seconds}: set once, when the first trial is claimed
ENDED_ATTR = "hpsearch_ended"  # {"reason": ..., "at": ISO time}: why no more trials start

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")


class DurationError(ValueError):
    """A duration the command line cannot read."""


def parse_duration(text: str, *, allow_zero: bool = False) -> float:
    """'90s', '60m', '1.5h', '1h30m' or a bare number of seconds (Optuna's `timeout`) -> seconds (0 only if allowed)."""
    raw = str(text).strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        compact = raw.replace(" ", "")
        parts = _PART.findall(compact)
        if not parts or "".join(f"{n}{u}" for n, u in parts) != compact:
            raise DurationError(f"cannot read the duration {text!r}: use e.g. 90s, 60m, 1.5h or 1h30m") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not (seconds >= 0 if allow_zero else seconds > 0):
        raise DurationError(f"a duration must be {'0 or more' if allow_zero else 'positive'}, got {text!r}")
    return seconds


def describe_duration(seconds: float) -> str:
    """60 -> '1m', 5400 -> '1h30m', 45.5 -> '45.5s': the form `parse_duration` reads back."""
    whole = int(round(seconds))
    if abs(seconds - whole) > 1e-6 or whole < 60:
        return f"{seconds:g}s"
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v)


def clock_started(attrs: Mapping[str, Any]) -> float | None:
    clock = attrs.get(CLOCK_ATTR)
    return float(clock["started"]) if isinstance(clock, Mapping) and "started" in clock else None


def time_left(budget_seconds: float | None, attrs: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds of the budget left (the whole budget before the clock starts); None without a budget."""
    if budget_seconds is None:
        return None
    started = clock_started(attrs)
    if started is None:
        return float(budget_seconds)
    now = time.time() if now is None else now
    return max(0.0, budget_seconds - (now - started))


def spent(budget_seconds: float | None, attrs: Mapping[str, Any], now: float | None = None) -> bool:
    left = time_left(budget_seconds, attrs, now)
    return left is not None and left <= 0.0


def clock_mark(now: float | None = None) -> dict[str, float]:
    return {"started": time.time() if now is None else now}


def ended_mark(reason: str) -> dict[str, str]:
    return {"reason": reason, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def spent_reason(budget_seconds: float) -> str:
    return f"time budget of {describe_duration(budget_seconds)} spent"


# ---- trials that would outlast the budget ------------------------------------------------
# "Running trials finish" is meant for the trial that happens to straddle the deadline. A trial that
# would by itself run far past it (one epoch of 60k images in 14 minutes on a CPU, ten epochs
# asked) holds a worker for hours after the study was meant to end, and every later trial waits.
# So a trial is stopped, as pruned, after the epoch that shows it would finish later than this
# past the budget's end: a quarter of the budget, and never less than MIN_OVERRUN.
MIN_OVERRUN = 600.0
OVERRUN_SHARE = 0.25


def allowed_overrun(budget_seconds: float, max_overrun: float | None = None) -> float:
    """Seconds past the budget's end a running trial may go: `max_overrun` as launched, else the default rule."""
    if max_overrun is not None:
        return float(max_overrun)
    return max(MIN_OVERRUN, OVERRUN_SHARE * budget_seconds)


def projected_overrun(budget_seconds: float, attrs: Mapping[str, Any], epoch_seconds: float, epochs_left: int,
                      now: float | None = None) -> float | None:
    """Seconds past the budget's end at which a trial with `epochs_left` epochs of `epoch_seconds` would finish.

    None before the clock starts; negative when it would finish within the budget.
    """
    started = clock_started(attrs)
    if started is None:
        return None
    now = time.time() if now is None else now
    return now + epochs_left * epoch_seconds - (started + budget_seconds)


class EpochPace:
    """A running trial's seconds per epoch, from when its epochs arrive (the worker's clock).

    The first epoch's time leaves out the trial's start-up (imports, loading or caching the data,
    tracing: `first_step_seconds`, which the trainer reports), which no later epoch pays again.
    """

    def __init__(self, now: float | None = None):
        self._last = time.monotonic() if now is None else now
        self._seconds: list[float] = []

    def started(self, now: float | None = None) -> None:
        """The trial process has begun this trial (its "started" message)."""
        self._last = time.monotonic() if now is None else now

    def epoch(self, metrics: Mapping[str, Any], now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        took = now - self._last
        if not self._seconds:
            took -= float(metrics.get("first_step_seconds") or 0.0)
        self._seconds.append(max(0.0, took))
        self._last = now

    def seconds_per_epoch(self) -> float | None:
        """The mean of the last three epochs (a fine-tuning phase is slower than the frozen one before it)."""
        recent = self._seconds[-3:]
        return sum(recent) / len(recent) if recent else None


def outlasts_budget(budget_seconds: float, max_overrun: float | None, attrs: Mapping[str, Any],
                    pace: EpochPace, epochs_left: int, now: float | None = None) -> str | None:
    """Why a trial should stop now because it would finish too long after the budget; None when it may go on."""
    per_epoch = pace.seconds_per_epoch()
    if per_epoch is None or epochs_left <= 0:
        return None
    over = projected_overrun(budget_seconds, attrs, per_epoch, epochs_left, now)
    allowed = allowed_overrun(budget_seconds, max_overrun)
    if over is None or over <= allowed:
        return None
    return (f"too slow for the time budget: {epochs_left} more epochs at {per_epoch:.0f} s each would end "
            f"{describe_duration(round(over))} past the {describe_duration(budget_seconds)} budget "
            f"({describe_duration(round(allowed))} allowed)")
