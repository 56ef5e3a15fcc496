"""optuna-dashboard's own app and pages, with the study page's data built in one pass over the study.

optuna-dashboard 0.21 keeps each trial's note in the *study's* system attrs (two or three keys per
trial) and, to serialize a trial, finds its note and its artifacts by scanning every one of those
attrs (`_note.get_note_from_system_attrs`, `artifact._backend.list_trial_artifacts`): the study
page's first request costs trials × attrs prefix checks, quadratic in the study (327 s for 10,000
trials with hpsearch's notes, issue 27). It also reads the study through `get_all_studies`, every
study's attrs on each request.

Here the study alone is read, its attrs are grouped by trial once per request, and
optuna-dashboard's own serializer is handed each trial with its group: the same JSON, built in
time linear in the study. Every other route is optuna-dashboard's, and stock `optuna-dashboard URL`
still opens the same storage.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from optuna.storages import BaseStorage

# optuna-dashboard's per-trial keys in a study's system attrs: a note's version and pieces
# (`dashboard:{trial_id}:note_ver`, `dashboard:{trial_id}:note_str:{i}`) and artifacts uploaded
# through the dashboard (`dashboard:artifacts:{trial_id}:{artifact_id}`).
_TRIAL_KEY = re.compile(r"dashboard:(?:artifacts:)?(\d+):")


def by_trial(system_attrs: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """A study's system attrs that belong to one trial, grouped by trial id (the study's own are left out)."""
    groups: dict[int, dict[str, Any]] = defaultdict(dict)
    for key, value in system_attrs.items():
        found = _TRIAL_KEY.match(key)
        if found:
            groups[int(found.group(1))][key] = value
    return groups


def create_app(storage: BaseStorage, artifact_store=None):
    """optuna-dashboard's Bottle app over `storage`, its study-detail route replaced by `study_detail`."""
    from bottle import request, response
    from optuna_dashboard._app import create_app as dashboard_app
    from optuna_dashboard._bottle_util import json_api_view

    app = dashboard_app(storage, artifact_store=artifact_store)

    @json_api_view
    def detail(study_id: int) -> dict[str, Any]:
        try:
            after = int(request.params.get("after", 0))
            assert after >= 0
        except (AssertionError, ValueError):
            response.status = 400
            return {"reason": "`after` should be larger or equal 0."}
        found = study_detail(app._inmemory_cache, storage, study_id, after)
        if found is None:
            response.status = 404
            return {"reason": f"study_id={study_id} is not found"}
        return found

    # Bottle replaces the route of the same rule and method (Router.add): the page's client is unchanged.
    app.route("/api/studies/<study_id:int>", "GET", detail)
    return app


def frozen_study(storage: BaseStorage, study_id: int):
    """One study, read alone (optuna-dashboard's `get_study` reads every study's attrs to find it)."""
    from optuna.study._frozen import FrozenStudy

    try:
        name = storage.get_study_name_from_id(study_id)
    except KeyError:
        return None
    return FrozenStudy(study_name=name, direction=None, user_attrs=storage.get_study_user_attrs(study_id),
                       system_attrs=storage.get_study_system_attrs(study_id), study_id=study_id,
                       directions=storage.get_study_directions(study_id))


def study_detail(cache, storage: BaseStorage, study_id: int, after: int) -> dict[str, Any] | None:
    """What optuna-dashboard's `GET /api/studies/ID?after=N` answers, for trials `after` on; None: no such study.

    Mirrors optuna_dashboard._app.get_study_detail (0.21): the same trials cache, best trials,
    search spaces and serializer; only the per-trial attrs lookup differs.
    """
    from optuna.trial import TrialState
    from optuna_dashboard._custom_plot_data import get_plotly_graph_objects
    from optuna_dashboard._inmemory_cache import get_cached_extra_study_property
    from optuna_dashboard._pareto_front import get_pareto_front_trials
    from optuna_dashboard._serializer import serialize_frozen_trial, serialize_study_detail
    from optuna_dashboard._storage import get_trials
    from optuna_dashboard.preferential._study import _SYSTEM_ATTR_PREFERENTIAL_STUDY
    from optuna_dashboard.preferential._study import get_best_trials as get_best_preferential_trials
    from optuna_dashboard.preferential._system_attrs import get_skipped_trial_ids

    study = frozen_study(storage, study_id)
    if study is None:
        return None
    trials = get_trials(cache, storage, study_id)
    system_attrs = study.system_attrs
    if system_attrs.get(_SYSTEM_ATTR_PREFERENTIAL_STUDY, False):
        best_trials = get_best_preferential_trials(study_id, storage)
    elif len(study.directions) == 1:
        complete = any(t.state == TrialState.COMPLETE for t in trials)
        best_trials = [storage.get_best_trial(study_id)] if complete else []
    else:
        best_trials = get_pareto_front_trials(trials=trials, directions=study.directions)
    intersection, union, union_user_attrs, has_intermediate_values = get_cached_extra_study_property(
        cache, study_id, trials)
    skipped_ids = get_skipped_trial_ids(system_attrs)
    skipped_numbers = [t.number for t in trials if t._trial_id in skipped_ids]
    # The study's own parts (its note, artifacts, objective names...) through optuna-dashboard's
    # serializer with no trials; then each trial with only its own attrs.
    detail = serialize_study_detail(study, [], [], intersection, union, union_user_attrs, has_intermediate_values,
                                    get_plotly_graph_objects(system_attrs), skipped_numbers)
    groups = by_trial(system_attrs)
    detail["trials"] = [serialize_frozen_trial(study_id, t, groups.get(t._trial_id, {})) for t in trials[after:]]
    detail["best_trials"] = [serialize_frozen_trial(study_id, t, groups.get(t._trial_id, {})) for t in best_trials]
    return detail
