"""The worker side of one trial: spawn the trial process, relay epochs to Optuna, supervise.

The worker keeps the live `optuna.Trial`, reports each epoch's objective, asks the pruner, and
answers the child "go" or "stop". It also keeps the trial's heartbeat (in a guarded thread: one
database error must not end it for good), enforces the per-trial timeout, and turns every way a
child can end (result, error, signal, silence) into an `Outcome` with a reason a person can read.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import multiprocessing
import os
import signal
import threading
import time
from typing import Callable

import optuna

from search.core import budget
from search.core.confirmations import CONFIRMS_ATTR
from search.core import early_check
from search.core.early_check import CHECK_STEP, EARLY_CHECK_ATTR
from search.core.spec import StudySpec
from search.core.storage import Storage, describe_error, note_outage
from search.service.messages import (GO, STOP, Check, Checkpoint, Epoch, Error, Handover, Ready, Result, Resumed,
                                     Started)
from search.service.outcome import COMPLETE, FAIL, INTERRUPTED, PRUNED, Outcome
from search.service.retrying import RetryingTrial, with_retry
from search.service.trial_process import child_main, standby_main
from trainers.result import NAN_LOSS, STOPPED

class Heartbeat:
    """Records the trial's heartbeat every interval; survives database outages."""

    def __init__(self, storage: Storage, trial_id: int, log):
        self.storage, self.trial_id, self.log = storage, trial_id, log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{trial_id}", daemon=True)
        self.failures = 0

    def __enter__(self) -> "Heartbeat":
        if self.storage.heartbeat_seconds:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def beat(self) -> None:
        if not self.storage.heartbeat_seconds:
            return  # the embedded storage has no heartbeats; dead local workers are found by pid
        try:
            self.storage.optuna.record_heartbeat(self.trial_id)
            if self.failures:
                self.log.info("heartbeat restored after %d failed attempts", self.failures)
            self.failures = 0
        except Exception as exc:  # never let the thread die: that would orphan the trial
            note_outage()
            self.failures += 1
            if self.failures == 1:
                self.log.warning("heartbeat failed (%s); will keep trying", describe_error(exc))

    def _run(self) -> None:
        while not self._stop.wait(self.storage.heartbeat_seconds):
            self.beat()


def supervise(
    trial: optuna.Trial,
    spec: StudySpec,
    config_json: str,
    shutdown: threading.Event,
    log,
    outputs: dict | None = None,
    store=None,
    ahead: Callable[[], None] | None = None,
) -> Outcome:
    """Run the trial process to its end and say how it ended (`outputs`: see trial_process.child_main).

    With the study's artifact `store`, the run's per-epoch checkpoints are kept there (see
    search.service.checkpoints); without one they are dropped. `ahead` is called once, when this
    trial has at most its last epoch left to train or is being stopped: the worker then claims its
    next trial and hands it to the standby (`hand_ahead`), which prepares it while this one finishes.
    """
    ctx = _context()
    taken = _STANDBY.take(spec.trainer, config_json, outputs, trial._trial_id)
    if taken:
        proc, parent_conn = taken
    else:
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(
            target=child_main,
            args=(child_conn, spec.trainer, config_json, time.time(), outputs),
            name=f"hpsearch-trial-{trial.number}",
        )
        proc.start()
        child_conn.close()
    # The next trial's process imports, and loads this trial's data, while this one runs.
    _STANDBY.start(ctx, spec.trainer, config_json)
    started = time.monotonic()
    pace = budget.EpochPace(started)
    out = Outcome(state=FAIL)
    single = len(spec.objectives) == 1
    # A confirmation run (`hpsearch confirm`) re-measures a configuration: stopping it early would defeat it.
    handle = RetryingTrial(trial, log)
    prunable = single and CONFIRMS_ATTR not in handle.user_attrs
    try:
        while True:
            if shutdown.is_set():
                _kill(proc)
                out.state, out.reason = INTERRUPTED, "interrupted: the worker was asked to stop"
                return out
            if spec.trial_timeout and time.monotonic() - started > spec.trial_timeout:
                _kill(proc)
                out.reason = f"timed out after {spec.trial_timeout:g} s (per-trial timeout)"
                return out
            if not parent_conn.poll(0.2):
                if not proc.is_alive() and not parent_conn.poll(0.5):
                    proc.join()
                    out.reason = exit_reason(proc.exitcode)
                    return out
                continue
            try:
                message = parent_conn.recv()
            except (EOFError, OSError):
                proc.join(10)
                out.reason = exit_reason(proc.exitcode)
                return out
            match message:
                case Ready():  # handed over ahead and prepared: its turn has come
                    parent_conn.send(GO)
                case Started(info):
                    out.info.update(info)
                    pace.started()
                case Checkpoint():
                    _keep_checkpoint(trial, store, message, log)
                case Resumed(epoch, history):
                    # The retry's curves and pruning decisions see one run: the epochs it inherits first.
                    out.history = list(history)
                    out.info["resumed_at"] = epoch
                    for step, metrics in enumerate(history, start=1):
                        value = metrics.get(spec.objective)
                        if single and value is not None and math.isfinite(value):
                            handle.report(value, step)
                    log.info("resumed after epoch %d/%d from the checkpoint of the trial it retries", epoch, spec.epochs)
                case Check(fraction, metrics):  # the early check, part-way through epoch 1 (search.core.early_check)
                    decision = _judge_check(handle, spec, fraction, metrics) if prunable else GO
                    if decision == STOP:
                        out.pruned_at, out.prune_reason = CHECK_STEP, f"pruned at the check after {fraction:.0%} of epoch 1"
                    if shutdown.is_set():
                        decision = STOP
                    parent_conn.send(decision)
                    if ahead is not None and not shutdown.is_set() and decision == STOP:
                        ahead, prepare = None, ahead
                        prepare()
                case Epoch(epoch, metrics):
                    out.history.append(metrics)
                    pace.epoch(metrics)
                    decision = GO
                    value = metrics.get(spec.objective)
                    if single and value is not None and math.isfinite(value):
                        handle.report(value, epoch)
                        # After the last epoch nothing is left to save: the trial completes, with its whole result.
                        if prunable and epoch < spec.epochs:
                            if handle.should_prune():
                                decision, out.pruned_at = STOP, epoch
                            elif spec.time_budget is not None:
                                why = _outlasts_budget(handle, spec, pace, spec.epochs - epoch)
                                if why:
                                    decision, out.pruned_at, out.prune_reason = STOP, epoch, why
                    log.info(
                        "epoch %d/%d %s=%s%s",
                        epoch,
                        spec.epochs,
                        spec.objective,
                        f"{value:.4f}" if value is not None else "n/a",
                        " -> pruned" if decision == STOP else "",
                    )
                    if shutdown.is_set():
                        decision = STOP
                    parent_conn.send(decision)
                    if ahead is not None and not shutdown.is_set() and (decision == STOP or epoch >= spec.epochs - 1):
                        ahead, prepare = None, ahead
                        prepare()
                case Result(result):
                    proc.join(60)
                    out.result = result
                    reason = result.get("stop_reason", "")
                    if reason == NAN_LOSS:
                        out.reason = f"loss became NaN or infinite at epoch {result.get('epochs_run')}"
                    elif out.pruned_at is not None:
                        out.state, out.reason = PRUNED, out.prune_reason or f"pruned at epoch {out.pruned_at}"
                    elif shutdown.is_set() or reason == STOPPED:
                        out.state, out.reason = INTERRUPTED, "interrupted: the worker was asked to stop"
                    else:
                        out.state, out.reason = COMPLETE, reason
                    return out
                case Error(reason, trace):
                    proc.join(60)
                    out.reason = reason
                    out.info["traceback"] = trace
                    return out
    finally:
        if proc.is_alive():
            _kill(proc)
        parent_conn.close()


def _judge_check(trial: RetryingTrial, spec: StudySpec, fraction: float, metrics: dict) -> str:
    """Report the early check at step 0 and ask the pruner: GO or STOP."""
    value = metrics.get(spec.objective)
    if value is None or not math.isfinite(value):
        return GO
    check = early_check.record(fraction, metrics, value)
    trial.set_user_attr(EARLY_CHECK_ATTR, check)
    trial.report(value, CHECK_STEP)
    pruned = trial.should_prune()
    trial.log.info("check after %.0f%% of epoch 1: %s=%.4f ± %.4f on %d dev images%s", 100 * fraction,
                   spec.objective, value, check["standard_error"], check["examples"], " -> pruned" if pruned else "")
    return STOP if pruned else GO


def _outlasts_budget(trial: RetryingTrial, spec: StudySpec, pace: budget.EpochPace, epochs_left: int) -> str | None:
    """The reason to stop a trial that would run far past the study's time budget (see budget.MIN_OVERRUN)."""
    return budget.outlasts_budget(spec.time_budget, spec.max_overrun, trial.study_user_attrs, pace, epochs_left)


def hand_ahead(trainer: str, config_json: str, outputs: dict | None, trial_id: int) -> bool:
    """Give the standby its trial now, before its turn (see `supervise`'s `ahead`): True if one took it."""
    return _STANDBY.hand_ahead(trainer, config_json, outputs, trial_id)


def drop_ahead() -> None:
    """Take back a trial handed over ahead (the worker stops before its turn): its process exits."""
    _STANDBY.drop_ahead()


class _Standby:
    """One trial process per worker, started ahead of its trial, that has already imported the trainer.

    It is started when a trial starts (so it imports, and warms up, while that trial trains) and handed the next
    trial of the same trainer: at that trial's start, or ahead of it (`hand_ahead`) when the worker
    already knows it, so it prepares while the current trial finishes. A standby that died, or was
    made for another trainer, is replaced by a fresh process as before. It holds no state: the
    worker's death kills it like any trial process.
    """

    def __init__(self) -> None:
        self.proc = None
        self.conn = None
        self.trainer = None
        self.registered = False
        self.ahead: tuple | None = None  # (process, connection, trial id) handed a trial before its turn

    def hand_ahead(self, trainer: str, config_json: str, outputs: dict | None, trial_id: int) -> bool:
        self.drop_ahead()
        proc, conn = self.proc, self.conn
        if proc is None or self.trainer != trainer or not proc.is_alive():
            return False
        try:
            conn.send(Handover(True, trainer, config_json, time.time(), outputs))
        except (OSError, BrokenPipeError):
            return False
        self.proc = self.conn = self.trainer = None
        self.ahead = (proc, conn, trial_id)
        return True

    def drop_ahead(self) -> None:
        if self.ahead is not None:
            _discard(*self.ahead[:2])
            self.ahead = None

    def take(self, trainer: str, config_json: str, outputs: dict | None = None, trial_id: int | None = None):
        """(process, connection) running `config_json`, or None when no usable standby is ready."""
        if self.ahead is not None:
            proc, conn, handed = self.ahead
            self.ahead = None
            if handed == trial_id:
                return proc, conn  # a process that died meanwhile is seen by supervise, as any trial's
            _discard(proc, conn)
        proc, conn, ready = self.proc, self.conn, self.trainer == trainer
        self.proc = self.conn = self.trainer = None
        if proc is None:
            return None
        if ready and proc.is_alive():
            try:
                conn.send(Handover(False, trainer, config_json, time.time(), outputs))
                return proc, conn
            except (OSError, BrokenPipeError):
                pass
        _discard(proc, conn)
        return None

    def start(self, ctx, trainer: str, hint_json: str | None = None) -> None:
        """Start a standby for `trainer`; `hint_json` is the configuration of the trial running now,
        whose data the next trial most likely shares (see `standby_main`)."""
        if self.proc is not None:
            return
        if not self.registered:
            # atexit runs handlers last-registered first: registered now, after multiprocessing's
            # own (which joins every child, and would wait forever for a standby on its pipe).
            atexit.register(self.stop)
            self.registered = True
        parent_conn, child_conn = ctx.Pipe()
        proc = ctx.Process(target=standby_main, args=(child_conn, trainer, hint_json),
                           name="hpsearch-trial-standby")
        proc.start()
        child_conn.close()
        self.proc, self.conn, self.trainer = proc, parent_conn, trainer

    def stop(self) -> None:
        self.drop_ahead()
        if self.proc is not None:
            _discard(self.proc, self.conn)
        self.proc = self.conn = self.trainer = None


def _keep_checkpoint(trial: optuna.Trial, store, message: Checkpoint, log) -> None:
    """Move an epoch's checkpoint to the store; one that cannot be kept costs a resume, not the trial."""
    from search.service import checkpoints

    epoch, path, seconds, nbytes = message.epoch, message.path, message.seconds, message.nbytes
    if store is None:
        with contextlib.suppress(OSError):
            os.remove(path)
        return
    try:
        with_retry(lambda: checkpoints.keep(trial, store, epoch, path, seconds, nbytes), what="keeping the checkpoint",
                   log=log)
    except Exception as exc:
        log.warning("checkpoint of epoch %d not kept: %s: %s", epoch, type(exc).__name__, exc)


def _discard(proc, conn) -> None:
    conn.close()
    _kill(proc)  # it holds nothing: no need to wait for it to notice the closed pipe


_STANDBY = _Standby()

_CONTEXT: list = []


def _context():
    """A forkserver: each trial process forks from a clean, pre-imported server (no threads, no
    TensorFlow, no database connections), so a trial starts in milliseconds, not a fresh interpreter."""
    if not _CONTEXT:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["search.service.trial_process", "trainers.config", "yaml"])
        _CONTEXT.append(ctx)
    return _CONTEXT[0]


def exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "trial process did not exit"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if -exitcode == signal.SIGKILL:
            return f"trial process was killed ({name}; out of memory, or killed from outside)"
        return f"trial process crashed ({name})"
    return f"trial process exited with code {exitcode} before reporting a result"


def _kill(proc) -> None:
    proc.kill()
    proc.join(10)
