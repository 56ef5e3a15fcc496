"""`hpsearch launch NEXT --zoom PREV`: a follow-up study in PREV's best region, warm-started.

NEXT's space is PREV's narrowed around PREV's top K feasible trials (search.analysis.zoom), or
by a `--narrow` file (the YAML `hpsearch report PREV` suggests), never wider than PREV's. Before
NEXT's spec is stored (so before any worker serves it):
- PREV's finished trials whose parameters lie inside NEXT's space are added to NEXT, with NEXT's
  distributions, their values and per-epoch values: TPE and the pruner start from what PREV
  measured. They carry a `warm_start` attr, do not count against NEXT's --trials, and are never
  NEXT's pick.
- PREV's top configurations that lie inside NEXT's space are queued, so NEXT's first trials
  re-measure them with NEXT's seeds.
The lineage (PREV, how it was narrowed, what was copied and queued) is NEXT's `zoomed_from`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.analysis.zoom import ZoomError, check_inside, distribution, inside, zoom_narrowing
from search.core.ranking import ranked_trials
from search.core.spec import StudySpec, read_spec
from search.core.storage import Storage
from search.service import studies

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def zoom_spec(previous: StudySpec, overrides: dict[str, Any]) -> StudySpec:
    """NEXT's spec: PREV's, with what the command line set explicitly; the space stays PREV's."""
    if overrides.get("space", previous.space) != previous.space:
        raise ZoomError(f"a zoom keeps the previous study's space ({previous.space}); got --space {overrides['space']}")
    if tuple(overrides.get("objectives", previous.objectives)) != tuple(previous.objectives):
        raise ZoomError("a zoom keeps the previous study's objectives: its trials' values are what warm-starts the sampler")
    base = {k: v for k, v in previous.to_dict().items() if k not in ("zoomed_from", "warm_trials")}
    return StudySpec.from_dict({**base, **overrides, "zoomed_from": None, "warm_trials": 0})


def launch_zoomed(storage: Storage, name: str, previous_name: str, overrides: dict[str, Any], *, top: int,
                  slack: float, narrowing: dict[str, Any] | None = None, narrowing_source: str | None = None) -> optuna.Study:
    """Create NEXT from PREV as the module says: PREV's spec with `overrides` (the options a command line set);
    `narrowing` (a --narrow file's) replaces the top-K zoom."""
    from spaces import get_space

    previous = studies.load(storage, previous_name)
    previous_spec = read_spec(previous)
    if previous_spec is None:
        raise ZoomError(f"study {previous_name!r} was not launched by hpsearch: it has no space to zoom into")
    spec = zoom_spec(previous_spec, overrides)
    if top < 1:
        raise ZoomError(f"--top must be at least 1, got {top}")
    best = ranked_trials(previous, previous_spec)[:top]
    if not best:
        raise ZoomError(f"nothing to zoom around: study {previous_name!r} has no completed trial within its limits yet")
    old_dims = get_space(previous_spec.space, previous_spec.narrowing).dimensions
    if narrowing is None:
        zoomed = zoom_narrowing(old_dims, [t.params for t in best], slack)
        narrowing = {**previous_spec.narrowing, **zoomed}
    else:
        narrowing = {**previous_spec.narrowing, **narrowing}
        check_inside(old_dims, get_space(spec.space, narrowing).dimensions)
    new_dims = get_space(spec.space, narrowing).dimensions
    spec = dataclasses.replace(spec, narrowing=narrowing)
    spec.validate()

    def fill(study: optuna.Study, spec: StudySpec) -> StudySpec:
        warm, queued = warm_start(study, previous.get_trials(deepcopy=False), best, new_dims, previous_name)
        lineage = {"study": previous_name, "source": narrowing_source or "top", "top": top, "slack": slack,
                   "narrowing": narrowing, "top_trials": [t.number for t in best], "queued": queued,
                   "warm_start_trials": warm}
        return dataclasses.replace(spec, zoomed_from=lineage, warm_trials=warm)

    return studies.launch(storage, name, spec, before_spec=fill)


def warm_start(study: optuna.Study, previous_trials, best, dims, previous_name: str) -> tuple[int, list[int]]:
    """Into a new study over `dims`: the previous study's finished trials that lie inside them, then its
    `best` configurations queued. Returns how many trials were copied and which were queued."""
    warm = [_copy(t, dims, previous_name) for t in previous_trials
            if t.state in FINISHED and t.params and inside(dims, t.params)]
    study.add_trials(warm)
    queued = []
    for t in best:
        if inside(dims, t.params):
            study.enqueue_trial(dict(t.params), user_attrs={"zoom_queued_from": {"study": previous_name, "trial": t.number}})
            queued.append(t.number)
    return len(warm), queued


def _copy(trial: FrozenTrial, dims, previous_name: str) -> FrozenTrial:
    """PREV's finished trial as a NEXT trial: NEXT's distributions, PREV's measurements and timings."""
    return FrozenTrial(
        number=0, trial_id=0, state=trial.state,
        value=None, values=trial.values if trial.state == TrialState.COMPLETE else None,
        datetime_start=trial.datetime_start, datetime_complete=trial.datetime_complete,
        params=dict(trial.params), distributions={k: distribution(dims[k]) for k in trial.params},
        user_attrs={"warm_start": {"study": previous_name, "trial": trial.number},
                    "config": trial.user_attrs.get("config")},
        system_attrs={}, intermediate_values=dict(trial.intermediate_values),
    )
