"""`hpsearch dashboard` answers the study page's request itself, in one pass over the study: the same
JSON optuna-dashboard builds (notes, artifacts, best trials, paging by `after`), for any storage."""

from __future__ import annotations

import json
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState
from optuna_dashboard import save_note, wsgi

from search.cli.dashboard import build_app
from search.core.storage import open_storage
from search.service.dashboard_app import by_trial


def call(app, path: str, query: str = "") -> tuple[str, dict]:
    environ = {"PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    return status[0], json.loads(body)


def noted_study(url: str, name: str, directions: list[str]) -> int:
    """Trials of every state; notes on some (one long enough to be split over several attrs), an
    artifact uploaded through the dashboard on one, and a study note."""
    storage = open_storage(url)
    study = optuna.create_study(storage=storage.optuna, study_name=name, directions=directions)
    save_note(study, "the study's own note")
    x = {"x": FloatDistribution(0.0, 1.0)}
    for i in range(14):
        trial = study.ask(x)
        if len(directions) == 1:
            trial.report(0.05 * i, 1)
        if i % 3 == 0:
            save_note(trial, f"## note of trial {i}\n" + "words " * 900 * (i == 3))
        if i == 4:
            meta = {"artifact_id": "a1b2", "filename": "curve.png", "mimetype": "image/png", "encoding": None}
            storage.optuna.set_study_system_attr(study._study_id, f"dashboard:artifacts:{trial._trial_id}:a1b2",
                                                 json.dumps(meta))
        if i == 12:
            continue  # left running
        if i in (5, 9):
            study.tell(trial, state=TrialState.PRUNED)
        elif i == 7:
            study.tell(trial, state=TrialState.FAIL)
        else:
            values = [trial.params["x"]] if len(directions) == 1 else [trial.params["x"], 1 - trial.params["x"] ** 2]
            study.tell(trial, values)
    study.enqueue_trial({"x": 0.5})  # waiting
    return study._study_id


@pytest.mark.parametrize("directions", [["maximize"], ["minimize", "maximize"]])
@pytest.mark.parametrize("storage_kind", ["journal", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_study_page_gets_what_optuna_dashboard_serves(storage_kind, directions, request):
    url = request.getfixturevalue("journal_url" if storage_kind == "journal" else "pg_url")
    study_id = noted_study(url, "noted", directions)
    stock, ours = wsgi(open_storage(url).optuna), build_app(open_storage(url))
    for after in (0, 6, 15, 40):
        status, expected = call(stock, f"/api/studies/{study_id}", f"after={after}")
        assert status.startswith("200")
        assert call(ours, f"/api/studies/{study_id}", f"after={after}") == (status, expected)
    # Not vacuous: the notes, the long one whole, and the artifact are in what both serve.
    _, page = call(ours, f"/api/studies/{study_id}")
    notes = {t["number"]: t["note"]["body"] for t in page["trials"] if t["note"]["body"]}
    assert sorted(notes) == [0, 3, 6, 9, 12] and len(notes[3]) > 5000 and notes[3].endswith("words ")
    assert [a["filename"] for t in page["trials"] if t["number"] == 4 for a in t["artifacts"]] == ["curve.png"]
    assert page["note"]["body"] == "the study's own note" and len(page["trials"]) == 15 and page["best_trials"]


def test_a_missing_study_or_a_bad_after_is_refused_in_one_line(journal_url):
    study_id = noted_study(journal_url, "noted", ["maximize"])
    ours = build_app(open_storage(journal_url))
    status, body = call(ours, f"/api/studies/{study_id + 1}")
    assert status.startswith("404") and "not found" in body["reason"]
    for bad in ("after=-1", "after=soon"):
        status, body = call(ours, f"/api/studies/{study_id}", bad)
        assert status.startswith("400") and "after" in body["reason"]


def test_attrs_are_grouped_by_the_trial_they_belong_to():
    attrs = {"dashboard:1:note_ver": 2, "dashboard:1:note_str:0": "a", "dashboard:12:note_str:0": "b",
             "dashboard:artifacts:1:x": "{}", "dashboard:note_ver": 1, "dashboard:note_str:0": "study",
             "hpsearch:figure": "..."}
    groups = by_trial(attrs)
    assert groups == {1: {"dashboard:1:note_ver": 2, "dashboard:1:note_str:0": "a", "dashboard:artifacts:1:x": "{}"},
                      12: {"dashboard:12:note_str:0": "b"}}
