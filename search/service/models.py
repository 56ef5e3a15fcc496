"""Trained models kept in a study's artifact store: the best `keep_models` completed trials'.

A completed trial's process saves its model (`.keras`); the worker writes it to the store, then,
under the study's lock, adds it to the study's list of kept models (the study user attr
`hpsearch_models`: trial number -> artifact id, objective values, feasibility), keeps the best K
(feasible first, then by the first objective) and deletes the files of the rest. So the store
holds at most K models per study (plus, for a moment, the one being added), whatever the budget.
`hpsearch export --model` reads a kept model back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from typing import Any, Sequence

import optuna

from search.core.artifacts import ArtifactError, default_location, open_store
from search.core.spec import StudySpec
from search.core.storage import Storage

MODELS_ATTR = "hpsearch_models"

log = logging.getLogger("hpsearch.models")


def study_store(storage: Storage, spec: StudySpec):
    """The artifact store of a study (its spec's location; studies from before it: the default)."""
    return open_store(spec.artifacts or default_location(storage))


def kept_models(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Trial number -> {"artifact", "values", "feasible", and "predictions" where kept} for every model the study keeps."""
    return {int(k): v for k, v in (study.user_attrs.get(MODELS_ATTR) or {}).items()}


def _rank_key(spec: StudySpec, number: int, entry: dict[str, Any]):
    sign = -1.0 if spec.directions[0] == "maximize" else 1.0
    return (not entry["feasible"], sign * entry["values"][0], number)


def keep(storage: Storage, study: optuna.Study, spec: StudySpec, number: int, values: Sequence[float],
         feasible: bool, model_path: str, predictions_path: str | None = None) -> bool:
    """Store trial `number`'s model (and its dev and test predictions, for ensembles) and apply the
    retention rule; True when it is among those kept.

    The files `model_path` and `predictions_path` are removed in every case.
    """
    try:
        if spec.keep_models <= 0:
            return False
        store = study_store(storage, spec)
        entry: dict[str, Any] = {"values": [float(v) for v in values], "feasible": bool(feasible)}
        for key, path in (("artifact", model_path), ("predictions", predictions_path)):
            if path:
                entry[key] = str(uuid.uuid4())
                with open(path, "rb") as f:
                    store.write(entry[key], f)
        with storage.lock(f"{study.study_name}:models"):
            kept = kept_models(study)
            kept[number] = entry
            ranked = sorted(kept, key=lambda n: _rank_key(spec, n, kept[n]))
            evicted = {n: kept.pop(n) for n in ranked[spec.keep_models:]}
            study.set_user_attr(MODELS_ATTR, {str(n): kept[n] for n in sorted(kept)})
        for n, gone in evicted.items():
            for key in ("artifact", "predictions"):
                if key in gone:
                    with contextlib.suppress(Exception):  # already gone: the rule holds all the same
                        store.remove(gone[key])
        return number in kept
    finally:
        for path in (model_path, predictions_path):
            if path:
                with contextlib.suppress(OSError):
                    os.remove(path)


def fetch(storage: Storage, study: optuna.Study, spec: StudySpec, number: int, path: str) -> None:
    """Write trial `number`'s kept model to `path`; ArtifactError when the study does not keep it."""
    entry = kept_models(study).get(number)
    if entry is None:
        kept = sorted(kept_models(study))
        which = f"it keeps trials {', '.join(map(str, kept))}" if kept else "it keeps none"
        raise ArtifactError(f"study {study.study_name!r} did not keep the model of trial {number} ({which}; "
                            f"--keep-models is {spec.keep_models}); retrain it with `hpsearch train`")
    download(storage, spec, entry["artifact"], path, f"the model of trial {number}")


def export_backbone_weights(storage: Storage, study: optuna.Study, spec: StudySpec, number: int, path: str) -> str:
    """Write the headless backbone's weights of kept trial `number` to `path` (.weights.h5); returns the backbone.

    What `--weights FILE` loads into the same backbone in another study: pretraining on your own
    data, offline. Raises ArtifactError when the trial kept no model or its model has no backbone.
    """
    import tempfile

    if not path.endswith(".weights.h5"):
        raise ArtifactError(f"--backbone-weights {path}: Keras writes weights to a file named *.weights.h5")
    with tempfile.TemporaryDirectory(prefix="hpsearch-backbone-") as folder:
        model_path = os.path.join(folder, "model.keras")
        fetch(storage, study, spec, number, model_path)
        import keras

        from trainers.model.backbones import find_backbone
        from trainers.config import ConfigError

        try:
            backbone, network = find_backbone(keras.models.load_model(model_path, compile=False))
        except ConfigError as exc:
            raise ArtifactError(f"trial {number} of {study.study_name!r}: {exc}; --backbone-weights exports "
                                "a keras.applications backbone") from None
        network.save_weights(path)
    return backbone


def fetch_predictions(storage: Storage, study: optuna.Study, spec: StudySpec, number: int, path: str) -> bool:
    """Write kept trial `number`'s dev and test predictions to `path`; False when it has none (kept before them)."""
    entry = kept_models(study).get(number) or {}
    if "predictions" not in entry:
        return False
    download(storage, spec, entry["predictions"], path, f"the predictions of trial {number}")
    return True


def download(storage: Storage, spec: StudySpec, artifact: str, path: str, what: str) -> None:
    """Write a study's artifact to `path` (replacing it); ArtifactError, naming `what`, when it is gone."""
    from optuna.artifacts import download_artifact
    from optuna.artifacts.exceptions import ArtifactNotFound

    if os.path.exists(path):
        os.remove(path)  # download_artifact refuses to overwrite; export overwrites, as with the config
    try:
        download_artifact(artifact_store=study_store(storage, spec), artifact_id=artifact, file_path=path)
    except ArtifactNotFound:
        raise ArtifactError(f"{what} is missing from {spec.artifacts}; "
                            "was the artifact folder moved or cleaned?") from None
