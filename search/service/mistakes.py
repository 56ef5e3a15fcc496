"""A trial's recorded mistakes, read back for `hpsearch report --mistakes`: its pairs, and its gallery image."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from search.analysis.mistakes import GALLERY_PNG
from search.core.artifacts import ArtifactError
from search.core.ranking import ranked_trials
from search.core.spec import read_spec
from search.core.storage import Storage
from search.service.models import study_store
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
    found = TrialMistakes(trial.number, mistakes, None)
    meta = [m for m in optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage) if m.filename == GALLERY_PNG]
    if not meta:
        found.why_no_gallery = "no gallery was stored (no mistakes, or the artifact store was unavailable)"
        return found
    from optuna.artifacts import download_artifact
    from optuna.artifacts.exceptions import ArtifactNotFound

    if os.path.exists(path):
        os.remove(path)  # download_artifact refuses to overwrite
    try:
        download_artifact(artifact_store=study_store(storage, spec), artifact_id=meta[-1].artifact_id, file_path=path)
    except ArtifactNotFound:
        found.why_no_gallery = f"the gallery is missing from {spec.artifacts}"
        return found
    found.gallery = path
    return found
