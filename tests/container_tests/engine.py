"""A private Docker engine for the container tests: its own data root, exec root, socket and pidfile.

The data root lives in a cache folder (`$HPSEARCH_CI_CACHE`, default `~/.cache/hpsearch-ci`) so base
images and build layers survive between runs; everything that names a running daemon (socket,
exec root, pidfile) lives in a fresh temp folder, so a crashed run leaves nothing a new one trips
on. One run at a time per cache folder (a lock file), since two daemons cannot share a data root.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

CACHE = os.path.expanduser(os.environ.get("HPSEARCH_CI_CACHE", "~/.cache/hpsearch-ci"))


class EngineError(RuntimeError):
    pass


def docker_cli() -> str:
    """The docker CLI (Debian's docker.io when nothing else is on PATH)."""
    found = shutil.which("docker") or ("/usr/bin/docker" if os.path.exists("/usr/bin/docker") else None)
    if not found:
        raise EngineError("no docker CLI: `make test-containers` installs docker.io")
    return found


class Dockerd:
    """dockerd as a child process; `with Dockerd() as d:` starts it and always stops it."""

    def __init__(self, cache: str = CACHE):
        self.cache = cache
        self.data_root = os.path.join(cache, "docker")
        self.log_path = os.path.join(cache, "dockerd.log")
        self.proc: subprocess.Popen | None = None
        self._lock = None
        self._run_dir = ""

    @property
    def host(self) -> str:
        return f"unix://{self._run_dir}/docker.sock"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for docker and compose commands aimed at this engine only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "COMPOSE_"))}
        return {**env, "DOCKER_HOST": self.host, "DOCKER_CONFIG": os.path.join(self._run_dir, "config"), **extra}

    def start(self, timeout: float = 120) -> "Dockerd":
        if os.geteuid() != 0:
            raise EngineError("dockerd needs root: run `make test-containers` as root")
        if not shutil.which("dockerd"):
            raise EngineError("dockerd not found: `make test-containers` installs docker.io")
        os.makedirs(self.data_root, exist_ok=True)
        self._lock = open(os.path.join(self.cache, "lock"), "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise EngineError(f"another container test run uses {self.cache}; wait for it or set HPSEARCH_CI_CACHE") from None
        # Short: unix socket paths are limited to 108 bytes, and containerd nests its own under it.
        self._run_dir = tempfile.mkdtemp(prefix="hpsci-", dir="/tmp")
        os.makedirs(os.path.join(self._run_dir, "config"))
        argv = ["dockerd", "--data-root", self.data_root, "--exec-root", os.path.join(self._run_dir, "exec"),
                "-H", self.host, "--pidfile", os.path.join(self._run_dir, "dockerd.pid")]
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise EngineError(f"dockerd exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.docker("version", check=False).returncode == 0:
                return self
            time.sleep(0.5)
        self.stop()
        raise EngineError(f"dockerd did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM (dockerd stops its containers and its containerd), SIGKILL after `timeout`."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self._run_dir:
            shutil.rmtree(self._run_dir, ignore_errors=True)
        if self._lock:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> "Dockerd":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log_tail(self, lines: int = 30) -> str:
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def docker(self, *args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
        run = subprocess.run([docker_cli(), *args], env=self.env(), capture_output=True, text=True, timeout=timeout, **kw)
        if check and run.returncode != 0:
            raise EngineError(f"docker {' '.join(args)} exited {run.returncode}:\n{run.stdout[-3000:]}{run.stderr[-3000:]}")
        return run

    def inspect(self, kind: str, name: str) -> dict | None:
        """`docker KIND inspect NAME` as a dict, or None when there is no such object."""
        run = self.docker(kind, "inspect", name, check=False)
        return json.loads(run.stdout)[0] if run.returncode == 0 else None

    def has_image(self, ref: str) -> bool:
        return self.inspect("image", ref) is not None
