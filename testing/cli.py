"""The `hpsearch` console command as a user runs it: in a subprocess, with the repository on the path.

Tests and benchmarks start the CLI, workers and the dashboard through these, so trainer doubles
(`testing.doubles`, `testing.doubles_faults`) named by `--trainer` import in the trial processes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import urllib.request

from testing.postgres import free_port
from testing.waiting import wait_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.dirname(sys.executable)
HPSEARCH = os.path.join(VENV_BIN, "hpsearch")


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
