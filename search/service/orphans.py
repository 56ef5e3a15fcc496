"""Trials whose worker is gone: failed, and queued again exactly once.

A worker can vanish at any instant (SIGKILL, a lost host, a container stopped), between any two
of its writes. Each poll of every worker repairs what a lost one left behind, under the study's
budget lock:

- a RUNNING trial whose worker process is dead on this host (its pid), or whose heartbeat went
  stale (any host), is failed;
- a RUNNING trial that has neither a heartbeat nor its worker's identity is failed once it is
  UNCLAIMED_GRACE old: its worker died between creating the trial's row and its first beat.
  Optuna's stale check skips trials without a heartbeat, so such a trial would otherwise hold a
  slot of the budget for ever and the study would never finish;
- a trial that was lost rather than failed on its own (it has no recorded outcome "fail") gets a
  retry with its parameters and lineage, unless it has one: also when the worker that failed it
  died before queueing the retry.

Failing and queueing happen under the budget lock, and a retry is queued only after checking that
none exists, so workers repairing the same trial at once queue one retry between them; and the
budget, counted under the same lock, does not see a lost trial failed before its retry is queued.
"""

from __future__ import annotations

import datetime
import logging

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.core.confirmations import CONFIRMS_ATTR
from search.core.storage import Storage, seconds_since_outage
from search.service.identity import alive
from search.service.outcome import FAIL

log = logging.getLogger("hpsearch.worker")

MAX_RETRIES = 3  # a configuration whose workers keep dying is given up after this many retries
# A trial's first heartbeat and its worker's identity follow the creation of its row within
# milliseconds (seconds on a starved machine): a trial without either for this long was orphaned.
UNCLAIMED_GRACE = 30.0
DIED = "its worker process died"
STALE = "its worker stopped sending heartbeats"
UNCLAIMED = "its worker died before it could start the trial"
LOST = "its worker was lost"  # failed by a worker that died in turn before queueing the retry


class Repairer:
    """One worker's repairs: it fails trials whose worker is gone and queues their retries."""

    def __init__(self, storage: Storage, host: str) -> None:
        self.storage, self.host = storage, host
        self._failed_seen: dict[int, int] = {}  # study id -> FAIL count when its retries were last checked
        self._reasons: dict[int, str] = {}  # trial id -> why this worker failed it
        self.given_up = 0  # configurations this worker found lost MAX_RETRIES + 1 times: failures for --max-failures

    def on_stale(self, study: optuna.Study, trial: FrozenTrial) -> None:
        """Optuna's heartbeat_stale_trial_callback: called (under `repair`'s lock) for each trial it failed."""
        self._reasons[trial._trial_id] = STALE
        log.warning("[study=%s trial=%d] worker lost (heartbeat stale): failed", study.study_name, trial.number)

    def repair(self, study: optuna.Study, failed_count: int) -> bool:
        """Fail the study's orphaned trials and queue every missing retry (`failed_count`: its FAIL trials now).

        True when it changed any trial's state, so that the caller counts them again (only then).
        """
        with self.storage.budget_lock(study.study_name):
            failed_now = self._fail_orphans(study)
            queued = 0
            if failed_now or failed_count != self._failed_seen.get(study._study_id):
                queued = self._queue_missing_retries(study)
                self._failed_seen[study._study_id] = failed_count + failed_now
        return bool(failed_now or queued)

    def queue_retry(self, study: optuna.Study, trial: FrozenTrial, reason: str) -> None:
        """Queue the retry of a trial this worker failed itself (an interrupted one), once."""
        with self.storage.budget_lock(study.study_name):
            self._reasons[trial._trial_id] = reason
            self._queue_missing_retries(study)

    # ---- failing -----------------------------------------------------------------
    def _fail_orphans(self, study: optuna.Study) -> int:
        failed = 0
        unclaimed = []
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            who = t.user_attrs.get("worker")
            if not who:
                unclaimed.append(t)
            # Dead pids on this host come first: they name the cause exactly, at once (a heartbeat
            # goes stale too, seconds later, and would hide it).
            elif who.get("host") == self.host and not alive(who) and self._fail(study, t, DIED):
                log.warning("[study=%s trial=%d] worker pid %s died: failed", study.study_name, t.number, who.get("pid"))
                failed += 1
        stale = self.storage.stale_seconds
        if stale and seconds_since_outage() > 2 * stale:
            # After a database outage every heartbeat is old: live workers get a full stale window
            # twice over to beat again (a starved machine can take seconds) before any is judged.
            before = len(self._reasons)
            optuna.storages.fail_stale_trials(study)  # calls on_stale for each trial it failed
            failed += len(self._reasons) - before
        old = [t for t in unclaimed if _age_seconds(t) > UNCLAIMED_GRACE]
        if old:
            beating = self.storage.trials_with_heartbeat(study._study_id)
            for t in old:
                if t._trial_id not in beating and self._fail(study, t, UNCLAIMED):
                    log.warning("[study=%s trial=%d] never started by its worker: failed", study.study_name, t.number)
                    failed += 1
        return failed

    def _fail(self, study: optuna.Study, trial: FrozenTrial, reason: str) -> bool:
        try:
            if not study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                return False
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # it finished, or another worker failed it first
        self._reasons[trial._trial_id] = reason
        return True

    # ---- queueing ----------------------------------------------------------------
    def _queue_missing_retries(self, study: optuna.Study) -> int:
        queued = 0
        trials = study.get_trials(deepcopy=False)
        retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
        for t in trials:
            if t.state != TrialState.FAIL or t.number in retried or t.user_attrs.get("outcome") == FAIL:
                continue  # finished, already retried, or failed on its own (the space, the trainer)
            mine = self._reasons.pop(t._trial_id, None)
            reason = mine or t.user_attrs.get("fail_reason") or LOST
            if requeue(study, t, reason):
                log.warning("[study=%s trial=%d] queued again (%s)", study.study_name, t.number, reason)
                queued += 1
            elif mine:
                log.error("[study=%s trial=%d] lost %d times: not queued again", study.study_name, t.number, MAX_RETRIES + 1)
                self.given_up += 1
        return queued


def requeue(study: optuna.Study, failed: FrozenTrial, reason: str) -> bool:
    """Queue the same parameters again as a WAITING trial that records where it came from."""
    history = list(failed.user_attrs.get("retry_history", [])) + [failed.number]
    if len(history) > MAX_RETRIES:
        return False
    attrs = {"retry_of": failed.number, "retry_history": history, "retry_reason": reason}
    if failed.user_attrs.get("checkpoint"):  # the retry resumes after the last epoch the trial saved
        attrs["resume_from"] = failed.user_attrs["checkpoint"]
    if CONFIRMS_ATTR in failed.user_attrs:  # a lost confirmation run stays one (its own budget)
        attrs[CONFIRMS_ATTR] = failed.user_attrs[CONFIRMS_ATTR]
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=failed.params,
            distributions=failed.distributions,
            user_attrs=attrs,
        )
    )
    return True


def _age_seconds(trial: FrozenTrial) -> float:
    # datetime_start is the creating worker's local time, naive (Optuna's convention).
    return (datetime.datetime.now() - trial.datetime_start).total_seconds() if trial.datetime_start else 0.0
