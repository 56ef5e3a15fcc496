"""The child side of a trial: one process per trial, talking to its worker through a pipe.

A process per trial frees GPU memory for certain when it exits, and a trial that crashes
(segfault, out of memory, a bug in a space) fails alone. The child never touches the storage:
it trains, sends each epoch's metrics, and waits for "go" or "stop" (pruning, shutdown).
If the worker dies, the kernel kills the child (PR_SET_PDEATHSIG), and a closed pipe stops it too.
A worker keeps one standby process that has imported the trainer before its trial is known
(`standby_main`), so a trial's start-up does not include TensorFlow's import; and, once the current
trial is on its last epoch, it hands the standby the next trial ahead of its turn: the standby
prepares it (data, model, a rehearsed first step) and waits for "go" (`child_main(ahead=True)`).
"""

from __future__ import annotations

import ctypes
import importlib
import os
import signal
import sys
import time
import traceback
from typing import Any, Callable, Mapping

from search.service.messages import GO, STOP, Check, Checkpoint, Epoch, Error, Handover, Ready, Result, Resumed, Started
from search.service.tf_noise import filter_stderr


def resolve_trainer(ref: str) -> Callable:
    module_name, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module_name), attr)


class PipeReporter:
    """The trainers.train.Reporter protocol over a multiprocessing connection."""

    def __init__(self, conn):
        self.conn = conn
        self._stop = False

    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        try:
            self.conn.send(Epoch(epoch, dict(metrics)))
            self._stop = self.conn.recv() == STOP
        except (EOFError, OSError, BrokenPipeError):
            self._stop = True  # the worker is gone: stop, nobody will record this run

    def should_stop(self) -> bool:
        return self._stop

    def check(self, fraction: float, metrics: Mapping[str, float]) -> None:
        """The early check's dev estimate, `fraction` into the first epoch: the worker answers as for an epoch."""
        try:
            self.conn.send(Check(fraction, dict(metrics)))
            self._stop = self.conn.recv() == STOP
        except (EOFError, OSError, BrokenPipeError):
            self._stop = True

    def checkpoint(self, epoch: int, path: str, seconds: float, nbytes: int) -> None:
        """The run's state after `epoch` is in `path`: the worker moves it to the study's store."""
        try:
            self.conn.send(Checkpoint(epoch, path, seconds, nbytes))
        except (EOFError, OSError, BrokenPipeError):
            self._stop = True

    def resumed(self, epoch: int, history: list) -> None:
        """The run continues after `epoch` of the trial it retries, whose epochs were `history`."""
        try:
            self.conn.send(Resumed(epoch, list(history)))
        except (EOFError, OSError, BrokenPipeError):
            self._stop = True


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class _NotNeeded(Exception):
    """The worker took back a trial handed over ahead of its turn (it is stopping): exit quietly."""


def child_main(conn, trainer_ref: str, config_json: str, spawned_at: float, outputs: dict | None = None,
               ahead: bool = False) -> None:
    """Entry point of the trial process (multiprocessing 'spawn' target).

    With `outputs` ({"dir": a folder, "model": whether to save the model}), a run that completed
    writes its trained model (`model.keras`) and the images of its mistakes there, and names them
    in its result; the worker moves them to the study's artifact store.

    `ahead`: the trial was handed over while the worker's previous trial still runs. The run
    prepares what it can (a trainer that takes `on_ready`; any other trainer, nothing), sends
    "ready", and starts only on "go": two trials never train at once in one worker.
    """
    _die_with_parent()
    # The worker owns shutdown: Ctrl-C in a terminal reaches the whole process group, and the
    # worker decides what happens to this trial.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    filter_stderr()
    try:
        from trainers.config import TrainConfig

        config = TrainConfig.from_json(config_json)
        trainer = resolve_trainer(trainer_ref)
        versions = package_versions()

        def started(**info) -> None:
            conn.send(Started({"startup_seconds": time.time() - spawned_at, "versions": versions, **info}))

        options = run_options(trainer, outputs)
        if ahead:
            turn = _TurnWaiter(conn, spawned_at, started)
            if accepts(trainer, "on_ready"):
                options["on_ready"] = turn
            else:
                turn()
        else:
            started()
        result = trainer(config, None, PipeReporter(conn), **options)
        conn.send(Result({**result.to_dict(), **save_outputs(result, outputs)}))
    except _NotNeeded:
        pass
    except BaseException as exc:  # report everything, then exit non-zero
        try:
            conn.send(Error(classify_error(exc), traceback.format_exc(limit=8)))
        except (OSError, BrokenPipeError):
            pass
        raise SystemExit(1)
    finally:
        conn.close()


class _TurnWaiter:
    """The `on_ready` of a trial handed over ahead: say "ready", wait for "go", then count as started."""

    def __init__(self, conn, handed_at: float, started: Callable[..., None]):
        self.conn, self.handed_at, self.started = conn, handed_at, started

    def __call__(self) -> None:
        prepared = time.time() - self.handed_at
        try:
            self.conn.send(Ready(prepared))
            answer = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            raise _NotNeeded from None
        if answer != GO:
            raise _NotNeeded
        # Started before its turn: from "go" the trainer goes on at once, and what preparing took
        # (`prepared_seconds`) cost the worker no time.
        self.started(startup_seconds=0.0, prepared_seconds=prepared)


def standby_main(conn, preload: str, hint_json: str | None = None) -> None:
    """A trial process started ahead of its trial (multiprocessing target).

    It imports the trainer's module (TensorFlow and Keras: seconds) while the worker's previous
    trial runs, then lets that module warm up for a trial like `hint_json` (the previous trial's
    configuration: `trainers.train.warm_up` loads its data and traces a tiny model), then waits
    for its own trial on the pipe; a closed pipe means it is not needed. A trial unlike the hint
    loses nothing but the warm-up's time.
    """
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    filter_stderr()
    try:
        module = importlib.import_module(preload.partition(":")[0])
        warm_up = getattr(module, "warm_up", None)
        if warm_up is not None and hint_json:
            from trainers.config import TrainConfig

            warm_up(TrainConfig.from_json(hint_json))
    except BaseException:
        pass  # the trial imports (and loads) again and reports any error as its own
    try:
        handed = conn.recv()
    except (EOFError, OSError):
        conn.close()
        return
    if not isinstance(handed, Handover):
        conn.close()
        return
    child_main(conn, handed.trainer, handed.config_json, handed.handed_at, handed.outputs, ahead=handed.ahead)


def accepts(trainer: Callable, option: str) -> bool:
    import inspect

    return option in inspect.signature(trainer).parameters


def run_options(trainer: Callable, outputs: dict | None) -> dict[str, Any]:
    """Checkpointing and resuming, for a trainer that takes them (`trainers.train.train` does; test doubles may not)."""
    import os

    if not outputs:
        return {}
    options = {"checkpoints": os.path.join(outputs["dir"], "checkpoints"), "resume_from": outputs.get("resume")}
    return {k: v for k, v in options.items() if accepts(trainer, k) and v is not None}


def save_outputs(result, outputs: dict | None) -> dict[str, Any]:
    """Write a completed run's model and mistake images (and their list) into `outputs["dir"]`; say what was written.

    Returns {"model_path": ..., "predictions_path": ..., "mistake_files": [...]}, with "model_error",
    "predictions_error" or "mistakes_error" for what could not be written: that costs the trial a
    file, never its result.
    """
    import os

    from trainers.result import COMPLETED, EARLY_STOPPING

    if not outputs or result.stop_reason not in (COMPLETED, EARLY_STOPPING):
        return {}
    written: dict[str, Any] = {}
    model = getattr(result, "model", None)
    if outputs.get("model") and model is not None:
        path = os.path.join(outputs["dir"], "model.keras")
        try:
            keras = sys.modules.get("keras")  # a Keras model means Keras is loaded; a double's model needs no import
            if keras is not None and isinstance(model, keras.Model):
                # The layers and weights without the optimizer's state: what export and ensembles use, and
                # a third of the file for ResNet50 with Adam (python -m benchmarks.model_sizes).
                model = keras.Model(model.input, model.output, name=model.name)
            model.save(path)
            written["model_path"] = path
        except Exception as exc:  # a full disk, a layer Keras cannot serialise
            written["model_error"] = classify_error(exc)
        predictions = getattr(result, "predictions", None)
        if "model_path" in written and predictions is not None:
            # Beside the model, for ensembles of the kept models (`hpsearch export --ensemble`).
            path = os.path.join(outputs["dir"], "predictions.npz")
            try:
                predictions.save(path)
                written["predictions_path"] = path
            except Exception as exc:
                written["predictions_error"] = classify_error(exc)
    mistakes = getattr(result, "mistakes", None)
    if mistakes is not None:
        try:
            from search.analysis.mistakes import write_files

            written["mistake_files"] = write_files(mistakes.to_dict(), mistakes.images, outputs["dir"])
        except Exception as exc:
            written["mistakes_error"] = classify_error(exc)
    return written


def classify_error(exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip().splitlines()
    first = text[0][:300] if text else ""
    if name == "ResourceExhaustedError" or isinstance(exc, MemoryError) or "out of memory" in first.lower():
        return f"out of memory ({name}): {first}" if first else f"out of memory ({name})"
    return f"{name}: {first}" if first else name


def package_versions() -> dict[str, Any]:
    import platform
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for dist in ("hpsearch", "tensorflow", "keras", "optuna", "numpy"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions
