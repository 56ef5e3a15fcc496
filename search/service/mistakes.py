"""A trial's recorded mistakes, read back for `hpsearch report --mistakes`: its pairs, and its gallery image."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from search.analysis.mistakes import GALLERY_PNG, WORST_JSON
from search.core.artifacts import ArtifactError
from search.core.ranking import ranked_trials
from search.core.spec import read_spec
from search.core.storage import Storage
from search.service.models import download
from search.service.studies import trial_by_number


@dataclass
class TrialMistakes:
    number: int
    mistakes: dict[str, Any]
    gallery: str | None  # where the gallery PNG was written; None when the trial has none
    why_no_gallery: str = ""


def trial_mistakes(storage: Storage, study: optuna.Study, number: int | None, gallery: str | None) -> TrialMistakes:
    """Trial `number`'s (default: the best trial's) mistakes, its gallery written to `gallery`.

    Raises ArtifactError, in one line, for a trial that has no recorded mistakes.
    """
    spec = read_spec(study)
    if number is None:
        ranked = ranked_trials(study, spec)
        if not ranked:
            raise ArtifactError(f"study {study.study_name!r} has no completed trial yet")
        trial = ranked[0]
    else:
        trial = trial_by_number(study, number)
        if trial is None:
            raise ArtifactError(f"study {study.study_name!r} has no trial {number}")
    mistakes = trial.user_attrs.get("mistakes")
    if not mistakes:
        why = "it did not complete" if trial.state != TrialState.COMPLETE else "it was recorded before hpsearch kept mistakes"
        raise ArtifactError(f"trial {trial.number} of {study.study_name!r} has no mistakes recorded ({why})")
    path = gallery or f"{study.study_name}-trial{trial.number}-mistakes.png"
    found = TrialMistakes(trial.number, dict(mistakes), None)
    metas = {m.filename: m for m in optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)}
    if "worst" not in found.mistakes and WORST_JSON in metas:  # kept in the artifact store since issue 27
        found.mistakes["worst"] = _worst_list(storage, spec, metas[WORST_JSON].artifact_id)
    if GALLERY_PNG not in metas:
        found.why_no_gallery = "no gallery was stored (no mistakes, or the artifact store was unavailable)"
        return found
    try:
        download(storage, spec, metas[GALLERY_PNG].artifact_id, path, "the gallery")
    except ArtifactError:
        found.why_no_gallery = f"the gallery is missing from {spec.artifacts}"
        return found
    found.gallery = path
    return found


def _worst_list(storage: Storage, spec, artifact_id: str) -> list[dict[str, Any]]:
    """The gallery's list of worst mistakes; empty when its file is gone from the store."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, WORST_JSON)
        try:
            download(storage, spec, artifact_id, path, "the list of worst mistakes")
        except ArtifactError:
            return []
        with open(path) as f:
            return json.load(f)["worst"]
