"""Trained models kept in the study's artifact store: export --model, the retention rule, bad locations."""

from __future__ import annotations

import json
import os

import numpy as np
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from search.core.storage import open_storage
from search.service.models import MODELS_ATTR
from testing.cli import run_cli
from tests.search_tests.helpers import trials_of


def _kept(url: str, name: str) -> dict[int, dict]:
    study = optuna.load_study(study_name=name, storage=open_storage(url).optuna)
    return {int(k): v for k, v in study.user_attrs[MODELS_ATTR].items()}


@pytest.mark.slow
# The PostgreSQL twin is heavy (`.ci/run` runs it, `make test` leaves it out): the same path as
# the embedded storage's, which `make test` runs, on the other storage.
@pytest.mark.parametrize("where", ["embedded", pytest.param("postgresql", marks=pytest.mark.heavy)])
def test_export_model_writes_the_trained_model_which_scores_the_recorded_dev_accuracy(where, tmp_path, request):
    """A real study on digits keeps its best models; the exported one loads with Keras alone, no retraining."""
    keras = pytest.importorskip("keras")
    from trainers.config import load_config
    from trainers.data import load_splits

    if where == "embedded":
        url, extra = f"journal:{tmp_path / 'studies.journal'}", []
        folder = tmp_path / "studies-artifacts"  # the default: beside the storage file
    else:
        url, folder = request.getfixturevalue("pg_url"), tmp_path / "shared-artifacts"
        extra = ["--artifacts", str(folder)]
    run_cli("launch", "kept", "--dataset", "digits", "--space", "small", "--trials", "3", "--epochs", "2",
            "--pruner", "none", "--workers", "1", "--keep-models", "2", *extra, storage=url, timeout=600, check=True)
    # 3 completed trials, the best 2 models kept, each with its predictions (beside each trial's mistake images).
    zips = [name for name in os.listdir(folder) if (folder / name).read_bytes()[:2] == b"PK"]  # .keras and .npz
    kept = _kept(url, "kept").values()
    assert len(kept) == 2 and sorted(zips) == sorted([e["artifact"] for e in kept] + [e["predictions"] for e in kept])
    best_yaml, best_keras = tmp_path / "best.yaml", tmp_path / "best.keras"
    run_cli("export", "kept", "-o", str(best_yaml), "--model", str(best_keras), storage=url, check=True)

    doc = yaml.safe_load(best_yaml.read_text())
    model = keras.models.load_model(best_keras)
    dev = load_splits(load_config(str(best_yaml)).data).dev
    accuracy = float(np.mean(model.predict(dev.images, verbose=0).argmax(-1) == dev.labels))
    assert accuracy == pytest.approx(doc["objectives"]["dev_accuracy"], abs=0.005)


def test_a_study_keeps_only_its_best_models_files_included(journal_url, tmp_path):
    """20 trials, --keep-models 3: the store holds exactly the top 3 trials' models, each its own."""
    folder = tmp_path / "models"
    run_cli("launch", "top3", "--trainer", "testing.doubles:with_model", "--space", "small", "--trials", "20",
            "--epochs", "2", "--pruner", "none", "--workers", "2", "--keep-models", "3", "--artifacts", str(folder),
            storage=journal_url, timeout=600, check=True)
    trials = [t for t in trials_of(journal_url, "top3") if t.state == TrialState.COMPLETE]
    assert len(trials) == 20
    best = sorted(trials, key=lambda t: (-t.value, t.number))[:3]
    kept = _kept(journal_url, "top3")
    assert sorted(kept) == sorted(t.number for t in best)
    assert sorted(os.listdir(folder)) == sorted(entry["artifact"] for entry in kept.values())
    for t in best:  # each file is the model of the trial it is listed under
        saved = json.loads((folder / kept[t.number]["artifact"]).read_text())
        assert saved == t.user_attrs["config"]


def test_export_model_of_a_trial_whose_model_was_not_kept_fails_in_one_line_and_writes_nothing(journal_url, tmp_path):
    run_cli("launch", "none", "--trainer", "testing.doubles:with_model", "--space", "small", "--trials", "2",
            "--epochs", "1", "--pruner", "none", "--workers", "1", "--keep-models", "0", storage=journal_url,
            timeout=300, check=True)
    out, model = tmp_path / "best.yaml", tmp_path / "best.keras"
    proc = run_cli("export", "none", "-o", str(out), "--model", str(model), storage=journal_url)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "did not keep the model of trial" in proc.stderr
    assert "--keep-models is 0" in proc.stderr
    assert not out.exists() and not model.exists()


@pytest.mark.parametrize("location, message", [("ftp://host/models", "use a folder or s3://bucket/prefix"),
                                               ("s3:///prefix", "names no bucket")])
def test_an_artifact_location_that_cannot_work_is_refused_at_launch(journal_url, location, message):
    proc = run_cli("launch", "bad", "--dataset", "digits", "--artifacts", location, storage=journal_url)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert run_cli("status", storage=journal_url).stdout.count("bad") == 0  # nothing was created
