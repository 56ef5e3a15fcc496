"""`hpsearch export NAME --ensemble K`: an ensemble of the models a study already trained, as one `.keras`.

The kept models' stored dev predictions choose the members (search.analysis.ensemble); their
stored test predictions only report. The exported model is plain Keras: each member (a functional
model, renamed `trial_N`) sees the same 0-255 input, its probabilities are scaled by its weight
(`Rescaling`) and summed (`Add`), so `keras.models.load_model` reads it with nothing of ours.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import numpy as np
import optuna

from search.analysis.ensemble import ENSEMBLE_ATTR, accuracy, combine, select
from search.core.artifacts import ArtifactError
from search.core.spec import StudySpec
from search.core.storage import Storage
from search.service import models
from search.service.studies import trial_by_number
from trainers.config import TrainConfig


def _kept_predictions(storage: Storage, study: optuna.Study, spec: StudySpec, folder: str) -> dict[int, Any]:
    """Trial number -> trainers.predictions.Predictions for every feasible kept model that has them."""
    from trainers.predictions import Predictions

    out = {}
    for number, entry in sorted(models.kept_models(study).items()):
        if not entry.get("feasible", True):
            continue  # a satisficing limit it broke would hold for an ensemble holding it too
        path = os.path.join(folder, f"predictions-{number}.npz")
        if models.fetch_predictions(storage, study, spec, number, path):
            out[number] = Predictions.load(path)
    return out


def export_ensemble(storage: Storage, study: optuna.Study, spec: StudySpec, size: int, best_trial: int,
                    model_out: str | None = None, tta: bool = False,
                    progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Choose an ensemble of at most `size` kept models, write it to `model_out`, and describe it.

    `best_trial` is the single model it is compared with (the study's best, as `export` picks it).
    With `tta`, test-time augmentation is tried on the ensemble and kept where held-out dev says it
    helps (search.service.tta; `progress(done, total)` follows its views).
    Raises ArtifactError when no kept model has predictions, or their dev splits differ.
    """
    with tempfile.TemporaryDirectory(prefix="hpsearch-ensemble-") as folder:
        kept = _kept_predictions(storage, study, spec, folder)
        if not kept:
            raise ArtifactError(f"study {study.study_name!r} keeps no model with stored predictions to build an "
                                f"ensemble from (--keep-models is {spec.keep_models}; models kept before "
                                "ensembles existed have none)")
        first = next(iter(kept.values()))
        for number, p in kept.items():
            if not np.array_equal(p.dev_labels, first.dev_labels):
                raise ArtifactError(f"trial {number}'s dev split differs from the other kept models': "
                                    "an ensemble needs one dev split")
        labels = first.dev_labels
        report = select({n: p.dev for n, p in kept.items()}, labels, size)
        weights = report.chosen.weights
        single_number = best_trial if best_trial in kept else max(kept, key=lambda n: accuracy(kept[n].dev, labels))
        single = kept[single_number]
        test = combine({n: kept[n].test for n in weights}, weights)
        doc = {
            "members": [{"trial": n, "weight": round(w, 6)} for n, w in weights.items()],
            "size": len(weights),
            "chosen_from": sorted(kept),
            "dev_accuracy_held_out": report.held_out_accuracy,
            "best_single_dev_accuracy_held_out": report.single_held_out_accuracy,
            "dev_accuracy": report.chosen.dev_accuracy,
            "dev_halves": list(report.halves),
            "test_accuracy": accuracy(test, first.test_labels),
            "best_single": {"trial": single_number, "dev_accuracy": accuracy(single.dev, labels),
                            "test_accuracy": accuracy(single.test, single.test_labels)},
        }
        if model_out or tta:
            paths = {}
            for n in {*weights, single_number}:
                paths[n] = os.path.join(folder, f"model-{n}.keras")
                models.fetch(storage, study, spec, n, paths[n])
            model = build_model(paths, weights)
        if tta:
            from search.service import tta as test_time

            data = TrainConfig.from_dict(trial_by_number(study, single_number).user_attrs.get("config") or {}).data
            model, doc["tta"] = test_time.apply(model, data, labels, first.test_labels, progress)
        if model_out:
            doc["latency_ms"], doc["best_single"]["latency_ms"] = _latencies(model, paths[single_number])
            if spec.max_latency_ms is not None and doc["latency_ms"] > spec.max_latency_ms:
                doc["latency_limit_exceeded"] = spec.max_latency_ms
            model.save(model_out)
        record(storage, study, spec, doc)
        return doc


def _latencies(model, single_path: str) -> tuple[float, float]:
    """Median latency at batch 1 (ms) of the ensemble and of its best single model, measured here in turns."""
    import keras

    from trainers.latency import compare_latency_ms

    shape = tuple(model.inputs[0].shape[1:])
    single = keras.models.load_model(single_path, compile=False)
    found = compare_latency_ms({"ensemble": model, "single": single}, shape)
    return found["ensemble"], found["single"]


def build_model(paths: dict[int, str], weights: dict[int, float]):
    """One Keras model averaging the members at `paths` with `weights`, from stock layers only."""
    import keras

    members = {n: keras.models.load_model(paths[n], compile=False) for n in weights}
    shapes = {tuple(m.inputs[0].shape[1:]) for m in members.values()}
    if len(shapes) != 1:
        raise ArtifactError(f"the members take inputs of different shapes {sorted(shapes)}; they cannot share one input")
    image = keras.Input(shape=shapes.pop(), name="image")
    weighted = []
    for n, member in members.items():
        # Renamed, so that members built from the same code (all named hpsearch_small_cnn) can sit side by side.
        renamed = keras.Model(member.inputs[0], member.outputs[0], name=f"trial_{n}")
        weighted.append(keras.layers.Rescaling(weights[n], name=f"weight_of_trial_{n}")(renamed(image)))
    out = weighted[0] if len(weighted) == 1 else keras.layers.Add(name="weighted_average")(weighted)
    return keras.Model(image, out, name="hpsearch_ensemble")


def record(storage: Storage, study: optuna.Study, spec: StudySpec, doc: dict[str, Any]) -> None:
    """Keep the export on the study (`hpsearch report`, the dashboard's note) and rewrite the note now:
    no worker may be left to do it."""
    import datetime

    from search.analysis import figures

    study.set_user_attr(ENSEMBLE_ATTR, {**doc, "exported": datetime.datetime.now(datetime.timezone.utc).isoformat()})
    figures.refresh(study, spec, lock=lambda: storage.lock(f"figures:{study.study_name}"))
