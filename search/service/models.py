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
    """Trial number -> {"artifact", "values", "feasible"} for every model the study keeps."""
    return {int(k): v for k, v in (study.user_attrs.get(MODELS_ATTR) or {}).items()}


def _rank_key(spec: StudySpec, number: int, entry: dict[str, Any]):
    sign = -1.0 if spec.directions[0] == "maximize" else 1.0
    return (not entry["feasible"], sign * entry["values"][0], number)


def keep(storage: Storage, study: optuna.Study, spec: StudySpec, number: int, values: Sequence[float],
         feasible: bool, model_path: str) -> bool:
    """Store trial `number`'s model and apply the retention rule; True when it is among those kept.

    The file `model_path` is removed in every case.
    """
    try:
        if spec.keep_models <= 0:
            return False
        store = study_store(storage, spec)
        artifact = str(uuid.uuid4())
        with open(model_path, "rb") as f:
            store.write(artifact, f)
        with storage.lock(f"{study.study_name}:models"):
            kept = kept_models(study)
            kept[number] = {"artifact": artifact, "values": [float(v) for v in values], "feasible": bool(feasible)}
            ranked = sorted(kept, key=lambda n: _rank_key(spec, n, kept[n]))
            evicted = {n: kept.pop(n) for n in ranked[spec.keep_models:]}
            study.set_user_attr(MODELS_ATTR, {str(n): kept[n] for n in sorted(kept)})
        for n, entry in evicted.items():
            with contextlib.suppress(Exception):  # already gone: the rule holds all the same
                store.remove(entry["artifact"])
        return number in kept
    finally:
        with contextlib.suppress(OSError):
            os.remove(model_path)


def fetch(storage: Storage, study: optuna.Study, spec: StudySpec, number: int, path: str) -> None:
    """Write trial `number`'s kept model to `path`; ArtifactError when the study does not keep it."""
    entry = kept_models(study).get(number)
    if entry is None:
        kept = sorted(kept_models(study))
        which = f"it keeps trials {', '.join(map(str, kept))}" if kept else "it keeps none"
        raise ArtifactError(f"study {study.study_name!r} did not keep the model of trial {number} ({which}; "
                            f"--keep-models is {spec.keep_models}); retrain it with `hpsearch train`")
    from optuna.artifacts import download_artifact
    from optuna.artifacts.exceptions import ArtifactNotFound

    if os.path.exists(path):
        os.remove(path)  # download_artifact refuses to overwrite; export overwrites, as with the config
    try:
        download_artifact(artifact_store=study_store(storage, spec), artifact_id=entry["artifact"], file_path=path)
    except ArtifactNotFound:
        raise ArtifactError(f"the model of trial {number} is missing from {spec.artifacts}; "
                            "was the artifact folder moved or cleaned?") from None
