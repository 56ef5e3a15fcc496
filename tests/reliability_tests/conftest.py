"""Fixtures for the reliability tests: a private PostgreSQL cluster (to stop and start at will)
and a recorder of what each fault did, which `make reliability` renders into docs/reliability.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import tempfile

import pytest

from testing.postgres import PostgresCluster, drop_to_nobody, free_port, pg_bin

RESULTS = os.environ.get("HPSEARCH_RELIABILITY_OUT", os.path.join(os.path.dirname(__file__), "..", "..", "test-artifacts", "reliability.json"))
STORAGES = ("PostgreSQL", "embedded journal")

_rows: list[dict] = []  # every row recorded, with the test that recorded it
_outcomes: dict[str, str] = {}  # test id -> passed / failed / skipped
_started = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "load_average": os.getloadavg()}


@pytest.fixture
def record(request):
    """record(fault, outcome, figure="", storage=...) adds one row to the reliability table.

    `storage` names what the test ran on (one of STORAGES). A row only reaches docs/reliability.md
    when its test passed: a test that fails after recording leaves a failure line instead.
    """

    def add(fault: str, outcome: str, figure: str = "", *, storage: str) -> None:
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
        _rows.append({"test": request.node.nodeid, "fault": fault, "outcome": outcome, "figure": figure, "storage": storage})

    return add


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    # A failure in any phase wins; a passed call is what makes a test pass.
    if report.failed:
        _outcomes[item.nodeid] = "failed"
    elif report.skipped and item.nodeid not in _outcomes:
        _outcomes[item.nodeid] = "skipped"
    elif report.when == "call" and report.passed and _outcomes.get(item.nodeid) != "failed":
        _outcomes[item.nodeid] = "passed"


def pytest_sessionfinish(session, exitstatus):
    if not _outcomes:
        return
    doc = {
        "measured": {
            **_started,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
            "cores": len(os.sched_getaffinity(0)),
            "machine": platform.machine(),
            "python": platform.python_version(),
        },
        "tests": _outcomes,
        "rows": [dict(row, passed=_outcomes.get(row["test"]) == "passed") for row in _rows],
    }
    os.makedirs(os.path.dirname(os.path.abspath(RESULTS)), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump(doc, f, indent=2)


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
                    "-A", "scram-sha-256", "--no-sync"], check=True, capture_output=True, preexec_fn=drop_to_nobody)
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)
