"""Fixtures for the reliability tests: a private PostgreSQL cluster (to stop and start at will)
and a recorder of what each fault did, which `make reliability` renders into docs/reliability.md."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile

import pytest

from tests.conftest import PostgresCluster, _drop_to_nobody, free_port, pg_bin

RESULTS = os.environ.get("HPSEARCH_RELIABILITY_OUT", os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts", "reliability.json"))
_rows: list[dict] = []


@pytest.fixture
def record():
    """record(fault=..., outcome=..., figure=...) adds one row to the reliability table."""

    def add(fault: str, outcome: str, figure: str = "") -> None:
        _rows.append({"fault": fault, "outcome": outcome, "figure": figure})

    return add


def pytest_sessionfinish(session, exitstatus):
    if not _rows:
        return
    os.makedirs(os.path.dirname(os.path.abspath(RESULTS)), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(_rows, f, indent=2)


@pytest.fixture
def own_postgres():
    """A cluster of this test's own, so that stopping it harms no other test."""
    root = tempfile.mkdtemp(prefix="hpsearch-pg-own-")
    os.chmod(root, 0o777)
    cluster = PostgresCluster(datadir=os.path.join(root, "data"), port=free_port())
    pwfile = os.path.join(root, "pw")
    with open(pwfile, "w") as f:
        f.write(cluster.password)
    os.chmod(pwfile, 0o644)
    subprocess.run([pg_bin("initdb"), "-D", cluster.datadir, "-U", cluster.user, "--pwfile", pwfile,
                    "-A", "scram-sha-256", "--no-sync"], check=True, capture_output=True, preexec_fn=_drop_to_nobody)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)
