"""The dashboard explains every trial: attrs and a note per trial, figures and a note per study, served by
optuna-dashboard's own API and drawn in a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from testing.cli import REPO, run_cli, serve_dashboard
from optuna.trial import TrialState

from search.analysis import figures, report
from search.core.spec import StudySpec, read_spec
from search.core.storage import open_storage
from search.service import studies

ARTIFACTS = os.path.join(REPO, "test-artifacts")
DIGITS_TITLES = [figures.TITLES[k] for k in ("hpsearch-decomposition", "hpsearch-bias-variance", "hpsearch-learning-curves",
                                              "hpsearch-regularization", "hpsearch-limits")]
TRIAL_ATTRS = ("human_error", "train_error", "train_dev_error", "dev_error", "avoidable_bias", "variance",
               "data_mismatch", "dev_overfitting", "dominant_problem", "curves")


# ---- helpers ------------------------------------------------------------------------------------
def api_get(app, path: str) -> dict:
    """Call optuna-dashboard's WSGI app in-process (no port) and decode its JSON answer."""
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    status = []
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200"), (path, status, body[:300])
    return json.loads(body)


def study_detail(storage_url: str, name: str) -> tuple[int, dict]:
    from optuna_dashboard import wsgi

    app = wsgi(open_storage(storage_url).optuna)
    summaries = api_get(app, "/api/studies")["study_summaries"]
    study_id = next(s["study_id"] for s in summaries if s["study_name"] == name)
    return study_id, api_get(app, f"/api/studies/{study_id}")


def chromium(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("Chromium not found: `make test` installs it (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="hpsearch-chromium-")
    try:
        return subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=15000", *args],
            capture_output=True, text=True, timeout=timeout,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)


# ---- a real study on digits, shared by the slow tests ------------------------------------------------
@pytest.fixture(scope="module")
def digits_study(tmp_path_factory):
    url = f"journal:{tmp_path_factory.mktemp('dash') / 'studies.journal'}"
    run_cli("launch", "digits-dash", "--dataset", "digits", "--space", "small", "--trials", "4", "--epochs", "2",
            "--pruner", "none", "--weights", "none", "--workers", "1", "--human-error", "0.01", "--max-latency-ms", "100",
            "--log-dir", str(tmp_path_factory.mktemp("logs")), storage=url, check=True, timeout=900)
    return url, "digits-dash"


@pytest.fixture(scope="module")
def dashboard_url(digits_study):
    """The page a user opens: `hpsearch dashboard` on the study's storage."""
    with serve_dashboard(digits_study[0]) as (_, base):
        yield base


@pytest.mark.slow
def test_every_finished_trial_has_the_decomposition_and_a_note(digits_study):
    url, name = digits_study
    study = studies.load(open_storage(url), name)
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 4
    _, detail = study_detail(url, name)
    notes = {t["number"]: t["note"]["body"] for t in detail["trials"]}
    for t in finished:
        a = t.user_attrs
        for key in TRIAL_ATTRS:
            assert key in a, (t.number, key)
        assert a["human_error"] == 0.01
        assert a["avoidable_bias"] == pytest.approx(a["train_error"] - 0.01)
        assert a["variance"] == pytest.approx(a["train_dev_error"] - a["train_error"])
        assert a["data_mismatch"] == pytest.approx(a["dev_error"] - a["train_dev_error"])
        assert a["dev_overfitting"] == pytest.approx(a["test_error"] - a["dev_error"])
        assert a["dominant_problem"] in ("bias", "variance", "data mismatch", "dev overfitting", "none")
        for curve in ("train_error", "train_dev_error", "dev_error"):
            assert len(a["curves"][curve]) == a["epochs_run"] == 2
        assert a["curves"]["dev_error"][-1] == pytest.approx(a["dev_error"])
        # The limit is recorded as measured minus limit (feasible iff <= 0), whatever the machine's speed.
        assert a["constraints"]["latency_ms"] == pytest.approx(a["latency_ms"] - 100)
        assert a["feasible"] is (a["latency_ms"] <= 100)
        note = notes[t.number]
        assert note.startswith(f"## Trial {t.number}: {a['dominant_problem']}")
        assert "| train-dev |" in note and "### Next steps" in note and "inference mode" in note
        assert ("Dominant problem: " + a["dominant_problem"]) in note or "No dominant problem" in note


@pytest.mark.slow
def test_dashboard_api_serves_the_figures_and_the_study_note(digits_study):
    url, name = digits_study
    _, detail = study_detail(url, name)
    objects = {g["id"]: json.loads(g["graph_object"]) for g in detail["plotly_graph_objects"]}
    assert set(objects) == set(figures.TITLES)
    for figure_id, fig in objects.items():
        assert fig["layout"]["title"]["text"] == figures.TITLES[figure_id]
        assert fig["data"], figure_id
    bars = objects["hpsearch-decomposition"]
    assert [trace["name"] for trace in bars["data"]][:3] == ["human-level error", "avoidable bias", "variance"]
    assert len(bars["data"][0]["x"]) == 4  # the best trials (every one here)
    assert sum(len(trace["x"]) for trace in objects["hpsearch-bias-variance"]["data"]) == 4  # every trial
    note = detail["note"]["body"]
    assert note.startswith("## Error analysis of digits-dash")
    assert "### The best trials" in note and "### Where to look next" in note and report.NOTE_MARKER in note


@pytest.mark.slow
def test_study_page_shows_the_figures_in_chromium(digits_study, dashboard_url):
    url, name = digits_study
    study_id, _ = study_detail(url, name)
    page = f"{dashboard_url}/dashboard/studies/{study_id}"
    dom = chromium("--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for title in DIGITS_TITLES:
        assert title in dom.stdout, f"{title!r} not drawn on {page}"
    assert "Best Trial" in dom.stdout  # the dashboard's own cards render beside ours
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "dashboard-study-page.png")
    if os.path.exists(shot):
        os.remove(shot)
    proc = chromium(f"--screenshot={shot}", "--window-size=1400,2400", page)
    assert proc.returncode == 0 and os.path.getsize(shot) > 50_000, proc.stderr[-2000:]


@pytest.mark.slow
def test_trial_page_shows_the_confusion_matrix_and_the_worst_mistakes_in_its_note(digits_study, dashboard_url):
    """The note embeds the trial's images (its artifacts); the dashboard serves them and Chromium draws them."""
    url, name = digits_study
    study_id, detail = study_detail(url, name)
    trial = next(t for t in detail["trials"] if t["state"] == "Complete")
    note = trial["note"]["body"]
    assert "### Mistakes on dev" in note and "| true | predicted | count | share of errors |" in note
    images = dict(re.findall(r"!\[([a-z ]+)\]\((/artifacts/\d+/\d+/[0-9a-f-]+)\)", note))
    assert set(images) == {"confusion matrix", "most confident mistakes"}
    for path in images.values():
        assert urllib.request.urlopen(dashboard_url + path, timeout=30).read(8) == b"\x89PNG\r\n\x1a\n"
    page = f"{dashboard_url}/dashboard/studies/{study_id}/trials?numbers={trial['number']}"
    dom = chromium("--dump-dom", page)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for alt, path in images.items():
        assert f'alt="{alt}"' in dom.stdout and f'src="{path}"' in dom.stdout, f"{alt} not drawn on {page}"


# ---- fast: test-double studies ---------------------------------------------------------------------
def test_a_pruned_trial_is_explained_at_the_epoch_it_stopped(journal_url):
    run_cli("launch", "pruned", "--space", "small", "--trials", "4", "--epochs", "4", "--pruner", "median", "--weights", "none",
            "--trainer", "testing.doubles:overfitting", "--no-portfolio", storage=journal_url, check=True)
    study = studies.load(open_storage(journal_url), "pruned")
    for dropout in (0.5, 0.5, 0.5, 0.0):  # the last one is far worse than the median: pruned
        study.enqueue_trial({"dropout": dropout})
    run_cli("worker", "--study", "pruned", "--idle-exit", "20", storage=journal_url, check=True)
    study = studies.load(open_storage(journal_url), "pruned")
    (pruned,) = study.get_trials(states=(TrialState.PRUNED,))
    a = pruned.user_attrs
    stopped = a["epochs_run"]
    assert 1 <= stopped < 4 and a["stop_reason"] == f"pruned at epoch {stopped}"
    assert len(a["curves"]["dev_error"]) == stopped
    assert a["dev_error"] == a["curves"]["dev_error"][-1] and a["train_error"] == a["curves"]["train_error"][-1]
    assert a["variance"] == pytest.approx(a["train_dev_error"] - a["train_error"])
    # Early on, the double is still learning (train error 0.01 + 0.2 (1 - epoch / 4)): bias dominates then.
    assert a["avoidable_bias"] == pytest.approx(0.01 + 0.2 * (1 - stopped / 4))
    # The pruned trial has dropout 0: variance 0.12; bias wins only while it is larger (epoch 1).
    expected = "bias" if a["avoidable_bias"] > 0.12 else "variance"
    assert a["variance"] == pytest.approx(0.12)
    assert a["dominant_problem"] == expected
    assert "test_error" not in a and a["dev_overfitting"] is None
    _, detail = study_detail(journal_url, "pruned")
    note = next(t["note"]["body"] for t in detail["trials"] if t["number"] == pruned.number)
    assert f"from epoch {stopped}, where it stopped" in note and "no test error" in note
    assert note.startswith(f"## Trial {pruned.number}: {expected}")
    assert ("the small CNN has depth" if expected == "bias" else "dropout is 0.00") in note


def test_concurrent_refreshes_leave_every_figure_whole(journal_url, tmp_path):
    run_cli("launch", "many", "--space", "small", "--trials", "5", "--epochs", "2", "--pruner", "none", "--weights", "none",
            "--trainer", "testing.doubles:sized", "--max-params", "60000", "--workers", "1", "--log-dir", str(tmp_path / "logs"),
            storage=journal_url, check=True)
    storage = open_storage(journal_url)
    study = studies.load(storage, "many")
    spec = read_spec(study)
    results = []

    def writer():
        mine = studies.load(open_storage(journal_url), "many")
        for _ in range(3):
            results.append(figures.refresh(mine, spec, lock=lambda: storage.lock("figures:many")))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True] * 12
    _, detail = study_detail(journal_url, "many")
    objects = {g["id"]: json.loads(g["graph_object"]) for g in detail["plotly_graph_objects"]}  # every one parses
    assert set(objects) == set(figures.TITLES) - {"hpsearch-confusions"}  # this double measures no mistakes
    limits = objects["hpsearch-limits"]
    assert "limit 60000" in json.dumps(limits["layout"])
    assert detail["note"]["body"].count(report.NOTE_MARKER) == 1


@pytest.mark.postgres
def test_workers_on_postgresql_write_figures_and_notes(pg_url, tmp_path):
    # Two workers: figure writes are serialised by a PostgreSQL advisory lock.
    run_cli("launch", "pg", "--space", "small", "--trials", "6", "--epochs", "2", "--pruner", "none", "--weights", "none",
            "--trainer", "testing.doubles:overfitting", "--workers", "2", "--log-dir", str(tmp_path / "logs"),
            storage=pg_url, check=True)
    _, detail = study_detail(pg_url, "pg")
    objects = {g["id"]: json.loads(g["graph_object"]) for g in detail["plotly_graph_objects"]}
    assert set(objects) == set(figures.TITLES) - {"hpsearch-limits", "hpsearch-confusions"}  # no limits, no mistakes
    assert sum(len(t["x"]) for t in objects["hpsearch-bias-variance"]["data"]) == 6
    assert all(t["note"]["body"].startswith(f"## Trial {t['number']}: ") for t in detail["trials"])
    assert "6 trials measured" in detail["note"]["body"]


def test_a_figure_failure_never_fails_the_worker(monkeypatch, caplog):
    study = optuna.create_study(study_name="broken")
    spec = StudySpec()

    def explode(*args, **kwargs):
        raise RuntimeError("plotly is unhappy")

    monkeypatch.setattr(figures, "build", explode)
    assert figures.refresh(study, spec) is False
    assert "dashboard figures not refreshed: RuntimeError: plotly is unhappy" in caplog.text


def test_user_notes_below_the_marker_survive_a_rewrite():
    first = report.with_user_notes("## generated v1\n", "")
    edited = first + "my own observation\n"
    second = report.with_user_notes("## generated v2\n", edited)
    assert second.startswith("## generated v2") and second.endswith("my own observation\n")
    assert "v1" not in second and second.count(report.NOTE_MARKER) == 1
