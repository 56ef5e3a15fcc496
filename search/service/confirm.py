"""`hpsearch confirm NAME --top K --seeds S`: re-measure the top configurations under new seeds.

Each of the study's top K configurations (ranked as export ranks them) is queued S more times
as ordinary waiting trials of the same study, each marked with the trial it repeats, so any
worker runs them: a trial's seed is the study's seed plus its number, so each run gets a new
one. They are never pruned (search.service.trial_runner), and they add K x S to a confirmation
budget of their own (the spec's `confirm_trials`), never to --trials. The queueing and the
budget change happen under the study's budget lock, the one workers count under.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from search.core import budget
from search.core.confirmations import CONFIRM_ATTR, CONFIRMS_ATTR
from search.core.ranking import ranked_trials
from search.core.spec import HALTED_ATTR, SPEC_ATTR, read_spec
from search.core.storage import Storage
from search.service import studies


class ConfirmError(ValueError):
    """A study that cannot be confirmed (not hpsearch's, several objectives, nothing complete)."""


def queue_confirmations(storage: Storage, name: str, *, top: int, seeds: int) -> dict:
    if top < 1 or seeds < 1:
        raise ConfirmError(f"--top and --seeds must be at least 1, got {top} and {seeds}")
    study = studies.load(storage, name)
    spec = read_spec(study)
    if spec is None:
        raise ConfirmError(f"study {name!r} was not launched by hpsearch")
    if len(spec.objectives) > 1:
        raise ConfirmError("confirm ranks configurations by the mean of one objective; this study has several")
    best = ranked_trials(study, spec)[:top]
    if not best:
        raise ConfirmError(f"nothing to confirm: study {name!r} has no completed trial within its limits yet")
    with storage.budget_lock(name):
        for trial in best:
            for _ in range(seeds):
                study.enqueue_trial(dict(trial.params), user_attrs={CONFIRMS_ATTR: trial.number})
        fresh = read_spec(studies.load(storage, name))  # re-read under the lock: another confirm may have run
        grown = dataclasses.replace(fresh, confirm_trials=fresh.confirm_trials + len(best) * seeds)
        study.set_user_attr(SPEC_ATTR, grown.to_dict())
        history = list(study.user_attrs.get(CONFIRM_ATTR) or [])
        history.append({"top": top, "seeds": seeds, "trials": [t.number for t in best],
                        "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
        study.set_user_attr(CONFIRM_ATTR, history)
    attrs = study.user_attrs
    blocked = (f"halted ({attrs[HALTED_ATTR]})" if attrs.get(HALTED_ATTR)
               else "out of time" if budget.spent(spec.time_budget, attrs) else None)
    return {"trials": [t.number for t in best], "queued": len(best) * seeds, "confirm_budget": grown.confirm_trials,
            "blocked": blocked}
