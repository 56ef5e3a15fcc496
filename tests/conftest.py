"""Shared fixtures: one per real component (a throwaway PostgreSQL cluster, the digits data, the CLI)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from testing.postgres import MissingPostgres, PostgresCluster, drop_to_nobody, free_port, pg_bin

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A suite started in the background by a non-interactive shell (`make test &`, nohup, some CI
# runners) inherits SIGINT ignored, and so would every worker and dashboard it starts: the tests
# that stop them with SIGINT (Ctrl-C) would wait forever. A handled signal is reset to its default
# in the processes we start, so restoring Python's own handler here gives them a working Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def dataset_cache():
    """Decoded datasets (trainers.data.cache) go to a throwaway folder, never the user's ~/.cache/hpsearch;
    subprocesses inherit it through the environment."""
    root = tempfile.mkdtemp(prefix="hpsearch-cache-")
    old = os.environ.get("HPSEARCH_CACHE")
    os.environ["HPSEARCH_CACHE"] = root
    yield root
    if old is None:
        os.environ.pop("HPSEARCH_CACHE", None)
    else:
        os.environ["HPSEARCH_CACHE"] = old
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    root = tempfile.mkdtemp(prefix="hpsearch-pg-")
    os.chmod(root, 0o777)
    datadir = os.path.join(root, "data")
    cluster = PostgresCluster(datadir=datadir, port=free_port())
    pwfile = os.path.join(root, "pw")
    with open(pwfile, "w") as f:
        f.write(cluster.password)
    os.chmod(pwfile, 0o644)
    try:
        initdb = pg_bin("initdb")
    except MissingPostgres as exc:
        pytest.fail(str(exc))
    subprocess.run(
        [initdb, "-D", datadir, "-U", cluster.user, "--pwfile", pwfile, "-A", "scram-sha-256", "--no-sync"],
        check=True, capture_output=True, preexec_fn=drop_to_nobody,
    )
    cluster.start()
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


_db_counter = [0]


@pytest.fixture
def pg_url(postgres, request) -> str:
    """A fresh database on the throwaway cluster for one test."""
    _db_counter[0] += 1
    return postgres.create_database(f"t{_db_counter[0]}_{os.getpid()}")


@pytest.fixture
def journal_url(tmp_path) -> str:
    return f"journal:{tmp_path / 'studies.journal'}"


