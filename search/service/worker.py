"""The worker: a long-running loop that finds studies with budget left and runs their trials.

Workers are identical and keep no state of their own: the budget, the queue of retries and
the spec all live in the storage. A worker
  1. fails trials whose worker died (heartbeat gone stale, a dead pid on this host, or never
     started) and queues them again exactly once, with their lineage (search.service.orphans);
  2. picks a study with budget left, and under the study's budget lock counts its
     complete + pruned + running + waiting trials and creates one more only below the budget,
     so N workers never overshoot it;
  3. samples a configuration from the space, runs it in a trial process, records the outcome;
  4. on SIGTERM/SIGINT, stops the trial process, fails the trial, queues it again and exits 0.

Nothing between one trial's end and the next one's start reads the study's whole history: the
storage is cached across trials (search.core.storage), the budget is one count query, the budget lock
covers only the creation of the trial's row and the repairs (which read the history only when a
trial has failed since they last looked), and the dashboard figures are rewritten by a background
thread (search.service.refresher).
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import math
import os
import random
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from search.core import budget
from search.core.confirmations import CONFIRMS_ATTR
from search.core.counts import counts_from_states
from search.core.spec import HALTED_ATTR, SPEC_ATTR, SpecError, StudySpec, make_pruner, make_sampler
from search.core.storage import Backoff, Storage, StorageError, describe_error, is_connection_error, note_outage, open_storage
from search.service import checkpoints, identity, models, orphans, recording
from search.service.refresher import DEFAULT_INTERVAL, FigureRefresher
from search.service.outcome import COMPLETE, FAIL, INTERRUPTED, Outcome
from search.service.retrying import RetryingTrial, with_retry
from search.service.trial_runner import Heartbeat, drop_ahead, hand_ahead, supervise

log = logging.getLogger("hpsearch.worker")

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
CONFIRM_ATTEMPTS = 3  # runs a confirmation gets before its failure stands


class TrialLog(logging.LoggerAdapter):
    def process(self, msg, kwargs):
        return f"[study={self.extra['study']} trial={self.extra['trial']}] {msg}", kwargs


@dataclass(frozen=True)
class Claim:
    """A trial this worker created under the budget lock, before its parameters are sampled."""

    trial_id: int
    number: int  # -1 until run_trial has read it (under the trial's heartbeat)
    lock: dict[str, float]  # milliseconds waited for the budget lock, and held


@dataclass
class Opened:
    """A claimed trial with its configuration sampled and its heartbeat running, not yet trained."""

    study: optuna.Study
    spec: StudySpec
    trial: optuna.Trial
    config: object  # trainers.config.TrainConfig
    attrs: dict
    tlog: "TrialLog"
    heartbeat: Heartbeat
    outputs: dict
    store: object
    ahead: bool = False  # handed to the standby process before its turn


class Worker:
    def __init__(
        self,
        storage_url: str | None = None,
        *,
        studies: list[str] | None = None,
        idle_exit: float | None = None,
        poll_seconds: float = 2.0,
        heartbeat_seconds: int | None = None,
        figures_interval: float = DEFAULT_INTERVAL,
    ):
        # The repairer needs the storage, and the storage calls the repairer back for stale trials.
        self.storage: Storage = open_storage(storage_url, heartbeat_seconds=heartbeat_seconds,
                                             stale_callback=lambda study, trial: self.repairer.on_stale(study, trial))
        self.identity = identity.worker_identity()
        self.repairer = orphans.Repairer(self.storage, self.identity["host"])
        self.only = studies
        self.idle_exit = idle_exit
        self.poll_seconds = poll_seconds
        self.shutdown = threading.Event()
        self.trials_run = 0
        self.figures_interval = figures_interval
        self.refresher: FigureRefresher | None = None
        # Trial processes write their models and images here until the worker moves them to the study's store.
        self.outputs_dir = tempfile.mkdtemp(prefix="hpsearch-trials-")
        self.ahead: Opened | None = None  # the next trial, claimed while the current one finishes
        atexit.register(shutil.rmtree, self.outputs_dir, True)

    # ---- signals ---------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def stop(signum, frame):
            if not self.shutdown.is_set():
                log.info("received %s: stopping the current trial (it will be queued again) and exiting", signal.Signals(signum).name)
            self.shutdown.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    # ---- the loop --------------------------------------------------------------------
    def serve(self) -> int:
        self.refresher = FigureRefresher(self.storage, self.load, interval=self.figures_interval)
        try:
            return self._serve()
        finally:
            self.release_ahead()  # stopping with a trial claimed ahead: it is queued again
            self.refresher.stop()  # the figures show every trial this worker finished

    def _serve(self) -> int:
        log.info("worker %s:%d serving %s on %s", self.identity["host"], self.identity["pid"],
                 ", ".join(self.only) if self.only else "every study", self.storage.display)
        if self.only:
            known = set(self.storage.studies_user_attrs())
            for name in self.only:
                if name not in known:
                    log.warning("no study named %r yet; waiting for it to be launched", name)
        idle_since = time.monotonic()
        idle_logged = False
        backoff = Backoff()
        while not self.shutdown.is_set():
            try:
                ran = self.run_next()
                backoff.reset()
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                note_outage()
                delay = backoff.next()
                log.warning("storage unreachable (%s); retrying in %.0f s", describe_error(exc), delay)
                self.shutdown.wait(delay)
                continue
            if ran == "done":
                log.info("every study this worker serves has met its budget; exiting")
                return 0
            if ran:
                idle_since = time.monotonic()
                idle_logged = False
                continue
            if not idle_logged:  # once per idle spell: a person (or a test) can tell waiting from working
                log.info("idle: no study has a trial to run; looking again every %.0f s", self.poll_seconds)
                idle_logged = True
            if self.idle_exit is not None and time.monotonic() - idle_since >= self.idle_exit:
                log.info("idle for %.0f s; exiting", self.idle_exit)
                return 0
            self.shutdown.wait(self.poll_seconds)
        log.info("worker stopped after %d trials", self.trials_run)
        return 0

    def candidate_studies(self) -> list[tuple[str, StudySpec, dict]]:
        """The studies this worker may serve: launched by hpsearch, not halted (names, specs, user attrs)."""
        out = []
        for name, (_, attrs) in self.storage.studies_user_attrs().items():
            if self.only and name not in self.only:
                continue
            try:
                spec = StudySpec.from_dict(attrs[SPEC_ATTR]) if attrs.get(SPEC_ATTR) else None
            except SpecError as exc:
                log.warning("skipping study %s: %s", name, exc)
                continue
            if spec is None or attrs.get(HALTED_ATTR):
                continue
            out.append((name, spec, attrs))
        return out

    def run_next(self) -> bool | str:
        """Run one trial of some study with budget left. True if one ran; 'done' if nothing is left."""
        if self.run_ahead():
            return True
        candidates = self.candidate_studies()
        random.shuffle(candidates)  # spread workers over studies
        all_done = bool(self.only) and len(candidates) == len(self.only)
        for name, spec, attrs in candidates:
            if budget.spent(spec.time_budget, attrs):  # running trials finish; nothing new starts
                self.end_study(name, spec, attrs)
                continue
            try:
                study = self.load(name, spec)
            except SpecError as exc:  # e.g. a sampler this worker cannot build: other workers may
                log.error("[study=%s] cannot run here: %s", name, exc)
                continue
            counts = self.repaired_counts(study, spec)
            if counts is None:  # halted by this very repair
                continue
            if counts.finished < spec.trial_limit:
                all_done = False
            if counts.counted >= spec.trial_limit and counts.waiting == 0:
                continue
            claim = self.claim_trial(study, spec)
            if claim is None:
                continue
            self.run_trial(study, spec, claim)
            return True
        return "done" if all_done else False

    def repaired_counts(self, study: optuna.Study, spec: StudySpec):
        """The study's trial counts, after failing and queueing again the trials of dead workers.

        None when a configuration given up just now (lost every time it ran) halts the study.
        """
        counts = counts_from_states(self.storage.count_states(study._study_id))
        given_up = self.repairer.given_up
        if (counts.running or counts.failed) and self.repairer.repair(study, counts.failed):
            counts = counts_from_states(self.storage.count_states(study._study_id))
            # A configuration that kills its workers every time is a failure too.
            if self.repairer.given_up > given_up and self.after_trial(study, spec, failed=True):
                return None
        return counts

    def load(self, name: str, spec: StudySpec) -> optuna.Study:
        return optuna.load_study(
            study_name=name,
            storage=self.storage.optuna,
            sampler=make_sampler(spec),
            pruner=make_pruner(spec),
        )

    def claim_trial(self, study: optuna.Study, spec: StudySpec) -> Claim | None:
        """Create a trial only while the study is below its budget; the lock covers just that.

        Inside the study's budget lock: one count query, then the trial's row (a queued retry first,
        those already count toward the budget). Its first heartbeat and this worker's identity follow
        at once; sampling the parameters reads the history, so it happens after the lock is released,
        under the trial's heartbeat (`run_trial`).
        """
        storage = study._storage
        asked = time.perf_counter()
        with self.storage.budget_lock(study.study_name):
            acquired = time.perf_counter()
            counts = counts_from_states(self.storage.count_states(study._study_id))
            if counts.waiting == 0 and counts.counted >= spec.trial_limit:
                return None
            if spec.time_budget is not None and not self.start_clock(study, spec):
                return None
            trial_id = study._pop_waiting_trial_id() if counts.waiting else None
            if trial_id is None:
                trial_id = storage.create_new_trial(study._study_id)
        released = time.perf_counter()
        return Claim(trial_id, -1, {"wait_ms": round(1000 * (acquired - asked), 2),
                                    "held_ms": round(1000 * (released - acquired), 2)})

    def start_clock(self, study: optuna.Study, spec: StudySpec) -> bool:
        """Under the budget lock: start the study's clock at its first claim; False once it has run out.

        The attrs are read afresh here (one query), not from the poll: another worker may have
        started the clock, or spent it, since.
        """
        attrs = study._storage.get_study_user_attrs(study._study_id)
        if budget.clock_started(attrs) is None:
            study.set_user_attr(budget.CLOCK_ATTR, budget.clock_mark())
            log.info("[study=%s] time budget of %s starts now", study.study_name, budget.describe_duration(spec.time_budget))
            return True
        if budget.spent(spec.time_budget, attrs):
            self.end_study(study.study_name, spec, attrs, study)
            return False
        return True

    def end_study(self, name: str, spec: StudySpec, attrs: dict, study: optuna.Study | None = None) -> None:
        """Record, once, that the time budget ended the study (`attrs`: its user attrs as just read)."""
        if attrs.get(budget.ENDED_ATTR):
            return
        reason = budget.spent_reason(spec.time_budget)
        study = study or optuna.load_study(study_name=name, storage=self.storage.optuna)
        study.set_user_attr(budget.ENDED_ATTR, budget.ended_mark(reason))
        log.info("[study=%s] %s: no new trials start; running ones finish", name, reason)

    # ---- one trial -------------------------------------------------------------------
    def run_trial(self, study: optuna.Study, spec: StudySpec, claim: Claim) -> None:
        opened = self.open_trial(study, spec, claim)
        if opened is not None:
            self.execute(opened)

    def open_trial(self, study: optuna.Study, spec: StudySpec, claim: Claim) -> "Opened | None":
        """Start the claimed trial's heartbeat and sample its configuration; None when it ended there.

        The heartbeat runs from the trial's creation: sampling its parameters can take seconds on a
        busy machine with a long history, longer than the grace before other workers call it stale,
        and a database outage right after the row was created must not orphan it. So the first
        beat, this worker's identity and the trial's number come under the running heartbeat, the
        last two waiting out an outage like every other write of a running trial. The heartbeat
        stops when `execute` (or `release_ahead`) is done with the trial.
        """
        storage = study._storage
        heartbeat = Heartbeat(self.storage, claim.trial_id, log).__enter__()
        opened, tlog = None, TrialLog(log, {"study": study.study_name, "trial": f"id {claim.trial_id}"})  # until its number is read
        try:
            heartbeat.beat()
            with_retry(lambda: storage.set_trial_user_attr(claim.trial_id, "worker", self.identity),
                       what="claiming the trial", log=log)
            claim = dataclasses.replace(claim, number=with_retry(lambda: storage.get_trial_number_from_id(claim.trial_id),
                                                                 what="claiming the trial", log=log))
            tlog = heartbeat.log = TrialLog(log, {"study": study.study_name, "trial": claim.number})
            opened = self._sample(study, spec, claim, tlog, heartbeat)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker took this trial for lost (its heartbeat looked stale) and queued a retry.
            tlog.warning("another worker already failed this trial as stale; its retry will run it again")
        finally:
            if opened is None:  # ended here (or raised): nothing will run it
                heartbeat.__exit__(None, None, None)
        return opened

    def _sample(self, study: optuna.Study, spec: StudySpec, claim: Claim, tlog: "TrialLog", heartbeat: Heartbeat) -> "Opened | None":
        from spaces import SpaceError, get_space

        # Every read and write of the claimed trial waits out a database outage: one that raised here
        # would abandon the trial to the stale check (and to a retry) although its worker lives.
        starting = {"what": "starting the trial", "log": tlog}
        trial = with_retry(lambda: optuna.Trial(study, claim.trial_id), **starting)  # samples the relative parameters
        handle = RetryingTrial(trial, tlog)
        # Kept on the trial, so what the lock costs can be read from the storage (benchmarks, a slow database).
        handle.set_user_attr("budget_lock", claim.lock)
        try:
            space = get_space(spec.space, spec.narrowing)
            # Each suggestion is written to the storage; one that meets a database restart is tried
            # again (an already written parameter comes back as it was), never blamed on the space.
            config = with_retry(lambda: space.suggest(trial, spec.base_config(trial.number)),
                                what="sampling the configuration", log=tlog)
        except optuna.exceptions.UpdateFinishedTrialError:
            raise
        except Exception as exc:  # a broken user space fails this trial, not the worker
            reason = f"the space raised {type(exc).__name__}: {exc}" if not isinstance(exc, SpaceError) else str(exc)
            tlog.error("%s", reason)
            outcome = Outcome(state=FAIL, reason=reason)
            with_retry(lambda: recording.record(trial, study, spec, outcome), what="recording", log=tlog)
            self.after_trial(study, spec, failed=True)
            return None
        handle.set_user_attr("config", config.to_dict())
        if config.optimizer.name == "sgd":
            handle.set_user_attr("momentum", config.optimizer.momentum)
        attrs = handle.user_attrs
        outputs = {"dir": os.path.join(self.outputs_dir, f"trial-{claim.trial_id}"), "model": spec.keep_models > 0}
        os.makedirs(outputs["dir"], exist_ok=True)
        store = self.artifact_store(spec, tlog)
        self.fetch_checkpoint(trial, attrs.get("resume_from"), store, outputs, tlog)
        return Opened(study, spec, trial, config, attrs, tlog, heartbeat, outputs, store)

    def execute(self, opened: "Opened") -> None:
        """Run an opened trial to its end, record it, and stop its heartbeat."""
        study, spec, trial, tlog = opened.study, opened.spec, opened.trial, opened.tlog
        try:
            retry_of = opened.attrs.get("retry_of")
            tlog.info("started%s%s: %s", f" (retry of trial {retry_of})" if retry_of is not None else "",
                      " (prepared ahead)" if opened.ahead else "", _summary(opened.config))
            store = opened.store
            try:
                outcome = supervise(trial, spec, opened.config.to_json(), self.shutdown, tlog, opened.outputs, store,
                                    ahead=lambda: self.prepare_ahead(study, spec))
                with_retry(lambda: recording.record(trial, study, spec, outcome, store=store if outcome.state == COMPLETE else None),
                           what="recording the result", log=tlog)
                tlog.info("%s%s", outcome.state, f": {outcome.reason}" if outcome.reason else "")
                if outcome.state != INTERRUPTED:  # an interrupted trial's retry resumes from its checkpoint
                    checkpoints.discard(store, RetryingTrial(trial, tlog).user_attrs.get(checkpoints.ATTR))
                self.keep_model(study, spec, trial.number, outcome, tlog)
            finally:
                shutil.rmtree(opened.outputs["dir"], ignore_errors=True)
            if outcome.state == INTERRUPTED:
                self.queue_again(study, trial, outcome.reason, tlog)
            elif outcome.state == FAIL:
                self.requeue_confirmation(study, trial, tlog)
            self.trials_run += 1
            self.after_trial(study, spec, failed=outcome.state == FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            # Another worker took this trial for lost (its heartbeat looked stale) and queued a retry.
            tlog.warning("another worker already failed this trial as stale; its retry will run it again")
        finally:
            opened.heartbeat.__exit__(None, None, None)

    # ---- the next trial, ahead of its turn ------------------------------------------
    def prepare_ahead(self, study: optuna.Study, spec: StudySpec) -> None:
        """Claim this study's next trial while the current one finishes, and hand it to the standby.

        Called once the current trial has at most its last epoch left (or is being stopped): the
        standby process then loads, builds and rehearses the next trial meanwhile, and it starts
        training the moment this one ends (`run_next` runs it first). Claimed like any trial, under
        the budget lock, so --trials and the time budget hold; if the worker stops first, the trial
        is queued again (`release_ahead`). Whatever goes wrong here costs only the head start.
        """
        if self.ahead is not None or self.shutdown.is_set():
            return
        try:
            attrs = with_retry(lambda: study.user_attrs, what="reading the study", log=log)
            if attrs.get(HALTED_ATTR) or not attrs.get(SPEC_ATTR):
                return
            spec = StudySpec.from_dict(attrs[SPEC_ATTR])  # as of now: a --resume may have changed --trials
            # As before any claim: a dead worker's trial, queued again now, is the one claimed (retries first).
            if self.repaired_counts(study, spec) is None:
                return
            claim = self.claim_trial(study, spec)
            if claim is None:
                return
            opened = self.open_trial(study, spec, claim)
        except Exception as exc:
            log.warning("[study=%s] the next trial could not be prepared ahead (%s); it starts after this one",
                        study.study_name, describe_error(exc))
            return
        if opened is None:
            return
        opened.ahead = hand_ahead(spec.trainer, opened.config.to_json(), opened.outputs, opened.trial._trial_id)
        self.ahead = opened
        opened.tlog.info("claimed ahead, while the worker's current trial finishes%s",
                         "; its process prepares it" if opened.ahead else "")

    def run_ahead(self) -> bool:
        """Run the trial claimed ahead, if any (True). A study halted meanwhile gets it back, queued."""
        opened, self.ahead = self.ahead, None
        if opened is None:
            return False
        halted = with_retry(lambda: opened.study.user_attrs, what="reading the study", log=opened.tlog).get(HALTED_ATTR)
        if halted or self.shutdown.is_set():
            self._release(opened, "its study was halted before its turn" if halted else None)
        else:
            self.execute(opened)
        return True

    def release_ahead(self) -> None:
        """The worker stops with a trial claimed ahead: it is queued again (`_release`)."""
        opened, self.ahead = self.ahead, None
        if opened is not None:
            self._release(opened)

    def _release(self, opened: Opened, why: str | None = None) -> None:
        """A trial claimed ahead will not run here: it is recorded as interrupted and queued again, as
        a trial stopped by a shutdown is (nothing a user launched is lost)."""
        drop_ahead()
        reason = f"interrupted before its turn: {why or 'the worker was asked to stop'}"
        tlog = opened.tlog
        try:
            outcome = Outcome(state=INTERRUPTED, reason=reason)
            with_retry(lambda: recording.record(opened.trial, opened.study, opened.spec, outcome), what="recording", log=tlog)
            self.queue_again(opened.study, opened.trial, reason, tlog)
            tlog.info("%s; queued again", reason)
        except optuna.exceptions.UpdateFinishedTrialError:
            tlog.warning("another worker already failed this trial as stale; its retry will run it again")
        finally:
            shutil.rmtree(opened.outputs["dir"], ignore_errors=True)
            opened.heartbeat.__exit__(None, None, None)

    def queue_again(self, study: optuna.Study, trial: optuna.Trial, reason: str, tlog: "TrialLog") -> None:
        """Queue an interrupted trial's retry (its lineage and checkpoint go with it)."""
        with_retry(lambda: self.repairer.queue_retry(study, study._storage.get_trial(trial._trial_id), reason),
                   what="queueing the retry", log=tlog)

    def requeue_confirmation(self, study: optuna.Study, trial: optuna.Trial, tlog: TrialLog) -> None:
        """A failed confirmation run is queued again (up to CONFIRM_ATTEMPTS runs in all): the slot it held in
        the confirmation budget would otherwise go to a newly sampled trial, and the configuration would
        be re-measured fewer times than asked."""
        attrs = RetryingTrial(trial, tlog).user_attrs
        if attrs.get(CONFIRMS_ATTR) is None:
            return
        attempt = int(attrs.get("confirm_attempt", 1))
        if attempt >= CONFIRM_ATTEMPTS:
            tlog.warning("confirmation run of trial %s failed %d times: not queued again", attrs[CONFIRMS_ATTR], attempt)
            return
        again = {CONFIRMS_ATTR: attrs[CONFIRMS_ATTR], "confirm_attempt": attempt + 1, "retry_of": trial.number}
        with_retry(lambda: study.enqueue_trial(dict(trial.params), user_attrs=again), what="queueing the retry", log=tlog)
        tlog.info("confirmation run of trial %s failed: queued again (attempt %d of %d)", attrs[CONFIRMS_ATTR],
                  attempt + 1, CONFIRM_ATTEMPTS)

    def fetch_checkpoint(self, trial: optuna.Trial, entry: dict | None, store, outputs: dict, tlog: TrialLog) -> None:
        """For a retry of an interrupted trial (`entry`: its resume_from attr): its checkpoint, so the run resumes there."""
        if not entry or store is None:
            return
        try:
            outputs["resume"] = checkpoints.fetch(store, entry, outputs["dir"])
        except Exception as exc:
            tlog.warning("the checkpoint of epoch %s cannot be read (%s: %s): starting from epoch 0",
                         entry.get("epoch"), type(exc).__name__, exc)
            return
        RetryingTrial(trial, tlog).set_user_attr(checkpoints.ATTR, entry)  # inherited: kept until this trial has its own

    def artifact_store(self, spec: StudySpec, tlog: TrialLog):
        """The study's artifact store, or None (logged) when this host cannot open it."""
        try:
            return models.study_store(self.storage, spec)
        except Exception as exc:
            tlog.warning("the study's artifact store cannot be opened here: %s", exc)
            return None

    def keep_model(self, study: optuna.Study, spec: StudySpec, number: int, outcome, tlog: TrialLog) -> None:
        """Move a completed trial's saved model to the study's store, under its retention rule."""
        path = outcome.result.get("model_path")
        unsaved = {"model_error": "its model was", "predictions_error": "its dev and test predictions were",
                   "mistakes_error": "its mistake images were"}
        for key, what in unsaved.items():
            if outcome.result.get(key):
                tlog.warning("%s not saved: %s", what, outcome.result[key])
        if not path or outcome.state != COMPLETE:
            return
        metrics = recording.final_metrics(outcome)
        values = [metrics.get(o, math.nan) for o in spec.objectives]
        feasible = all(v <= 0 for v in recording.constraint_values(spec, metrics).values())
        try:
            predictions = outcome.result.get("predictions_path")
            kept = with_retry(lambda: models.keep(self.storage, study, spec, number, values, feasible, path, predictions),
                              what="keeping the model", log=tlog)
        except Exception as exc:  # a full or unmounted artifact folder costs the model, not the study
            tlog.warning("its model could not be kept: %s", exc)
            return
        if kept:
            tlog.info("model kept (the best %d are)", spec.keep_models)

    def after_trial(self, study: optuna.Study, spec: StudySpec, *, failed: bool) -> bool:
        """Halt a study whose last `max_failures` trials all failed (True when this call halted it);
        mark its dashboard figures as due.

        Only a failure can complete such a streak, so only a worker whose trial just failed looks
        (the look sorts the whole history: not something to do after every trial of a long study).
        """
        self.refresher.changed(study.study_name, spec)  # rewritten off this path, at most every few seconds
        if not failed:
            return False
        trials = study.get_trials(deepcopy=False)
        retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
        # Final outcomes only: a lost trial queued again is not a verdict on its configuration, but
        # one lost every time (given up after its retries) is.
        finished = [t for t in trials if t.state in (*FINISHED, TrialState.FAIL)
                    and t.user_attrs.get("outcome") != INTERRUPTED and t.number not in retried]
        finished.sort(key=lambda t: t.datetime_complete or t.datetime_start)
        last = finished[-spec.max_failures :]
        if len(last) == spec.max_failures and all(t.state == TrialState.FAIL for t in last):
            reason = f"the last {spec.max_failures} trials failed (latest: {last[-1].user_attrs.get('fail_reason', 'unknown')})"
            study.set_user_attr(HALTED_ATTR, reason)
            log.error("[study=%s] halted: %s; fix the cause, then `hpsearch launch %s --resume`", study.study_name, reason, study.study_name)
            return True
        return False


def _summary(config) -> str:
    m, o, a = config.model, config.optimizer, config.augment
    # A small CNN's depth and width decide its cost (an epoch on Fashion-MNIST takes a minute or an
    # hour on 2 cores): the log says which one a slow trial is.
    shape = f" depth={m.depth} width={m.width}" if m.backbone == "small_cnn" else ""
    return (
        f"{m.backbone}{shape} head={m.head_units or 'none'} bn={m.batch_norm} dropout={m.dropout:.2f} aug={a.policy} "
        f"{o.name} lr={o.learning_rate:.2e}" + (f" momentum={o.momentum:.4f}" if o.name == "sgd" else "")
        + f" batch={config.training.batch_size}"
    )


def main(storage_url: str | None, studies: list[str] | None, idle_exit: float | None, heartbeat: int | None = None) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    backoff = Backoff()
    while True:
        try:
            worker = Worker(storage_url, studies=studies, idle_exit=idle_exit, heartbeat_seconds=heartbeat)
            break
        except StorageError as exc:
            # A database still starting (compose, a restart): wait for it; anything else is fatal.
            if not exc.unreachable:
                raise
            delay = backoff.next()
            log.warning("%s; retrying in %.0f s", exc, delay)
            if stop.wait(delay):
                return 0
    worker.install_signal_handlers()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return worker.serve()
