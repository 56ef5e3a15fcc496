"""Finished trials shaped like real ones, and two ways to put them in a PostgreSQL study.

A prefilled trial carries what a real hpsearch trial of the `small` space leaves (search/service/recording.py):
the space's params with their distributions (sampled by the space itself through an Optuna trial),
COMPLETE with a dev_accuracy value, one intermediate value per epoch, and user attrs: the config,
the final metrics, `curves` (one value per epoch for each of recording.CURVE_KEYS), the
decomposition attrs, `epochs_run`, `outcome`, `worker`... and its dashboard note, which
optuna-dashboard keeps in the *study's* system attrs (`dashboard:{trial_id}:note_str:{i}`).

- `insert_bulk`: SQLAlchemy core inserts into Optuna's own tables (their models' `__table__`), one
  transaction, many rows per statement.
- `insert_add_trials`: `study.add_trials` (Optuna's API, a round trip per row), used to time the
  alternative on a sample.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from typing import Any

EPOCHS = 30
TEMPLATES = 500  # distinct sampled configurations, cycled over the prefill


def templates(spec, count: int, seed: int) -> list[dict[str, Any]]:
    """`count` configurations of the spec's space, sampled by the space through a real Optuna trial."""
    import optuna

    from spaces import get_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed), direction="maximize")
    space = get_space(spec.space, spec.narrowing)
    out = []
    for n in range(count):
        trial = study.ask()
        config = space.suggest(trial, spec.base_config(n))
        out.append({"params": dict(trial.params), "distributions": dict(trial.distributions), "config": config.to_dict(),
                    "momentum": config.optimizer.momentum if config.optimizer.name == "sgd" else None})
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return out


def shaped_trial(number: int, template: dict[str, Any], rng: random.Random, spec, start: dt.datetime) -> dict[str, Any]:
    """One finished trial as plain data: params, value, intermediate values, user attrs, note."""
    from search.analysis import advice
    from search.analysis.diagnostics import measured, trial_attrs

    quality = rng.random()
    curve = []
    for epoch in range(1, EPOCHS + 1):
        dev_error = 0.9 - 0.8 * quality * (1 - math.exp(-epoch / 8)) + rng.gauss(0, 0.005)
        curve.append({"train_error": dev_error - 0.03, "train_dev_error": dev_error - 0.015, "dev_error": dev_error,
                      "loss": 2 * dev_error, "accuracy": 1 - dev_error + 0.02})
    final = dict(curve[-1])
    metrics = {**final, "dev_accuracy": 1 - final["dev_error"], "test_error": final["dev_error"] + 0.004,
               "test_accuracy": 1 - final["dev_error"] - 0.004, "latency_ms": rng.uniform(0.5, 3.0),
               "latency_ms_batch": rng.uniform(5, 30), "params": 1.2e5, "model_mb": 0.5}
    curves = {k: [m[k] for m in curve] for k in ("train_error", "train_dev_error", "dev_error", "loss", "accuracy")}
    decomposition = measured(spec.human_error, metrics)
    attrs = {"worker": {"host": "prefill", "pid": 0, "started": 0.0}, "config": template["config"],
             "outcome": "complete", "stop_reason": "", "startup_seconds": rng.uniform(0.8, 1.5),
             "versions": {"tensorflow": "2.21.0", "keras": "3.15.1"}, **metrics, "epochs_run": EPOCHS,
             "curves": curves, "human_error": spec.human_error, **trial_attrs(decomposition)}
    if template["momentum"] is not None:
        attrs["momentum"] = template["momentum"]
    note = advice.trial_note(number, "complete", decomposition=decomposition, config=template["config"], curves=curves,
                             constraints={}, limits={}, reason="", epochs_run=EPOCHS)
    began = start + dt.timedelta(seconds=60 * number)
    return {"number": number, "params": template["params"], "distributions": template["distributions"],
            "value": metrics["dev_accuracy"], "intermediate": [m["dev_error"] for m in curve], "user_attrs": attrs,
            "note": note, "start": began, "complete": began + dt.timedelta(seconds=55)}


def shaped_trials(spec, count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pool = templates(spec, min(count, TEMPLATES), seed) if count else []
    start = dt.datetime(2026, 1, 1)
    return [shaped_trial(n, pool[n % len(pool)], rng, spec, start) for n in range(count)]


def insert_bulk(storage, study_id: int, trials: list[dict[str, Any]]) -> None:
    """Every trial in one transaction, through SQLAlchemy core on Optuna's tables."""
    from optuna.distributions import distribution_to_json
    from optuna.storages._rdb import models
    from optuna.trial import TrialState
    from sqlalchemy import insert

    if not trials:
        return
    from optuna_dashboard._note import note_ver_key, split_body

    T = models.TrialModel.__table__
    with storage.backend.engine.begin() as conn:
        rows = [{"number": t["number"], "study_id": study_id, "state": TrialState.COMPLETE.name,
                 "datetime_start": t["start"], "datetime_complete": t["complete"]} for t in trials]
        ids = [r[0] for r in conn.execute(insert(T).returning(T.c.trial_id, sort_by_parameter_order=True), rows)]
        params, values, inter, uattrs, notes = [], [], [], [], []
        for trial_id, t in zip(ids, trials):
            for name, value in t["params"].items():
                d = t["distributions"][name]
                params.append({"trial_id": trial_id, "param_name": name, "param_value": d.to_internal_repr(value),
                               "distribution_json": distribution_to_json(d)})
            values.append({"trial_id": trial_id, "objective": 0, "value": t["value"], "value_type": "FINITE"})
            inter += [{"trial_id": trial_id, "step": step, "intermediate_value": v, "intermediate_value_type": "FINITE"}
                      for step, v in enumerate(t["intermediate"], start=1)]
            uattrs += [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in t["user_attrs"].items()]
            notes.append({"study_id": study_id, "key": note_ver_key(trial_id), "value_json": json.dumps(1)})
            notes += [{"study_id": study_id, "key": k, "value_json": json.dumps(v)}
                      for k, v in split_body(t["note"], trial_id).items()]
        conn.execute(insert(models.TrialParamModel.__table__), params)
        conn.execute(insert(models.TrialValueModel.__table__), values)
        conn.execute(insert(models.TrialIntermediateValueModel.__table__), inter)
        conn.execute(insert(models.TrialUserAttributeModel.__table__), uattrs)
        conn.execute(insert(models.StudySystemAttributeModel.__table__), notes)


def insert_add_trials(study, trials: list[dict[str, Any]]) -> None:
    """The same trials through Optuna's API (notes left out: they need a live trial)."""
    import optuna

    study.add_trials([
        optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, value=t["value"], params=t["params"],
                                  distributions=t["distributions"], user_attrs=t["user_attrs"],
                                  intermediate_values=dict(enumerate(t["intermediate"], start=1)))
        for t in trials
    ])
