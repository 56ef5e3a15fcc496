"""The terminal twins of the dashboard: `hpsearch diagnose` (any numbers) and `hpsearch report NAME` (a study)."""

from __future__ import annotations

import json

import optuna
import pytest

from search.service import studies
from search.core.storage import open_storage
from testing.cli import run_cli
from testing.doubles import WORST_MISTAKES as WORST


def test_diagnose_prints_the_table_the_problem_and_next_steps():
    out = run_cli("diagnose", "--human-error", "0.01", "--train-error", "0.03", "--train-dev-error", "0.091",
                  "--dev-error", "0.10", "--test-error", "0.105", check=True).stdout
    for text in ("human-level", "avoidable bias", "+2.0", "variance", "+6.1", "data mismatch", "+0.9",
                 "dev overfitting", "+0.5", "Dominant problem: variance (6.1 points)", "more training data"):
        assert text in out, text


def test_diagnose_json_without_train_dev():
    out = run_cli("diagnose", "--human-error", "0.01", "--train-error", "0.02", "--dev-error", "0.09",
                  "--format", "json", check=True).stdout
    result = json.loads(out)
    assert result["variance"] == pytest.approx(0.07)  # dev - train when there is no train-dev
    assert result["data_mismatch"] is None and result["dev_overfitting"] is None
    assert result["dominant"] == "variance"
    assert result["next_steps"]


def test_diagnose_says_when_training_is_below_human_level():
    result = json.loads(run_cli("diagnose", "--human-error", "0.05", "--train-error", "0.02", "--train-dev-error", "0.022",
                                "--dev-error", "0.025", "--format", "json", check=True).stdout)
    assert result["avoidable_bias"] == pytest.approx(-0.03)
    assert result["below_human"] and result["dominant"] == "none"
    assert "below human-level" in result["verdict"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--train-error", "5", "--dev-error", "0.1"), "train error is an error rate in [0, 1], got 5 (it looks like a percentage: use 0.05)"),
        (("--human-error", "1.5", "--train-error", "0.02", "--dev-error", "0.1"), "use 0.015"),
        (("--train-error", "0.02",), "Missing option '--dev-error'"),
        (("--train-error", "abc", "--dev-error", "0.1"), "'abc' is not a valid float"),
    ],
)
def test_diagnose_errors_are_one_line_and_non_zero(args, message):
    proc = run_cli("diagnose", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpsearch: error: ")
    assert message in lines[0]


def test_report_of_a_study(journal_url):
    # The test-double trainer has high variance that dropout reduces (0.12 (1 - 2 dropout)); the six trials'
    # dropouts are fixed so that variance (4.8 to 9.6 points) dominates every one, bias being 0.5 points.
    run_cli("launch", "ovf", "--space", "small", "--trials", "6", "--epochs", "2", "--pruner", "none", "--weights", "none",
            "--human-error", "0.005", "--trainer", "testing.doubles:overfitting", "--no-portfolio", storage=journal_url,
            check=True)
    study = studies.load(open_storage(journal_url), "ovf")
    for dropout in DROPOUTS:
        study.enqueue_trial({"dropout": dropout})
    run_cli("worker", "--study", "ovf", "--idle-exit", "20", storage=journal_url, check=True)
    out = run_cli("report", "ovf", storage=journal_url, check=True).stdout
    for text in ("error decomposition of the best trials of ovf", "dev_accuracy", "train-dev", "variance",
                 "Summary", "6 trials measured (6 complete, 0 pruned)", "Where to look next", "Best trial"):
        assert text in out, text
    result = json.loads(run_cli("report", "ovf", "--format", "json", "--top", "3", storage=journal_url, check=True).stdout)
    assert len(result["best"]) == 3
    assert result["best"][0]["dev_error"] <= result["best"][1]["dev_error"] <= result["best"][2]["dev_error"]
    assert result["dominant_problem"] == "variance"
    # The best three have dropout 0.20-0.30: the suggested space keeps dropout at least that high.
    assert result["narrowing"]["dropout"]["low"] >= 0.2
    assert any("regularization" in s for s in result["next_steps"])


DROPOUTS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3)


def test_report_of_a_missing_study_is_one_line(journal_url):
    proc = run_cli("report", "nosuch", storage=journal_url)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["hpsearch: error: no study named 'nosuch'; this storage has no studies"]


def test_report_mistakes_prints_the_most_confused_pairs_and_writes_the_gallery(journal_url, tmp_path):
    run_cli("launch", "errs", "--trainer", "testing.doubles:with_mistakes", "--space", "small", "--trials", "2",
            "--epochs", "1", "--pruner", "none", "--workers", "1", storage=journal_url, check=True)
    gallery = tmp_path / "gallery.png"
    out = run_cli("report", "errs", "--mistakes", "--gallery", str(gallery), storage=journal_url, check=True).stdout
    assert "9 of 82 dev images wrong" in out
    first = next(line for line in out.splitlines() if "fox" in line)
    assert "dog" in first and "7" in first and "77.8%" in first  # true fox, predicted dog: 7 of the 9 errors
    assert gallery.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"gallery of the 2 most confident mistakes written to {gallery}" in out

    as_json = json.loads(run_cli("report", "errs", "--mistakes", "--trial", "0", "--gallery", str(tmp_path / "t0.png"),
                                 "--format", "json", storage=journal_url, check=True).stdout)
    assert as_json["trial"] == 0 and as_json["pairs"][0] == {"true": 2, "predicted": 1, "count": 7, "share": 7 / 9}
    # The gallery's list lives beside the gallery in the artifact store, not in every trial's attributes.
    assert as_json["worst"] == WORST
    storage = open_storage(journal_url)
    trials = studies.load(storage, "errs").get_trials()
    assert all("mistakes" in t.user_attrs and "worst" not in t.user_attrs["mistakes"] for t in trials)

    # A trial recorded by an older hpsearch, its list in the attribute, still reads.
    older = {**trials[1].user_attrs["mistakes"], "worst": [{"index": 1, "true": 0, "predicted": 2, "confidence": 0.5}]}
    studies.load(storage, "errs").add_trial(optuna.trial.create_trial(value=0.5, user_attrs={"mistakes": older}))
    as_json = json.loads(run_cli("report", "errs", "--mistakes", "--trial", "2", "--format", "json",
                                 storage=journal_url, check=True).stdout)
    assert as_json["worst"] == older["worst"] and as_json["gallery"] is None


@pytest.mark.parametrize("args, message", [(["--mistakes", "--trial", "99"], "has no trial 99"),
                                           (["--trial", "0"], "--trial and --gallery go with --mistakes")])
def test_report_mistakes_errors_are_one_line(journal_url, args, message):
    run_cli("launch", "errs", "--trainer", "testing.doubles:with_mistakes", "--space", "small", "--trials", "1",
            "--epochs", "1", "--pruner", "none", "--workers", "1", storage=journal_url, check=True)
    proc = run_cli("report", "errs", *args, storage=journal_url)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1
