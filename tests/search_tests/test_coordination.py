"""A worker's cost per trial does not grow with the study's history: it never re-reads finished trials,
counts the budget in one query, and holds the budget lock only to create the trial; figures are
rewritten off the trial path, by one worker at a time."""

from __future__ import annotations

import threading

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from optuna_dashboard._note import note_ver_key, split_body
from sqlalchemy import event

from search.service import studies
from search.service.refresher import REFRESHED_ATTR, FigureRefresher
from search.core.spec import StudySpec
from search.core.storage import open_storage
from search.service.worker import Worker

HISTORY = 200
NEW = 3


def _prefilled(url: str, name: str) -> None:
    storage = open_storage(url)
    # No portfolio: the history added below stands for trials run under the budget, with none queued beside it.
    spec = StudySpec(space="small", trainer="testing.doubles_faults:paced", pruner="none", weights="none",
                     trials=HISTORY + NEW, epochs=2, portfolio=False)
    study = studies.launch(storage, name, spec)
    lr = FloatDistribution(1e-5, 1e-1, log=True)
    study.add_trials([
        create_trial(state=TrialState.COMPLETE, value=0.5 + i / (4 * HISTORY), params={"learning_rate": 10 ** (-5 + 4 * i / HISTORY)},
                     distributions={"learning_rate": lr}, intermediate_values={1: 0.4, 2: 0.5},
                     user_attrs={"curves": {"dev_error": [0.6, 0.5]}, "outcome": "complete"})
        for i in range(HISTORY)
    ])
    for t in study.get_trials(deepcopy=False):  # each with its dashboard note, as real trials have
        storage.optuna.set_study_system_attr(study._study_id, note_ver_key(t._trial_id), 1)
        for key, chunk in split_body("a note " * 300, t._trial_id).items():
            storage.optuna.set_study_system_attr(study._study_id, key, chunk)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_reads_a_long_history_once_not_once_per_trial(pg_url, monkeypatch):
    monkeypatch.setenv("HPSEARCH_TEST_EPOCH_SECONDS", "0.01")
    _prefilled(pg_url, "long")
    worker = Worker(pg_url, studies=["long"], idle_exit=0, figures_interval=3600)
    reads: list[tuple[str, int]] = []  # (table, rows) of each SELECT on the trial path
    stopping = threading.Event()
    stop = FigureRefresher.stop

    def stop_and_note(self):  # the final rewrite of the figures reads the whole study: not the trial path
        stopping.set()
        stop(self)

    monkeypatch.setattr(FigureRefresher, "stop", stop_and_note)

    @event.listens_for(worker.storage.backend.engine, "after_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):
        if stopping.is_set() or threading.current_thread().name == "figures" or not statement.lstrip().upper().startswith("SELECT"):
            return
        for table in ("trials", "study_system_attributes"):
            if f"FROM {table} " in statement + " ":
                reads.append((table, max(cursor.rowcount, 0)))

    assert worker.serve() == 0
    finished = [t for t in optuna.load_study(study_name="long", storage=open_storage(pg_url).optuna).trials
                if t.state == TrialState.COMPLETE]
    assert len(finished) == HISTORY + NEW  # the budget, exactly
    # The history is read once (the first load fills the cache); after that every read of `trials`
    # returns only unfinished, new or single rows. Reloading it per trial would return 200+ rows each time.
    trial_rows = [n for table, n in reads if table == "trials"]
    assert len([n for n in trial_rows if n >= HISTORY]) == 1, trial_rows
    assert max(n for n in trial_rows if n < HISTORY) <= NEW + 1, trial_rows
    # Nor are the study's notes (every trial's, in its system attrs) read on the way.
    assert max((n for table, n in reads if table == "study_system_attributes"), default=0) < HISTORY, reads
    lock = finished[-1].user_attrs["budget_lock"]
    assert set(lock) == {"wait_ms", "held_ms"} and lock["held_ms"] >= 0


@pytest.mark.parametrize("kind", ["journal", "postgres"])
def test_try_lock_never_waits_for_another_holder(kind, request, tmp_path):
    url = f"journal:{tmp_path / 's.journal'}" if kind == "journal" else request.getfixturevalue("pg_url")
    holder, other = open_storage(url), open_storage(url)
    held, release, seen = threading.Event(), threading.Event(), []

    def hold():
        with holder.lock("figures:x"):
            held.set()
            release.wait(60)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(60)
        with other.try_lock("figures:x") as acquired:
            seen.append(acquired)
    finally:
        release.set()
        thread.join(60)
    with other.try_lock("figures:x") as acquired:
        seen.append(acquired)
    assert seen == [False, True]


def test_the_refresher_rewrites_changed_studies_when_it_stops(tmp_path):
    url = f"journal:{tmp_path / 's.journal'}"
    storage = open_storage(url)
    spec = StudySpec(space="small", pruner="none")
    study = studies.launch(storage, "fig", spec)
    study.add_trial(create_trial(state=TrialState.COMPLETE, value=0.9, params={}, distributions={}))
    load = lambda name, spec: optuna.load_study(study_name=name, storage=storage.optuna)  # noqa: E731
    refresher = FigureRefresher(storage, load, interval=3600)  # the thread alone would wait an hour
    refresher.changed("fig", spec)
    refresher.stop()
    attrs = load("fig", spec).user_attrs
    assert attrs[REFRESHED_ATTR]["finished"] == 1
    # Nothing finished since: a second flush leaves the figures as they are.
    refresher = FigureRefresher(storage, load, interval=3600)
    refresher.changed("fig", spec)
    refresher.stop()
    assert load("fig", spec).user_attrs[REFRESHED_ATTR] == attrs[REFRESHED_ATTR]
