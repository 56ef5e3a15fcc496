"""Fixtures of the container tests (`make test-containers` only; `make test` leaves this folder out):
a private dockerd, the stand-in base images, the real image built by Compose, and a project folder."""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
import time

import pytest

from engine import Dockerd
from stack import HOST_GID, HOST_UID, IMAGE, NUMBERS, PASSWORD, Stack, make_project, record
from standins import ensure_standins

HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_configure(config):
    config.addinivalue_line("markers", "containers: builds the image and runs docker compose (make test-containers)")


def pytest_collection_modifyitems(config, items):
    """Marked `containers`; skipped unless `make test-containers` asked for them (root, a dockerd,
    a 7 GB image: not for `make test`)."""
    wanted = os.environ.get("HPSEARCH_CONTAINER_TESTS") == "1"
    skip = pytest.mark.skip(reason="container test: run `make test-containers`")
    for item in items:
        if str(item.path).startswith(HERE + os.sep):
            item.add_marker("containers")
            if not wanted:
                item.add_marker(skip)


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def engine():
    # SIGTERM (CI's timeout, `kill`) must unwind through the fixtures too, or the daemon outlives us.
    signal.signal(signal.SIGTERM, _interrupt)
    with Dockerd() as d:
        try:
            yield d
        finally:
            # Untagged leftovers of earlier builds; the build cache stays for the next run.
            d.docker("image", "prune", "-f", check=False)


@pytest.fixture(scope="session")
def standins(engine):
    started = time.monotonic()
    tags = ensure_standins(engine)
    record(standins_seconds=round(time.monotonic() - started, 1))
    return tags


@pytest.fixture(scope="session")
def stack(engine, standins):
    """The project folder, the image built by `docker compose build`, the stack torn down after."""
    root = make_project(os.path.join(tempfile.mkdtemp(prefix="hpsci-project-"), "hpsearch"),
                        password=PASSWORD, host_uid=HOST_UID, host_gid=HOST_GID)
    from testing.postgres import free_port

    s = Stack(engine, root, IMAGE, dashboard_port=free_port())
    s.compose("--profile", "cpu", "--profile", "cli", "down", "-v", "--remove-orphans", check=False)  # a crashed run's
    started = time.monotonic()
    built = s.compose("--progress", "plain", "build", "init", timeout=1800)
    seconds = time.monotonic() - started
    steps = re.findall(r"^#\d+ \[init\s+\d+/\d+\]", built.stdout + built.stderr, re.M)
    cached = re.findall(r"^#\d+ CACHED", built.stdout + built.stderr, re.M)
    size = engine.inspect("image", IMAGE)["Size"]
    record(build_seconds=round(seconds, 1), build_steps=len(set(steps)), build_steps_cached=len(cached),
           image_bytes=size, image_gb=round(size / 1e9, 2))
    try:
        yield s
    finally:
        with open(os.path.join(os.path.dirname(NUMBERS), "containers-compose.log"), "w") as f:
            f.write(s.logs())
        s.compose("--profile", "cpu", "--profile", "cli", "down", "-v", "--remove-orphans", "-t", "30", check=False)
        shutil.rmtree(os.path.dirname(root), ignore_errors=True)
