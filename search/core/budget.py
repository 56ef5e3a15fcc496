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


def parse_duration(text: str) -> float:
    """'90s', '60m', '1.5h', '1h30m' or a bare number of seconds (Optuna's `timeout`) -> seconds."""
    raw = str(text).strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        compact = raw.replace(" ", "")
        parts = _PART.findall(compact)
        if not parts or "".join(f"{n}{u}" for n, u in parts) != compact:
            raise DurationError(f"cannot read the duration {text!r}: use e.g. 90s, 60m, 1.5h or 1h30m") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not seconds > 0:
        raise DurationError(f"a duration must be positive, got {text!r}")
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
