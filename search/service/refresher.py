"""When a study's dashboard figures and note are rewritten: off the path between trials.

Rebuilding them reads every trial of the study, which grows with its history. A worker therefore
never does it between one trial and the next: it marks the study as changed, and a background
thread rewrites the figures at most every `interval` seconds per study, across all workers (the
time and the number of finished trials of the last rewrite are kept in a study user attr), by
one worker at a time (a lock that is tried, never waited for). When the worker stops it rewrites
once more whatever it changed since, so a finished study's figures show every trial.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import optuna

from search.core.spec import StudySpec

log = logging.getLogger("hpsearch.figures")

REFRESHED_ATTR = "hpsearch_figures_refreshed"  # {"at": unix time, "finished": trials finished then}
DEFAULT_INTERVAL = 10.0


class FigureRefresher:
    """Rewrites changed studies' figures in a daemon thread; `stop()` flushes what is left."""

    def __init__(self, storage, load: Callable[[str, StudySpec], optuna.Study], *, interval: float = DEFAULT_INTERVAL):
        self.storage, self.load, self.interval = storage, load, interval
        self._changed: dict[str, StudySpec] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="figures", daemon=True)
        self._thread.start()

    def changed(self, study_name: str, spec: StudySpec) -> None:
        """A trial of this study finished: its figures are due (soon, not now)."""
        with self._lock:
            self._changed[study_name] = spec
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread, then rewrite every study changed since its last rewrite (waiting for the lock)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join()
        for name, spec in self._take().items():
            self._refresh(name, spec, wait=True)

    # ---- the thread ----------------------------------------------------------------------
    def _take(self) -> dict[str, StudySpec]:
        with self._lock:
            taken, self._changed = self._changed, {}
        return taken

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            for name, spec in self._take().items():
                if not self._refresh(name, spec, wait=False):
                    with self._lock:  # not this time: keep it for the next round (or the flush)
                        self._changed.setdefault(name, spec)
            self._stopping.wait(self.interval / 4)  # a burst of finished trials makes one rewrite

    def _refresh(self, name: str, spec: StudySpec, *, wait: bool) -> bool:
        """True when the figures are up to date (rewritten now, or fresh enough); never raises."""
        from search.analysis import figures

        try:
            study = self.load(name, spec)
            key = f"figures:{name}"
            if wait:
                with self.storage.lock(key):
                    return self._rewrite_if_due(study, spec, figures, due=True)
            with self.storage.try_lock(key) as acquired:
                if not acquired:  # another worker is rewriting them right now
                    return False
                return self._rewrite_if_due(study, spec, figures, due=False)
        except Exception as exc:  # the figures must never stop a worker; the database may be down
            log.warning("[study=%s] dashboard figures not refreshed: %s: %s", name, type(exc).__name__, exc)
            return False

    def _rewrite_if_due(self, study: optuna.Study, spec: StudySpec, figures, *, due: bool) -> bool:
        finished = sum(n for state, n in self.storage.count_states(study._study_id).items()
                       if state in ("COMPLETE", "PRUNED", "FAIL"))
        last = study.user_attrs.get(REFRESHED_ATTR) or {}
        if last.get("finished") == finished:
            return True  # nothing finished since the last rewrite, by any worker
        if not due and time.time() - last.get("at", 0) < self.interval:
            return False  # rewritten recently by some worker: wait for the interval
        if not figures.refresh(study, spec):
            return False
        study.set_user_attr(REFRESHED_ATTR, {"at": time.time(), "finished": finished})
        return True
