"""Shared fixtures: one per real component (a throwaway PostgreSQL cluster, the digits data, the CLI)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
HPSEARCH = os.path.join(VENV_BIN, "hpsearch")

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# A suite started in the background by a non-interactive shell (`make test &`, nohup, some CI
# runners) inherits SIGINT ignored, and so would every worker and dashboard it starts: the tests
# that stop them with SIGINT (Ctrl-C) would wait forever. A handled signal is reset to its default
# in the processes we start, so restoring Python's own handler here gives them a working Ctrl-C.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        pytest.fail("PostgreSQL server binaries not found: `make test` installs them (apt-get install postgresql)")
    return candidates[-1]


@dataclass
class PostgresCluster:
    """A real PostgreSQL server in a temp dir, on a free loopback port, with a password user."""

    datadir: str
    port: int
    user: str = "hpsearch"
    password: str = "s3cr{et}@p:ss%w/rd"  # every character that breaks naive URL handling
    _proc: subprocess.Popen | None = None

    def url(self, db: str = "postgres", raw_password: bool = False) -> str:
        import urllib.parse

        pw = self.password if raw_password else urllib.parse.quote(self.password, safe="")
        return f"postgresql://{self.user}:{pw}@127.0.0.1:{self.port}/{db}"

    def _run_as_owner(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(args, check=True, capture_output=True, text=True, preexec_fn=_drop_to_nobody, **kw)

    def start(self) -> None:
        log = open(os.path.join(self.datadir, "..", "server.log"), "a")
        self._proc = subprocess.Popen(
            [pg_bin("postgres"), "-D", self.datadir, "-p", str(self.port), "-k", self.datadir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300",
             "-c", "shared_buffers=64MB"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=_drop_to_nobody,
        )
        from tests.search_tests.helpers import wait_for

        def ready() -> bool:
            return subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True).returncode == 0

        try:
            wait_for(ready, "PostgreSQL to accept connections", watch=[self._proc], poll=0.2)
        except AssertionError as exc:
            raise RuntimeError(f"PostgreSQL did not start ({exc}); see server.log") from None

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # fast shutdown
            self._proc.wait(30)
        self._proc = None

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)


def _drop_to_nobody() -> None:
    """PostgreSQL refuses to run as root; CI runs as root."""
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)


@pytest.fixture(scope="session", autouse=True)
def dataset_cache():
    """Decoded datasets (trainers.datacache) go to a throwaway folder, never the user's ~/.cache/hpsearch;
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
    subprocess.run(
        [pg_bin("initdb"), "-D", datadir, "-U", cluster.user, "--pwfile", pwfile, "-A", "scram-sha-256", "--no-sync"],
        check=True, capture_output=True, preexec_fn=_drop_to_nobody,
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


def cli_env(storage: str | None = None, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HPSEARCH_STORAGE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["HPSEARCH_HEARTBEAT"] = "1"
    if storage:
        env["HPSEARCH_STORAGE"] = storage
    env.update(extra)
    return env


def run_cli(*args: str, storage: str | None = None, timeout: float = 600, check: bool = False, **env) -> subprocess.CompletedProcess:
    """Run the installed `hpsearch` console command, as a user would (the timeout only catches a hang)."""
    proc = subprocess.run([HPSEARCH, *args], env=cli_env(storage, **env), capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"hpsearch {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def start_worker(storage: str, *args: str, log_path: str | None = None, flags=(), **env) -> subprocess.Popen:
    """`hpsearch [flags] worker [args]` in the background, its output in `log_path`."""
    out = open(log_path, "w") if log_path else subprocess.DEVNULL
    return subprocess.Popen([HPSEARCH, *flags, "worker", *args], env=cli_env(storage, **env), stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


@contextlib.contextmanager
def serve_dashboard(storage: str, *args: str):
    """Run `hpsearch dashboard` as a user does, on a free port; yield (process, base URL) once it answers.

    On exit it is stopped with SIGINT (Ctrl-C) and its output is left in `process.output`.
    """
    port = free_port()
    proc = subprocess.Popen([HPSEARCH, "dashboard", *args, "--port", str(port)], env=cli_env(storage),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    answered = False
    try:
        from tests.search_tests.helpers import wait_for

        def answers() -> bool:
            try:
                urllib.request.urlopen(f"{base}/api/studies", timeout=5).read()
                return True
            except OSError:
                return False

        try:
            answered = wait_for(answers, "the dashboard to answer", watch=[proc], poll=0.3)
        except AssertionError:
            pass  # reported below, with the dashboard's output
        if answered:
            yield proc, base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        proc.output = proc.communicate(timeout=60)[0]
    if not answered:
        raise AssertionError(f"hpsearch dashboard did not answer on {base}:\n{proc.output}")
