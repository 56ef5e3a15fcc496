"""The database password never shows; the dashboard is local unless told otherwise, and says why."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import optuna
import pytest

from search.core.storage import open_storage
from testing.cli import run_cli, serve_dashboard, start_worker

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PACED = ["--trainer", "testing.doubles_faults:paced", "--space", "small", "--weights", "none", "--pruner", "none"]


def test_the_password_never_appears(postgres, pg_url, tmp_path, record):
    secrets = {postgres.password, urllib.parse.quote(postgres.password, safe=""), "s3cr"}
    raw_url = pg_url.replace(urllib.parse.quote(postgres.password, safe=""), postgres.password)  # raw specials accepted
    texts = []
    for url in (pg_url, raw_url):
        name = "raw" if url == raw_url else "quoted"
        proc = run_cli("launch", name, *PACED, "--trials", "2", "--epochs", "2", "--workers", "1",
                       "--log-dir", str(tmp_path / "logs"), storage=url)
        assert proc.returncode == 0, proc.stderr
        texts += [proc.stdout, proc.stderr]
    log = tmp_path / "worker.log"
    worker = start_worker(pg_url, "--idle-exit", "2", log_path=str(log))
    assert worker.wait(60) == 0
    for args in (["status"], ["status", "raw", "--format", "json"], ["report", "raw"], ["export", "raw", "-o", str(tmp_path / "best.yaml")],
                 ["-v", "status"], ["worker", "--study", "quoted", "--idle-exit", "1"]):
        proc = run_cli(*args, storage=pg_url)
        assert proc.returncode == 0, (args, proc.stderr)
        texts += [proc.stdout, proc.stderr]
    # Errors that show the URL: a wrong database name, and a refused connection.
    for url in (pg_url.rsplit("/", 1)[0] + "/nosuchdb", pg_url.replace(f":{postgres.port}/", ":9/")):
        proc = run_cli("status", storage=url)
        assert proc.returncode != 0
        texts += [proc.stdout, proc.stderr]
    texts += [p.read_text() for p in (tmp_path / "logs").iterdir()] + [log.read_text(), (tmp_path / "best.yaml").read_text()]
    # Everything stored: study and trial attrs, system attrs included.
    storage = open_storage(pg_url)
    for s in storage.optuna.get_all_studies():
        study = optuna.load_study(study_name=s.study_name, storage=storage.optuna)
        texts.append(json.dumps([s.user_attrs, s.system_attrs], default=str))
        for t in study.get_trials(deepcopy=False):
            texts.append(json.dumps([t.user_attrs, t.system_attrs, t.params], default=str))
    joined = "\n".join(texts)
    assert "***" in joined  # the URL was shown, masked
    for secret in secrets:
        assert secret not in joined
    record("the database password (with { } @ : % / in it, raw or percent-encoded)",
           f"absent from {len(texts)} outputs, logs, errors, the exported file and every stored attr; shown as ***",
           storage="PostgreSQL")


def _listening_addresses(pid: int, port: int) -> set[str]:
    import psutil

    found = set()
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                found.add(conn.laddr.ip)
    return found


def _serve_dashboard(url: str, *host_args: str) -> tuple[set[str], str]:
    """Start `hpsearch dashboard`, wait for it to answer; return its listening addresses and output."""
    with serve_dashboard(url, *host_args) as (proc, base):
        addresses = _listening_addresses(proc.pid, int(base.rsplit(":", 1)[1]))
    return addresses, proc.output


def test_dashboard_binds_to_loopback_and_warns_when_exposed(pg_url, record):
    addresses, _ = _serve_dashboard(pg_url)
    assert addresses == {"127.0.0.1"}
    addresses, out = _serve_dashboard(pg_url, "--host", "0.0.0.0")
    assert addresses == {"0.0.0.0"}
    assert "has no authentication" in out
    record("hpsearch dashboard (default) and --host 0.0.0.0",
           "binds 127.0.0.1 by default; 0.0.0.0 binds all addresses and warns that it has no authentication",
           storage="PostgreSQL")
