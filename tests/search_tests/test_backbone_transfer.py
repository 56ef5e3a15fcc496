"""Pretrain a backbone in one study and transfer it to another, offline: `export --backbone-weights`, `--weights FILE`."""

from __future__ import annotations

import numpy as np
import pytest

from testing.cli import run_cli

ONE_TRIAL = ["--dataset", "digits", "--trials", "1", "--epochs", "1", "--pruner", "none", "--keep-models", "1"]


def narrowed(tmp_path, *backbones: str) -> list[str]:
    path = tmp_path / f"narrow-{'-'.join(backbones)}.yaml"
    path.write_text(f"backbone: [{', '.join(backbones)}]\n")
    return ["--space", "default", "--narrow", str(path)]


@pytest.mark.slow
def test_a_backbone_trained_in_one_study_loads_into_the_next_and_a_misfit_is_refused_at_launch(tmp_path, journal_url):
    keras = pytest.importorskip("keras")
    from trainers.model.backbones import build_application, find_backbone
    from trainers.config import ModelConfig

    run_cli("launch", "source", *ONE_TRIAL, *narrowed(tmp_path, "mobilenet_v2"), "--weights", "none", "--workers", "1",
            storage=journal_url, timeout=900, check=True)
    weights, model = tmp_path / "source.weights.h5", tmp_path / "source.keras"
    proc = run_cli("export", "source", "--backbone-weights", str(weights), "--model", str(model),
                   storage=journal_url, check=True)
    assert "mobilenet_v2 backbone of trial 0 written to" in proc.stderr

    # The file is the kept model's backbone, and a study's trials build the backbone from it.
    _, trained = find_backbone(keras.models.load_model(model, compile=False))
    loaded = build_application("mobilenet_v2", ModelConfig(backbone="mobilenet_v2", weights=str(weights)), 32)
    fresh = build_application("mobilenet_v2", ModelConfig(backbone="mobilenet_v2", weights="none"), 32)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), trained.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), trained.get_weights()))

    launched = run_cli("launch", "target", *ONE_TRIAL, *narrowed(tmp_path, "small_cnn", "mobilenet_v2"),
                       "--weights", str(weights), storage=journal_url, check=True)
    assert "study 'target' launched" in launched.stdout

    for backbones, message in [
        (("resnet50",), f"model.weights '{weights}' cannot be loaded into resnet50"),
        (("mobilenet_v2", "resnet50"), f"--weights {weights} fits mobilenet_v2 but not resnet50, which the space can draw"),
    ]:
        proc = run_cli("launch", f"misfit-{len(backbones)}", *ONE_TRIAL, *narrowed(tmp_path, *backbones),
                       "--weights", str(weights), storage=journal_url)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "misfit" not in run_cli("status", storage=journal_url, check=True).stdout  # nothing stored for them


def test_bad_backbone_exports_and_weight_files_are_one_line(tmp_path, journal_url):
    run_cli("launch", "scratch", *ONE_TRIAL, "--space", "small", "--workers", "1", storage=journal_url, check=True)
    cases = [
        (["export", "scratch", "--backbone-weights", str(tmp_path / "b.weights.h5")],
         "trial 0 of 'scratch': the model has no keras.applications backbone"),
        (["export", "scratch", "--backbone-weights", str(tmp_path / "b.h5")], "Keras writes weights to a file named *.weights.h5"),
        (["launch", "nofile", *ONE_TRIAL, "--weights", str(tmp_path / "missing.weights.h5")],
         f"--weights {tmp_path / 'missing.weights.h5'}: no such file"),
    ]
    for args, message in cases:
        proc = run_cli(*args, storage=journal_url)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "b.weights.h5").exists()
