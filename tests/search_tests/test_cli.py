"""The CLI as a user meets it: embedded storage end to end, export -> train, and every error path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest
import yaml
from optuna.trial import TrialState

from testing.cli import HPSEARCH, REPO, cli_env, run_cli
from tests.search_tests.helpers import trials_of

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none"]


@pytest.mark.slow
def test_embedded_storage_with_two_workers_completes_a_real_study(journal_url, tmp_path):
    """Real Keras training on digits, two local workers on the embedded storage, then export and retrain."""
    # A region where 3 epochs converge: retraining a half-trained configuration (on the steep part of its
    # learning curve) amplifies CPU thread-scheduling noise into points of accuracy.
    narrow = tmp_path / "narrow.yaml"
    narrow.write_text("optimizer: adam\nlearning_rate: {low: 2.0e-3, high: 1.0e-2}\naugment_policy: none\nbatch_size: [32, 64]\n")
    launched = run_cli("launch", "real", "--dataset", "digits", "--space", "small", "--trials", "4", "--epochs", "3",
                       "--pruner", "none", "--workers", "2", "--log-dir", str(tmp_path / "logs"), "--narrow", str(narrow),
                       storage=journal_url, timeout=600, check=True)
    assert "done" in launched.stdout
    trials = trials_of(journal_url, "real")
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 4
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    logs = sorted(os.listdir(tmp_path / "logs"))
    assert logs == ["real-worker1.log", "real-worker2.log"]
    text = (tmp_path / "logs" / "real-worker1.log").read_text()
    assert "[study=real trial=" in text  # logs name the study and the trial
    # ... and the network each trial trains, whose depth and width decide how long it takes.
    both = text + (tmp_path / "logs" / "real-worker2.log").read_text()
    assert re.search(r"trial=\d+\] started: small_cnn depth=\d+ width=\d+ head=(none|\d+) bn=", both)
    # Each trial ran in its own process, and says how long that process took to start; one that a
    # worker prepared ahead (while its previous trial finished), how long preparing it took.
    assert all(t.user_attrs.get("prepared_seconds", t.user_attrs["startup_seconds"]) > 0 for t in trials)
    assert any("prepared_seconds" in t.user_attrs for t in trials)  # 4 trials on 2 workers: a worker's second
    # ... and how long its trainer took to finish its first training step.
    assert all(t.user_attrs["first_step_seconds"] > 0 for t in trials)

    best = tmp_path / "best.yaml"
    run_cli("export", "real", "-o", str(best), storage=journal_url, check=True)
    doc = yaml.safe_load(best.read_text())
    best_trial = max((t for t in trials if t.state == TrialState.COMPLETE), key=lambda t: t.value)
    assert doc["trial"] == best_trial.number and doc["study"] == "real"
    assert doc["objectives"]["dev_accuracy"] == pytest.approx(best_trial.value)
    assert doc["config"] == best_trial.user_attrs["config"]
    assert {"tensorflow", "keras", "optuna", "python"} <= set(doc["provenance"]["trained_with"])

    # `hpsearch train` rebuilds exactly that configuration with no database, and trains it the same way.
    model = tmp_path / "model.keras"
    metrics = tmp_path / "metrics.json"
    trained = run_cli("train", str(best), "--save", str(model), "--metrics", str(metrics), timeout=600, check=True)
    assert "dev_accuracy" in trained.stdout and model.exists()
    dev_accuracy = float(next(l for l in trained.stdout.splitlines() if "dev_accuracy" in l).split()[-2])
    assert dev_accuracy == pytest.approx(best_trial.value, abs=0.02)
    # --metrics writes the same figures as JSON, for scripts.
    written = json.loads(metrics.read_text())
    assert written["dev_accuracy"] == pytest.approx(dev_accuracy, abs=1e-4) and 0 < written["test_accuracy"] <= 1


def test_spaces_lists_and_samples(tmp_path):
    listed = run_cli("spaces", check=True)
    assert "learning_rate" in listed.stdout and "momentum_r" in listed.stdout and "log" in listed.stdout
    sampled = run_cli("spaces", "--sample", "small", "--seed", "4", check=True)
    again = run_cli("spaces", "--sample", "small", "--seed", "4", check=True)
    assert sampled.stdout == again.stdout
    config = yaml.safe_load(sampled.stdout)
    assert config["model"]["backbone"] == "small_cnn"
    path = tmp_path / "c.yaml"
    path.write_text(sampled.stdout)
    from trainers.config import load_config

    assert load_config(str(path)).model.backbone == "small_cnn"


def test_export_of_a_study_with_no_finished_trial(journal_url):
    run_cli("launch", "empty", *PACED, "--trials", "2", storage=journal_url, check=True)
    proc = run_cli("export", "empty", storage=journal_url)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "hpsearch: error: nothing to export from study 'empty': it has no completed trial yet"


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgresql://u:pw@127.0.0.1:1/db", "cannot open storage postgresql+psycopg2://u:***@127.0.0.1:1/db"),
        ("mysql+nosuchdriver://u:pw@h/db", "cannot open storage"),
        ("postgresql://u:pw@host:notaport/db", "malformed storage URL"),
        ("no-scheme://x", "malformed storage URL"),
        ("journal:/proc/forbidden/studies.journal", "cannot open embedded storage"),
    ],
)
def test_bad_or_unreachable_storage_is_one_line(url, message):
    proc = run_cli("status", storage=url)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert ":pw@" not in proc.stderr


def test_bad_train_configs(tmp_path):
    cases = {
        "unknown.yaml": ("model: {dropuot: 0.1}\n", "unknown key 'model.dropuot'; did you mean 'model.dropout'?"),
        "type.yaml": ("training: {epochs: many}\n", "training.epochs must be an integer, got 'many'"),
        "newer.yaml": ("version: 99\n", "configuration version 99 is newer than this hpsearch understands"),
        "broken.yaml": ("model: [\n", "not valid YAML"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        proc = run_cli("train", str(path))
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr)
        (line,) = proc.stderr.strip().splitlines()
        assert line.startswith("hpsearch: error: ") and message in line, line
    proc = run_cli("train", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr


def test_train_refuses_a_save_path_it_cannot_write_before_training(tmp_path):
    # A read-only folder. Root writes anywhere through CAP_DAC_OVERRIDE, so as root (CI) the command
    # runs without that capability: root then meets the folder's permissions like any user.
    folder = tmp_path / "ro"
    folder.mkdir()
    good = folder / "good.yaml"
    good.write_text("training: {epochs: 1}\n")
    folder.chmod(0o555)
    target = str(folder / "m.keras")
    argv = [HPSEARCH, "train", str(good), "--save", target]
    if os.geteuid() == 0:
        drop = "-dac_override,-dac_read_search"
        argv = [shutil.which("setpriv") or "setpriv", f"--bounding-set={drop}", f"--inh-caps={drop}", *argv]
    try:
        proc = subprocess.run(argv, env=cli_env(), capture_output=True, text=True, timeout=300, cwd=REPO)
    finally:
        folder.chmod(0o755)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"hpsearch: error: cannot write {target}: permission denied"
    assert "epoch" not in proc.stdout.lower()  # refused before any training


def test_gp_sampler_without_pytorch_is_refused_at_launch(journal_url):
    try:
        import torch  # noqa: F401

        pytest.skip("PyTorch is installed: the gp sampler works here")
    except ImportError:
        pass
    proc = run_cli("launch", "gp", "--sampler", "gp", storage=journal_url)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("hpsearch: error: the gp sampler needs PyTorch and SciPy (No module named 'torch'): "
                                   "pip install 'hpsearch[gp]'")
    assert "no studies" in run_cli("status", storage=journal_url, check=True).stdout


def test_launch_with_no_flags_stores_the_documented_defaults(journal_url):
    """What `launch` does with no flags is StudySpec's defaults, which benchmark 1c chose: the CLI's own
    option defaults must not drift from them (the CLI keeps its own copies so that it starts without Optuna)."""
    import dataclasses

    import optuna

    from search.core.spec import StudySpec, read_spec
    from search.core.storage import open_storage

    # --weights none: the default space's pretrained backbones cannot be fetched on an offline machine.
    run_cli("launch", "plain", "--weights", "none", storage=journal_url, check=True)
    stored = read_spec(optuna.load_study(study_name="plain", storage=open_storage(journal_url).optuna))
    assert stored == dataclasses.replace(StudySpec(), weights="none", artifacts=stored.artifacts)
    assert stored.pruner == "hyperband" and stored.sampler == "tpe"


def test_version():
    from importlib.metadata import version

    proc = run_cli("--version", check=True)
    assert proc.stdout.strip() == f"hpsearch, version {version('hpsearch')}"


def test_resume_prints_the_stored_spec_not_the_command_lines_defaults(journal_url):
    run_cli("launch", "r", *PACED, "--dataset", "digits", "--epochs", "4", "--trials", "3", "--pruner", "median",
            storage=journal_url, check=True)
    resumed = run_cli("launch", "r", "--trials", "5", "--resume", storage=journal_url, check=True)
    assert "5 trials of 4 epochs, space small, dataset digits, pruner median" in resumed.stdout, resumed.stdout


def test_the_dashboard_names_the_objectives(journal_url):
    import optuna

    from search.core.storage import open_storage

    run_cli("launch", "one", *PACED, storage=journal_url, check=True)
    run_cli("launch", "two", *PACED, "--objectives", "dev_accuracy,latency_ms", "--pruner", "none", storage=journal_url,
            check=True)
    storage = open_storage(journal_url).optuna
    assert optuna.load_study(study_name="one", storage=storage).metric_names == ["dev_accuracy"]
    assert optuna.load_study(study_name="two", storage=storage).metric_names == ["dev_accuracy", "latency_ms"]


def test_set_gives_every_trial_a_field_the_space_does_not_search(journal_url, tmp_path):
    """`launch --set` fixes training-config fields in every trial, the portfolio's recipes included."""
    launched = run_cli("launch", "smooth", *PACED, "--epochs", "1", "--trials", "3",
                       "--set", "training.label_smoothing=0.1", "--set", "optimizer.ema_momentum=0.99",
                       "--workers", "1", "--log-dir", str(tmp_path / "logs"), storage=journal_url, check=True)
    assert "smooth: every trial with training.label_smoothing=0.1, optimizer.ema_momentum=0.99" in launched.stdout
    trials = trials_of(journal_url, "smooth")
    assert len(trials) == 3 and any("portfolio_recipe" in t.user_attrs for t in trials)
    for trial in trials:
        config = trial.user_attrs["config"]
        assert config["training"]["label_smoothing"] == 0.1 and config["optimizer"]["ema_momentum"] == 0.99


@pytest.mark.parametrize("flag, message", [
    ("model.dropout=0.3", "--set model.dropout: space small searches it; fix it with --narrow instead"),
    ("training.epochs=3", "--set training.epochs: use --epochs instead"),
    ("training.label_smothing=0.1", "unknown key 'training.label_smothing'; did you mean 'training.label_smoothing'?"),
    ("training.label_smoothing=0.9", "training.label_smoothing must be in [0.0, 0.5], got 0.9"),
    ("label_smoothing=0.1", "--set label_smoothing: name a training-config field as SECTION.FIELD"),
    ("training.label_smoothing", "'training.label_smoothing' is not FIELD=VALUE"),
    ("optimizer.warmup_fraction=0.1", "space small can draw a configuration these fields do not go with "
                                      "(optimizer.warmup_fraction goes with lr_decay none or cosine, not 'inverse_time')"),
])
def test_a_bad_set_is_one_line_and_stores_nothing(journal_url, flag, message):
    proc = run_cli("launch", "bad", *PACED, "--set", flag, storage=journal_url)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "no studies" in run_cli("status", storage=journal_url, check=True).stdout
