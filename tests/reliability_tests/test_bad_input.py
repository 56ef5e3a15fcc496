"""Bad input: each case is one line on stderr, a non-zero exit, and stored studies left unchanged."""

from __future__ import annotations

import json
import os

import optuna
import pytest

from search.core.storage import open_storage
from testing.cli import run_cli

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none"]


def snapshot(url: str) -> str:
    """Every study, attr, trial, param, value and attr in the storage, as one string."""
    storage = open_storage(url)
    out = []
    for s in sorted(storage.optuna.get_all_studies(), key=lambda s: s.study_name):
        study = optuna.load_study(study_name=s.study_name, storage=storage.optuna)
        trials = [(t.number, t.state.name, t.values, t.params, t.user_attrs, t.intermediate_values)
                  for t in study.get_trials(deepcopy=False)]
        out.append((s.study_name, s.user_attrs, trials))
    return json.dumps(out, sort_keys=True, default=str)


def _folders(root):
    """Datasets that are wrong in each way a folder can be."""
    from PIL import Image

    made = {}
    empty = root / "empty"
    empty.mkdir()
    made["empty"] = empty
    one = root / "one_class" / "cats"
    one.mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(one / "a.png")
    made["one_class"] = root / "one_class"
    corrupt = root / "corrupt"
    for cls in ("a", "b"):
        (corrupt / cls).mkdir(parents=True)
        (corrupt / cls / "x.jpg").write_bytes(b"\x00garbage")
        (corrupt / cls / "notes.txt").write_text("not an image")
    made["corrupt"] = corrupt
    return made


def cases(tmp_path) -> list[tuple[str, list[str], str, dict]]:
    folders = _folders(tmp_path)
    inverted = tmp_path / "inverted.yaml"
    inverted.write_text("learning_rate: {low: 1.0e-2, high: 1.0e-4}\n")
    negative = tmp_path / "negative.yaml"
    negative.write_text("dropout: {low: -0.2, high: 0.3}\n")
    backbone = tmp_path / "backbone.yaml"
    backbone.write_text("backbone: [resnet5]\n")
    configs = {
        "unknown": "model: {dropuot: 0.1}\n",
        "types": "training: {epochs: many}\n",
        "newer": "version: 99\n",
    }
    for name, text in configs.items():
        (tmp_path / f"{name}.yaml").write_text(text)
    readonly = "/proc/hpsearch-best.yaml"  # a read-only filesystem, even for root
    return [
        ("unknown space", ["launch", "x", "--space", "nope"], "unknown space 'nope'", {}),
        ("misspelt space", ["launch", "x", "--space", "defualt"], "(did you mean 'default'?)", {}),
        ("space module that does not import", ["launch", "x", "--space", "nosuch.module"], "cannot import space module", {}),
        ("unknown dataset", ["launch", "x", "--dataset", "imagenet22k"], "unknown dataset 'imagenet22k'", {}),
        ("misspelt dataset", ["launch", "x", "--dataset", "digts"], "(did you mean 'digits'?)", {}),
        ("misspelt backbone", ["launch", "x", "--narrow", str(backbone)], "backbone can only be narrowed to a subset of", {}),
        ("misspelt pruner", ["launch", "x", "--pruner", "medain"], "unknown pruner 'medain' (did you mean 'median'?)", {}),
        ("unknown sampler", ["launch", "x", "--sampler", "cmaes"], "unknown sampler 'cmaes'", {}),
        ("inverted range", ["launch", "x", "--narrow", str(inverted)], "low (0.01) is above high (0.0001)", {}),
        ("negative range", ["launch", "x", "--narrow", str(negative)], "dropout can only be narrowed within 0 .. 0.5", {}),
        ("negative budget", ["launch", "x", "--trials", "-4"], "--trials must be at least 1, got -4", {}),
        ("negative limit", ["launch", "x", "--max-params", "-1"], "--max-params must be positive", {}),
        ("error rate as a percentage", ["launch", "x", "--human-error", "5"], "(it looks like a percentage: use 0.05)", {}),
        ("error rate above 100", ["diagnose", "--human-error", "0.01", "--train-error", "150", "--dev-error", "0.2"],
         "train error is an error rate in [0, 1], got 150", {}),
        ("config with unknown keys", ["train", str(tmp_path / "unknown.yaml")], "unknown key 'model.dropuot'", {}),
        ("config with wrong types", ["train", str(tmp_path / "types.yaml")], "training.epochs must be an integer, got 'many'", {}),
        ("config from a newer version", ["train", str(tmp_path / "newer.yaml")], "configuration version 99 is newer", {}),
        ("empty dataset folder", ["launch", "x", "--dataset", f"dir:{folders['empty']}"], "has no class subfolders", {}),
        ("dataset folder with one class", ["launch", "x", "--dataset", f"dir:{folders['one_class']}"], "images of one class only", {}),
        ("dataset folder of corrupt and non-image files", ["launch", "x", "--dataset", f"dir:{folders['corrupt']}"],
         "holds no readable images", {}),
        ("unreachable storage", ["--storage", "postgresql://u:pw@127.0.0.1:9/db", "status"], "Connection refused", {}),
        ("malformed storage URL", ["--storage", "postgresql://u:pw@host:port/db", "status"], "malformed storage URL", {}),
        ("wrong password", ["status"], "password authentication failed", {"HPSEARCH_DB_PASSWORD": "wrong"}),
        ("study name that exists", ["launch", "keep"], "study 'keep' already exists; use --resume", {}),
        ("export of a study with no finished trial", ["export", "fresh"], "it has no completed trial yet", {}),
        ("export of an unknown study", ["export", "kepe"], "no study named 'kepe' (did you mean 'keep'?)", {}),
        ("read-only output path", ["export", "keep", "-o", readonly], f"cannot write {readonly}: ", {}),
        ("unknown command", ["lanuch", "x"], "No such command 'lanuch'", {}),
    ]


def test_bad_input_is_one_line_and_harmless(pg_url, postgres, tmp_path, record):
    run_cli("launch", "keep", *PACED, "--trials", "2", "--epochs", "2", "--pruner", "none", "--workers", "1",
            "--log-dir", str(tmp_path / "logs"), storage=pg_url, check=True)
    run_cli("launch", "fresh", *PACED, "--trials", "2", storage=pg_url, check=True)
    before = snapshot(pg_url)
    rows = []
    for what, args, message, env in cases(tmp_path):
        storage = pg_url
        if "HPSEARCH_DB_PASSWORD" in env:  # the URL without its password: the environment's wrong one is used
            storage = f"postgresql://hpsearch@127.0.0.1:{postgres.port}/postgres"
        proc = run_cli(*args, storage=storage, **env)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode != 0, what
        assert len(lines) == 1, (what, proc.stderr)
        assert lines[0].startswith("hpsearch: error: ") and message in lines[0], (what, lines[0])
        assert "Traceback" not in proc.stdout + proc.stderr, what
        assert postgres.password not in proc.stdout + proc.stderr
        rows.append((f"bad input: {what}", f"exit {proc.returncode}: {lines[0][:110]}"))
    assert snapshot(pg_url) == before, "bad input changed the stored studies"
    assert not os.path.exists("/proc/hpsearch-best.yaml")
    for fault, outcome in rows:  # only now is "unchanged" a fact
        record(fault, outcome, "stored studies unchanged", storage="PostgreSQL")
