"""launch refuses, in one line, a space of pretrained backbones whose ImageNet weights this host cannot get."""

from __future__ import annotations

from testing.cli import run_cli
from trainers.weights import WEIGHT_FILES, weights_reachable


def test_launch_offline_without_cached_weights_is_refused_naming_the_backbones(journal_url, tmp_path):
    if weights_reachable():
        return  # this host can download them: nothing to refuse (the check passes, as it should)
    home = tmp_path / "keras"
    (home / "models").mkdir(parents=True)
    (home / "models" / WEIGHT_FILES["resnet50"][0]).write_bytes(b"cached")
    proc = run_cli("launch", "pretrained", "--dataset", "digits", storage=journal_url, KERAS_HOME=str(home))
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert line.count("\n") == 0 and "Traceback" not in line
    assert "ImageNet weights of mobilenet_v2, efficientnet_b0" in line and "resnet50" not in line.split("are not")[0]
    for way_out in ("--weights none", "--space small", "PRETRAINED"):
        assert way_out in line
    assert "no studies" in run_cli("status", storage=journal_url, check=True).stdout


def test_launch_with_every_weight_cached_or_without_imagenet_goes_ahead(journal_url, tmp_path):
    home = tmp_path / "keras"
    (home / "models").mkdir(parents=True)
    for files in WEIGHT_FILES.values():
        (home / "models" / files[-1]).write_bytes(b"cached")
    run_cli("launch", "cached", "--dataset", "digits", storage=journal_url, KERAS_HOME=str(home), check=True)
    run_cli("launch", "scratch", "--dataset", "digits", "--weights", "none", storage=journal_url,
            KERAS_HOME=str(tmp_path / "empty"), check=True)
