"""Storage calls that wait out a database outage, and a trial handle whose every call does.

A running trial's worker must not give up on a trial because PostgreSQL restarted: a call that
raised would abandon the trial to the stale check (and to a retry) although its worker lives. So
every read and write of a running trial goes through `with_retry`, which waits with exponential
backoff while the error is a lost connection and raises anything else at once.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, TypeVar

import optuna

from search.core.storage import Backoff, describe_error, is_connection_error, note_outage

T = TypeVar("T")
Log = logging.LoggerAdapter | logging.Logger


def with_retry(fn: Callable[[], T], *, what: str, log: Log, max_wait: float = 1800.0) -> T:
    """Call `fn`, waiting with exponential backoff while the database is unreachable."""
    backoff, waited = Backoff(), 0.0
    while True:
        try:
            return fn()
        except Exception as exc:
            if not is_connection_error(exc) or waited >= max_wait:
                raise
            note_outage()
            delay = backoff.next()
            log.warning("storage unreachable while %s (%s); retrying in %.0f s", what, describe_error(exc), delay)
            time.sleep(delay)
            waited += delay


class RetryingTrial:
    """The calls a worker makes on its running `optuna.Trial`, each through `with_retry`, logged to `log`."""

    def __init__(self, trial: optuna.Trial, log: Log):
        self.trial, self.log = trial, log

    @property
    def number(self) -> int:
        return self.trial.number

    def report(self, value: float, step: int) -> None:
        with_retry(lambda: self.trial.report(value, step), what="reporting", log=self.log)

    def should_prune(self) -> bool:
        return with_retry(self.trial.should_prune, what="asking the pruner", log=self.log)

    def set_user_attr(self, key: str, value: Any) -> None:
        with_retry(lambda: self.trial.set_user_attr(key, value), what=f"recording {key}", log=self.log)

    @property
    def user_attrs(self) -> dict[str, Any]:
        return with_retry(lambda: self.trial.user_attrs, what="reading the trial", log=self.log)

    @property
    def study_user_attrs(self) -> dict[str, Any]:
        return with_retry(lambda: self.trial.study.user_attrs, what="reading the study", log=self.log)
