"""What a finished trial leaves in the study: user attrs, constraints, its state, its retry.

Everything is plain JSON in user attrs (no system attrs: Optuna 5 removed them from live
trials), so `optuna`, the dashboard and `hpsearch status/export/report` all read the same data.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any, Mapping

import optuna
from optuna.trial import TrialState

from search.analysis import advice
from search.analysis.diagnostics import measured, trial_attrs
from search.analysis.mistakes import note_section
from search.core.spec import StudySpec
from search.core.storage import is_connection_error
from search.service.outcome import COMPLETE, FAIL, INTERRUPTED, PRUNED, Outcome

CURVE_KEYS = ("train_error", "train_dev_error", "dev_error", "loss", "accuracy")
FINAL_KEYS = (
    "train_error",
    "train_dev_error",
    "dev_error",
    "dev_accuracy",
    "test_error",
    "test_accuracy",
    "latency_ms",
    "latency_ms_batch",
    "params",
    "model_mb",
    "skipped_images",  # unreadable files the trainer left out of a folder dataset
)

log = logging.getLogger("hpsearch.recording")


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become None (the dashboard's JSON parser rejects NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value


def final_metrics(outcome: Outcome) -> dict[str, float]:
    """Final metrics: the trainer's when it finished, else those of the last epoch seen."""
    metrics = dict(outcome.history[-1]) if outcome.history else {}
    metrics.update(outcome.result.get("metrics", {}))
    return {k: metrics[k] for k in FINAL_KEYS if k in metrics}


def constraint_values(spec: StudySpec, metrics: Mapping[str, float]) -> dict[str, float]:
    """metric - limit for each satisficing limit: feasible iff every value is <= 0."""
    values = {}
    for name, limit in spec.limits.items():
        measured = metrics.get(name)
        values[name] = math.inf if measured is None else float(measured) - float(limit)
    return values


def record(trial: optuna.Trial, study: optuna.Study, spec: StudySpec, outcome: Outcome, *, store=None) -> None:
    """Write the outcome's attrs on the live trial, then tell the study how it ended.

    With the study's artifact `store`, a completed trial's mistake images become its artifacts,
    shown in its note.
    """
    attrs: dict[str, Any] = {"outcome": outcome.state, "stop_reason": outcome.reason}
    for key in ("startup_seconds", "prepared_seconds"):  # prepared: before its turn (handed over ahead)
        if outcome.info.get(key) is not None:
            attrs[key] = outcome.info[key]
    if outcome.history and outcome.history[0].get("first_step_seconds") is not None:
        # From the trainer's start (or its turn, when prepared ahead) to the end of its first training step.
        attrs["first_step_seconds"] = outcome.history[0]["first_step_seconds"]
    if outcome.info.get("versions"):
        attrs["versions"] = outcome.info["versions"]
    if outcome.state in (FAIL, INTERRUPTED):
        attrs["fail_reason"] = outcome.reason
        if outcome.info.get("traceback"):
            attrs["traceback"] = outcome.info["traceback"][-2000:]
    metrics = final_metrics(outcome)
    attrs.update(metrics)
    attrs["epochs_run"] = len(outcome.history)
    attrs["curves"] = {k: [m.get(k) for m in outcome.history] for k in CURVE_KEYS if any(k in m for m in outcome.history)}
    attrs["human_error"] = spec.human_error
    constraints: dict[str, float] = {}
    if spec.limits and outcome.state == COMPLETE:
        constraints = constraint_values(spec, metrics)
        # Optuna's own constraints, one per limit (they drive the samplers and best_trial) ...
        for name, value in constraints.items():
            trial.set_constraint(name, value)
        # ... mirrored where the dashboard (which reads only the legacy list) and our tools read them.
        attrs["constraints"] = constraints
        attrs["feasible"] = all(v <= 0 for v in constraints.values())

    decomposition = measured(spec.human_error, metrics)
    attrs.update(trial_attrs(decomposition))
    mistakes = outcome.result.get("mistakes") if outcome.state == COMPLETE else None
    if mistakes:
        attrs["mistakes"] = mistakes_attr(mistakes)
    for key, value in attrs.items():
        trial.set_user_attr(key, clean(value))
    # Artifacts and the note need the live trial: both before tell().
    images = upload_images(trial, store, outcome.result.get("mistake_files") or []) if mistakes else {}
    extra = note_section(mistakes, images) if mistakes else ""
    save_trial_note(trial, spec, outcome, decomposition, attrs["curves"], constraints, extra)

    if outcome.state == COMPLETE:
        study.tell(trial, objective_values(spec, metrics, outcome))
    elif outcome.state == PRUNED:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, state=TrialState.FAIL)


def write_first_note(trial: optuna.Trial, body: str) -> None:
    """The trial's note as optuna-dashboard stores it (study system attrs: a version, then chunks).

    `optuna_dashboard.save_note` reads every system attr of the study twice to find the version
    and stale chunks, and those hold every trial's note: a cost that grows with the study's
    history on every trial. A trial's note is written once, when it ends, before anyone can edit
    it in the dashboard, so it is version 1 with no older chunks, and nothing needs reading.
    Uses optuna-dashboard's own key layout (pinned at 0.21.0).
    """
    from optuna_dashboard._note import note_ver_key, split_body

    storage, study_id = trial.storage, trial.study._study_id
    storage.set_study_system_attr(study_id, note_ver_key(trial._trial_id), 1)
    for key, chunk in split_body(body, trial._trial_id).items():
        storage.set_study_system_attr(study_id, key, chunk)


MAX_CONFUSION_CLASSES = 50  # beyond, the attr keeps the pairs only (the image still shows the matrix)


def mistakes_attr(mistakes: Mapping[str, Any]) -> dict[str, Any]:
    """The trial attr `mistakes`: its pairs, counts, class names, and a small confusion matrix.

    What the study's views add up over trials (the confused pairs) stays here; the gallery's list of
    worst mistakes goes with the gallery to the artifact store (search.analysis.mistakes.WORST_JSON).
    """
    kept = {k: v for k, v in mistakes.items() if k != "worst"}
    if len(kept.get("classes", ())) > MAX_CONFUSION_CLASSES:
        kept.pop("confusion", None)
    return kept


def upload_images(trial: optuna.Trial, store, paths: list[str]) -> dict[str, str]:
    """Upload image files as the trial's artifacts; their dashboard URLs by file name.

    An image that cannot be stored costs the note its picture, never the trial its result.
    """
    if store is None:
        return {}
    from optuna.artifacts import upload_artifact

    urls = {}
    for path in paths:
        try:
            artifact = upload_artifact(artifact_store=store, file_path=path, study_or_trial=trial)
        except Exception as exc:
            if is_connection_error(exc):
                raise  # the caller retries the whole recording
            log.warning("[trial=%d] could not store %s: %s: %s", trial.number, os.path.basename(path), type(exc).__name__, exc)
            continue
        urls[os.path.basename(path)] = f"/artifacts/{trial.study._study_id}/{trial._trial_id}/{artifact}"
    return urls


def save_trial_note(trial: optuna.Trial, spec: StudySpec, outcome: Outcome, decomposition, curves, constraints,
                    extra: str = "") -> None:
    """The trial's markdown note in optuna-dashboard (plus `extra` markdown); a note that cannot be built never loses the result."""
    try:
        body = advice.trial_note(
            trial.number,
            outcome.state,
            decomposition=decomposition,
            config=trial.user_attrs.get("config"),
            curves=curves,
            constraints=constraints,
            limits=spec.limits,
            reason=outcome.reason,
            epochs_run=len(outcome.history),
        )
        write_first_note(trial, body.rstrip("\n") + ("\n\n" + extra + "\n" if extra else "\n"))
    except Exception as exc:
        if is_connection_error(exc):
            raise  # the caller retries the whole recording
        log.warning("[trial=%d] could not write its note: %s: %s", trial.number, type(exc).__name__, exc)


def objective_values(spec: StudySpec, metrics: Mapping[str, float], outcome: Outcome) -> list[float]:
    values = []
    for name in spec.objectives:
        value = metrics.get(name)
        if value is None:
            value = outcome.history[-1].get(name) if outcome.history else None
        values.append(float("nan") if value is None else float(value))
    return values
