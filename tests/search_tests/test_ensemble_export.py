"""`hpsearch export --ensemble`: the models a study kept, chosen on dev and written as one Keras model."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import yaml

from search.core.storage import open_storage
from search.service.models import MODELS_ATTR
from testing.cli import run_cli

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none"]


@pytest.mark.slow
# The PostgreSQL twin is heavy (`.ci/run` runs it, `make test` leaves it out): the same path as
# the embedded storage's, which `make test` runs, on the other storage.
@pytest.mark.parametrize("where", ["embedded", pytest.param("postgresql", marks=pytest.mark.heavy)])
def test_an_ensemble_of_kept_models_loads_with_keras_alone_and_scores_what_it_recorded(where, tmp_path, request):
    keras = pytest.importorskip("keras")
    from trainers.config import load_config
    from trainers.data import load_splits

    if where == "embedded":
        url, folder = f"journal:{tmp_path / 'studies.journal'}", tmp_path / "studies-artifacts"
    else:
        url, folder = request.getfixturevalue("pg_url"), tmp_path / "shared-artifacts"
    run_cli("launch", "ens", "--dataset", "digits", "--space", "small", "--trials", "4", "--epochs", "2",
            "--pruner", "none", "--workers", "1", "--keep-models", "4", "--artifacts", str(folder),
            storage=url, timeout=600, check=True)
    out, model_path = tmp_path / "ens.yaml", tmp_path / "ens.keras"
    # K above the models kept: the ensemble is smaller, not refused.
    proc = run_cli("export", "ens", "--ensemble", "8", "--model", str(model_path), "-o", str(out), storage=url, check=True)
    assert "ensemble of" in proc.stderr and "Traceback" not in proc.stderr
    assert "ms an image at batch 1, against" in proc.stderr  # its latency beside its best member's
    doc = yaml.safe_load(out.read_text())
    ens = doc["ensemble"]
    assert 1 <= ens["size"] <= 4 and ens["chosen_from"] == [0, 1, 2, 3]
    assert sum(m["weight"] for m in ens["members"]) == pytest.approx(1.0, abs=1e-4)
    assert ens["best_single"]["trial"] == doc["trial"]
    assert ens["latency_ms"] > 0 and ens["best_single"]["latency_ms"] > 0

    # The file is plain Keras, takes 0-255 pixels, and scores on dev what the export recorded.
    model = keras.models.load_model(model_path)
    dev = load_splits(load_config(str(out)).data).dev
    accuracy = float(np.mean(model.predict(dev.images, verbose=0).argmax(-1) == dev.labels))
    assert accuracy == pytest.approx(ens["dev_accuracy"], abs=1.5 / len(dev.labels))  # one example of float rounding

    # `report` and the dashboard's study note show it against the best single model.
    held_out = f"{ens['dev_accuracy_held_out']:.4f}, against {ens['best_single_dev_accuracy_held_out']:.4f}"
    assert held_out in run_cli("report", "ens", storage=url, check=True).stdout
    from optuna_dashboard import get_note

    study = optuna.load_study(study_name="ens", storage=open_storage(url).optuna)
    assert "### Ensemble of the kept models" in get_note(study) and held_out in get_note(study)

    # --tta: the views are tried on dev, and the exported model is what was decided, kept or not.
    tta_out, tta_model = tmp_path / "tta.yaml", tmp_path / "tta.keras"
    proc = run_cli("export", "ens", "--ensemble", "8", "--tta", "--model", str(tta_model), "-o", str(tta_out),
                   storage=url, check=True)
    tta = yaml.safe_load(tta_out.read_text())["ensemble"]["tta"]
    assert "Test-time augmentation" in proc.stderr and "Traceback" not in proc.stderr
    assert set(tta["dev_accuracy_by_policy"]) == {"none", "flip", "shift 1 px", "shift 2 px", "flip and shift 1 px"}
    assert tta["plain_dev_accuracy_held_out"] == pytest.approx(ens["dev_accuracy"], abs=1e-9)
    exported = keras.models.load_model(tta_model)
    shipped = float(np.mean(exported.predict(dev.images, verbose=0).argmax(-1) == dev.labels))
    assert shipped == pytest.approx(tta["dev_accuracy_by_policy"][tta["policy"]], abs=1.5 / len(dev.labels))
    assert (tta["policy"] != "none") == (tta["dev_accuracy_held_out"] > tta["plain_dev_accuracy_held_out"])
    assert ("tta_average" in [layer.name for layer in exported.layers]) == (tta["policy"] != "none")

    # Test predictions only report: scrambled, the same members are chosen and only the test figure moves.
    for entry in study.user_attrs[MODELS_ATTR].values():
        path = folder / entry["predictions"]
        with np.load(path) as z:
            arrays = dict(z)
        arrays["test"] = np.random.default_rng(0).permutation(arrays["test"])
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
    again = yaml.safe_load(run_cli("export", "ens", "--ensemble", "8", storage=url, check=True).stdout)["ensemble"]
    assert again["members"] == ens["members"] and again["dev_accuracy_held_out"] == ens["dev_accuracy_held_out"]


@pytest.mark.parametrize("flags, message", [
    (["--ensemble", "1"], "Invalid value for '--ensemble': 1 is not in the range x>=2."),
    (["--ensemble", "3"], "study 'none' keeps no model with stored predictions to build an ensemble from"),
    (["--tta"], "--tta goes with --ensemble K"),
])
def test_a_bad_ensemble_request_is_one_line(journal_url, flags, message):
    run_cli("launch", "none", *PACED, "--trials", "2", "--epochs", "1", "--keep-models", "0", "--workers", "1",
            storage=journal_url, check=True)
    proc = run_cli("export", "none", *flags, storage=journal_url)
    assert proc.returncode != 0 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
