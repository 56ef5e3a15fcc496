"""Study-level operations: launch, summarise, pick the best trial, export it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.analysis.zoom import describe_lineage
from search.core import budget as time_budget
from search.core import trial_index
from search.core.confirmations import CONFIRMS_ATTR, by_mean, confirmed, maximizes
from search.core.artifacts import default_location, normalize_location, open_store
from search.core.counts import Counts, count_trials
from search.core.ranking import ranked_trials
from search.core.spec import HALTED_ATTR, SPEC_ATTR, StudySpec, check_pretrained_weights, read_spec
from search.core.storage import Storage


PORTFOLIO_ATTR = "portfolio_recipe"


class StudyError(ValueError):
    """A study does not exist, already exists, or has nothing to export."""


def launch(storage: Storage, name: str, spec: StudySpec, *, resume: bool = False, before_spec=None) -> optuna.Study:
    """Create the study with its spec stored in it (or, with resume, reopen and un-halt it).

    `before_spec(study, spec)` runs on a new study before its spec is stored: workers serve only
    studies with a spec, so what it adds (a zoom's warm-start and queued trials) is there first.
    """
    spec.validate()
    existing = {s.study_name: s for s in storage.optuna.get_all_studies()}
    if name in existing:
        if not resume:
            raise StudyError(f"study {name!r} already exists; use --resume to continue it, or pick another name")
        stored = read_spec(existing[name])
        if stored is None:
            raise StudyError(f"study {name!r} was not launched by hpsearch; it has no spec to resume")
        study = optuna.load_study(study_name=name, storage=storage.optuna)
        # Resuming may change the budgets (trials, time); nothing else.
        changed = {"trials": spec.trials}
        if spec.time_budget is not None:
            changed["time_budget"] = spec.time_budget
        if spec.max_overrun is not None:
            changed["max_overrun"] = spec.max_overrun
        if any(getattr(stored, k) != v for k, v in changed.items()):
            study.set_user_attr(SPEC_ATTR, {**stored.to_dict(), **changed})
        if study.user_attrs.get(HALTED_ATTR):
            study.set_user_attr(HALTED_ATTR, "")
        if study.user_attrs.get(time_budget.CLOCK_ATTR) or study.user_attrs.get(time_budget.ENDED_ATTR):
            # A resumed study gets a fresh allowance: its clock restarts at the next claim.
            study.set_user_attr(time_budget.CLOCK_ATTR, {})
            study.set_user_attr(time_budget.ENDED_ATTR, "")
        return study
    check_pretrained_weights(spec)  # a new study only: offline, it would otherwise halt after its failures
    location = spec.artifacts or default_location(storage)
    open_store(location)  # a location this host cannot use is refused now, not by every worker
    spec = dataclasses.replace(spec, artifacts=normalize_location(location))
    study = optuna.create_study(study_name=name, storage=storage.optuna, directions=spec.directions)
    study.set_metric_names(list(spec.objectives))  # the dashboard names them, not "Objective 0"
    if before_spec is not None:
        try:
            spec = before_spec(study, spec)
        except BaseException:
            optuna.delete_study(study_name=name, storage=storage.optuna)  # no half-made study keeps the name
            raise
    queue_portfolio(study, spec)
    study.set_user_attr(SPEC_ATTR, spec.to_dict())
    return study


def queue_portfolio(study: optuna.Study, spec: StudySpec) -> list[str]:
    """Queue the spec's proven recipes (StudySpec.portfolio_trials) as the study's first trials.

    Each is an ordinary trial of the study once claimed (its parameters fixed, the rest of it as any
    trial's), named in its `portfolio_recipe` attr. Returns the recipes queued, in order.
    """
    queued = []
    for recipe, params in spec.portfolio_trials():
        study.enqueue_trial(params, user_attrs={PORTFOLIO_ATTR: recipe.name})
        queued.append(recipe.name)
    return queued


def load(storage: Storage, name: str) -> optuna.Study:
    names = storage.study_names()
    if name not in names:
        import difflib

        hint = difflib.get_close_matches(name, names, n=1)
        suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
        known = f"; studies here: {', '.join(sorted(names))}" if names else "; this storage has no studies"
        raise StudyError(f"no study named {name!r}{suggestion}{known}")
    return optuna.load_study(study_name=name, storage=storage.optuna)


@dataclass
class StudySummary:
    name: str
    state: str
    counts: Counts
    budget: int | None
    best_value: float | None
    best_trial: int | None
    objective: str
    eta_seconds: float | None
    warm: int = 0  # finished trials copied from a zoomed-from study: in the counts, not in the budget
    confirm_budget: int = 0  # confirmation runs queued by `hpsearch confirm` (a budget apart)
    confirm_done: int = 0  # ... of which finished
    lineage: str | None = None  # "zoomed from PREV ..." for a zoomed study
    time_budget: float | None = None  # seconds, as launched
    time_left: float | None = None  # seconds of it left (all of it before the first trial)
    ended: str | None = None  # why no more trials start: budget met, time spent, halted

    @property
    def done(self) -> int:
        """This study's own finished search trials (complete or pruned): what --trials counts."""
        return self.counts.finished - self.warm - self.confirm_done

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "budget": self.budget,
            "done": self.done,
            "warm_start_trials": self.warm,
            "confirmations": {"budget": self.confirm_budget, "done": self.confirm_done},
            "lineage": self.lineage,
            "complete": self.counts.complete,
            "pruned": self.counts.pruned,
            "failed": self.counts.failed,
            "running": self.counts.running,
            "waiting": self.counts.waiting,
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "objective": self.objective,
            "eta_seconds": self.eta_seconds,
            "time_budget_seconds": self.time_budget,
            "time_left_seconds": self.time_left,
            "ended": self.ended,
        }


def summarize(study: optuna.Study, storage: Storage | None = None) -> StudySummary:
    """The study's row of `hpsearch status`; with `storage`, read through search.core.trial_index (light)."""
    spec = read_spec(study)
    trials = trial_index.index(storage, study._study_id) if storage else study.get_trials(deepcopy=False)
    counts = count_trials(trials)
    ranked = ranked_trials(study, spec, trials)
    best = ranked[0] if ranked else None
    budget = spec.trials if spec else None
    warm = spec.warm_trials if spec else 0
    confirm_budget = spec.confirm_trials if spec else 0
    confirm_done = sum(1 for t in trials if CONFIRMS_ATTR in t.user_attrs and t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    limit = None if budget is None else budget + confirm_budget  # finished trials of its own, confirmations included
    attrs = study.user_attrs
    seconds = spec.time_budget if spec else None
    left = time_budget.time_left(seconds, attrs)
    ended = None
    if attrs.get(HALTED_ATTR):
        state, ended = "halted", f"halted: {attrs[HALTED_ATTR]}"
    elif limit is not None and counts.finished - warm >= limit:
        state, ended = "done", f"trial budget of {budget} met" + (f", and {confirm_budget} confirmation runs" if confirm_budget else "")
    elif time_budget.spent(seconds, attrs):
        # The time ran out: nothing new starts, the running trials finish.
        state = "finishing" if counts.running else "done"
        ended = (attrs.get(time_budget.ENDED_ATTR) or {}).get("reason") or time_budget.spent_reason(seconds)
    elif counts.running:
        state = "running"
    else:
        state = "waiting for workers"
    eta_seconds = eta(trials, counts, limit, warm)
    if state == "done":
        eta_seconds = 0.0
    elif left is not None and state != "halted":
        eta_seconds = left if eta_seconds is None else min(eta_seconds, left)
    return StudySummary(
        name=study.study_name,
        state=state,
        counts=counts,
        budget=budget,
        best_value=best.values[0] if best else None,
        best_trial=best.number if best else None,
        objective=spec.objective if spec else "value",
        eta_seconds=eta_seconds,
        warm=warm,
        confirm_budget=confirm_budget,
        confirm_done=confirm_done,
        lineage=describe_lineage(spec.zoomed_from, warm) if spec and spec.zoomed_from else None,
        time_budget=seconds,
        time_left=left,
        ended=ended,
    )


def eta(trials: list[FrozenTrial], counts: Counts, budget: int | None, warm: int = 0) -> float | None:
    """Remaining trials x mean trial duration / trials running in parallel."""
    if budget is None or counts.finished - warm >= budget:
        return 0.0 if budget is not None else None
    durations = [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.datetime_complete and t.datetime_start
    ]
    if not durations:
        return None
    parallel = max(1, counts.running)
    return (budget - counts.finished + warm) * (sum(durations) / len(durations)) / parallel


def export_document(study: optuna.Study, top: int = 1) -> dict[str, Any]:
    """The best trial's configuration (readable by `hpsearch train`), metrics and provenance."""
    spec = read_spec(study)
    ranked = ranked_trials(study, spec)
    if not ranked:
        infeasible = spec is not None and spec.limits and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        why = "none meets the satisficing limits" if infeasible else "it has no completed trial yet"
        raise StudyError(f"nothing to export from study {study.study_name!r}: {why}")
    maximize = maximizes(study)
    objective = spec.objective if spec else "value"
    selection = (("highest " if maximize else "lowest ") + f"{objective} among complete trials within every satisficing limit"
                 + ("; on the Pareto front first" if len(study.directions) > 1 else ""))
    confirmation = None
    eligible = {t.number for t in ranked}  # complete and feasible originals only
    groups = [g for g in confirmed(study.get_trials(deepcopy=False), objective) if len(g.runs) > 1 and g.trial in eligible]
    if groups and len(study.directions) == 1:
        # Re-measured configurations are ranked by their mean: one lucky run no longer decides.
        ordered = by_mean(groups, maximize)
        best = next(t for t in ranked if t.number == ordered[0].trial)
        ranked = [best] + [t for t in ranked if t.number != best.number]
        runs = ordered[0].stats("objective")["n"]
        selection = (f"{'highest' if maximize else 'lowest'} mean {objective} over each confirmed configuration's runs "
                     f"(the original and its confirmation runs: {runs} for this one), among the {len(ordered)} "
                     f"configurations `hpsearch confirm` re-measured; unconfirmed trials are not ranked against them")
        confirmation = [g.to_dict() for g in ordered]
    best, others = ranked[0], ranked[1:top]
    doc = _trial_entry(study, spec, best)
    doc = {
        "hpsearch_export": 1,
        "study": study.study_name,
        **doc,
        "selection": selection,
        "provenance": {
            "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "trained_with": best.user_attrs.get("versions", {}),
            "spec": spec.to_dict() if spec else None,
        },
    }
    if confirmation:
        doc["confirmation"] = confirmation
    if others:
        doc["runners_up"] = [_trial_entry(study, spec, t) for t in others]
    return doc


def _trial_entry(study: optuna.Study, spec: StudySpec | None, trial: FrozenTrial) -> dict[str, Any]:
    from search.service.recording import FINAL_KEYS

    names = spec.objectives if spec else [f"value{i}" for i in range(len(trial.values))]
    return {
        "trial": trial.number,
        "objectives": {n: v for n, v in zip(names, trial.values)},
        "metrics": {k: trial.user_attrs[k] for k in FINAL_KEYS if k in trial.user_attrs},
        "params": dict(trial.params),
        "config": trial.user_attrs.get("config"),
    }


def trial_by_number(study: optuna.Study, number: int) -> FrozenTrial | None:
    """Trial `number` of the study, read alone (None when it has none): not every trial to find one."""
    try:
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    except KeyError:
        return None
    return study._storage.get_trial(trial_id)


def relevant_trials(storage: Storage, study: optuna.Study, best: int = 10, latest: int = 10) -> tuple[list[FrozenTrial], int]:
    """The trials `hpsearch status NAME` shows, by number, and how many the study has.

    The `best` best ranked, every running or waiting one, the `latest` others, and the confirmation
    runs with the trials they confirm: read whole, those alone (search.core.trial_index picks them).
    """
    indexed = trial_index.index(storage, study._study_id)
    chosen = {t.number for t in ranked_trials(study, read_spec(study), indexed)[:best]}
    chosen |= {t.number for t in indexed if t.state in (TrialState.RUNNING, TrialState.WAITING)}
    chosen |= {t.number for t in indexed[-latest:]} if latest else set()
    for t in indexed:
        if CONFIRMS_ATTR in t.user_attrs:
            chosen |= {t.number, t.user_attrs[CONFIRMS_ATTR]}
    ids = {t.number: t._trial_id for t in indexed}
    if storage.backend is None:  # a journal's trials are in memory already
        whole = [t for t in indexed if t.number in chosen]
    else:
        whole = [storage.optuna.get_trial(ids[n]) for n in sorted(chosen) if n in ids]
    return whole, len(indexed)


def wait_until_done(storage: Storage, name: str, poll: float = 2.0, on_update=None, stop=None) -> StudySummary:
    while True:
        summary = summarize(load(storage, name), storage)
        if on_update:
            on_update(summary)
        if summary.state in ("done", "halted") or (stop and stop()):
            return summary
        time.sleep(poll)
