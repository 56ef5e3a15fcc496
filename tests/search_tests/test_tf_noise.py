"""TensorFlow's start-up lines stay out of worker logs; real errors, crashes and `-v` output stay in."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from optuna.trial import TrialState

from testing.cli import REPO, run_cli, start_worker
from tests.search_tests.helpers import trials_of
from testing.waiting import HANG_GUARD

# As TensorFlow 2.21 writes them on a host without a GPU (copied from a worker log).
NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796621541.212932    4949 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1796621541.213359    4949 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.",
]
CUINIT = ("E0000 00:00:1796621549.003963    4950 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          "Failed call to cuInit: UNKNOWN ERROR (303)")
REAL = [
    "E0000 00:00:1796621549.1 4950 bfc_allocator.cc:291] Allocator (GPU_0_bfc) ran out of memory trying to allocate 2.0GiB",
    "Traceback (most recent call last):",
]


def _run_child(gpu_host: bool, end: str) -> subprocess.CompletedProcess:
    """A process that installs the filter, writes NOISE + CUINIT + REAL to fd 2, then ends as `end` says."""
    lines = NOISE + [CUINIT] + REAL
    code = textwrap.dedent(f"""
        import os, signal
        from search.service.tf_noise import filter_stderr
        assert filter_stderr(gpu_host={gpu_host})
        for line in {lines!r}:
            os.write(2, (line + "\\n").encode())
        os.write(2, b"last words, no newline")
        if {end!r} == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {"PYTHONPATH": REPO, "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("end", ["exits", "killed"])
def test_the_filter_drops_start_up_noise_and_keeps_real_errors_even_from_a_killed_process(end):
    proc = _run_child(gpu_host=False, end=end)
    assert proc.returncode == (-signal.SIGKILL if end == "killed" else 0)
    for line in NOISE + [CUINIT]:
        assert line not in proc.stderr
    for line in REAL:
        assert line in proc.stderr
    assert proc.stderr.splitlines()[-1] == "last words, no newline"  # a partial last line too


def test_a_cuinit_failure_stays_visible_on_a_host_with_a_gpu():
    proc = _run_child(gpu_host=True, end="exits")
    assert CUINIT in proc.stderr
    assert not any(line in proc.stderr for line in NOISE)


@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_a_real_worker_log_on_a_cpu_host_has_no_tensorflow_start_up_lines(journal_url, tmp_path, verbose):
    run_cli("launch", "quiet", "--space", "small", "--weights", "none", "--trials", "1", "--epochs", "1",
            "--pruner", "none", storage=journal_url, check=True)
    log_path = tmp_path / "worker.log"
    flags = ["-v"] if verbose else []
    worker = start_worker(journal_url, "--study", "quiet", "--idle-exit", "3", log_path=str(log_path), flags=flags)
    assert worker.wait(HANG_GUARD) == 0, log_path.read_text()
    assert [t.state for t in trials_of(journal_url, "quiet")] == [TrialState.COMPLETE]
    log = log_path.read_text()
    assert "[study=quiet trial=0] epoch 1/1" in log
    # TensorFlow was imported (the trial trained); with -v its lines are there, without they are not.
    assert ("oneDNN custom operations" in log) == verbose, log
    assert ("absl::InitializeLog" in log) == verbose, log
