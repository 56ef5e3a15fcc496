"""What `hpsearch status` needs of every trial, read with queries sized to that and no more.

Optuna's `get_trials` builds each trial whole: its params with their distributions, every
intermediate value, every attribute (a trial's config, curves and metrics run to kilobytes). A
study of 10,000 trials is then half a minute of a database's time for a table that shows counts,
a best value and an ETA. `index` reads, from Optuna's own tables, only each trial's number, state,
times, objective values and the few attributes that decide its rank (feasibility, warm start,
confirmation run), as `IndexedTrial`s that the ranking and the counts read as they read trials.
The journal file is replayed in memory when the study is opened, so there Optuna's trials are
already at hand and are used as they are.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import TrialState

from search.core.confirmations import CONFIRMS_ATTR

# The attributes ranking reads (search.core.ranking): nothing else is fetched.
RANKING_ATTRS = ("constraints", "warm_start", CONFIRMS_ATTR)
_INFINITE = {"INF_POS": math.inf, "INF_NEG": -math.inf}


@dataclass
class IndexedTrial:
    """The part of a FrozenTrial that counting, ranking and the ETA read."""

    _trial_id: int
    number: int
    state: TrialState
    datetime_start: dt.datetime | None
    datetime_complete: dt.datetime | None
    values: list[float] | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)


def index(storage, study_id: int, *, all_attrs_but: tuple[str, ...] | None = None) -> list:
    """The study's trials by number: IndexedTrials from a database, Optuna's own trials from a journal file.

    The user attrs read are those ranking needs; with `all_attrs_but`, every one except those keys
    (the heavy ones a caller does not show, such as every epoch's curves).
    """
    if storage.backend is None:
        return storage.optuna.get_all_trials(study_id, deepcopy=False)
    from sqlalchemy import bindparam, text

    with storage.backend.engine.connect() as conn:
        rows = conn.execute(text("SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials "
                                 "WHERE study_id = :s ORDER BY number"), {"s": study_id}).all()
        trials = {r[0]: IndexedTrial(r[0], r[1], _state(r[2]), r[3], r[4]) for r in rows}
        values: dict[int, dict[int, float]] = {}
        for trial_id, objective, value, kind in conn.execute(text(
                "SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v "
                "JOIN trials t ON t.trial_id = v.trial_id WHERE t.study_id = :s"), {"s": study_id}):
            values.setdefault(trial_id, {})[objective] = _INFINITE.get(getattr(kind, "name", str(kind)), value)
        for trial_id, by_objective in values.items():
            if trial_id in trials:
                trials[trial_id].values = [by_objective[k] for k in sorted(by_objective)]
        which, keys = ("IN", RANKING_ATTRS) if all_attrs_but is None else ("NOT IN", all_attrs_but)
        attrs = conn.execute(text(
            "SELECT a.trial_id, a.key, a.value_json FROM trial_user_attributes a JOIN trials t ON t.trial_id = a.trial_id "
            f"WHERE t.study_id = :s AND a.key {which} :keys").bindparams(bindparam("keys", expanding=True)),
            {"s": study_id, "keys": list(keys)})
        for trial_id, key, value_json in attrs:
            if trial_id in trials:
                trials[trial_id].user_attrs[key] = json.loads(value_json)
    return list(trials.values())


def _state(value) -> TrialState:
    return value if isinstance(value, TrialState) else TrialState[str(value)]
