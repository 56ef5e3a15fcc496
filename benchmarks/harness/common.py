"""What every benchmark shares: the machine it ran on, medians and spreads, the JSON it writes."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Iterable

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # benchmarks/harness/ is two below
RESULTS = os.path.join(REPO, "benchmarks", "results")
QUICK_RESULTS = os.path.join(RESULTS, "quick")

# The Makefile says which target ran us, so BENCHMARKS.md can show the command a person typed.
ENV_COMMAND = "HPSEARCH_BENCH_COMMAND"


class _LoadTrack:
    """The machine's load from this invocation's start (every benchmark imports this module first) and
    through its runs: a one-minute load average sampled every SECONDS by a daemon thread."""

    SECONDS = 30.0

    def __init__(self):
        import threading

        self.at_start = [round(x, 2) for x in os.getloadavg()]
        self.samples: list[float] = [self.at_start[0]]
        threading.Thread(target=self._sample, name="load-average", daemon=True).start()

    def _sample(self) -> None:
        while True:
            time.sleep(self.SECONDS)
            self.samples.append(round(os.getloadavg()[0], 2))

    def record(self) -> dict[str, Any]:
        during = sorted(self.samples)
        return {"load_average_at_start": self.at_start,
                "load_during": {"every_seconds": self.SECONDS, "samples": len(during), "min": during[0],
                                "median": statistics.median(during), "max": during[-1]}}


_LOAD = _LoadTrack()


def results_dir(quick: bool) -> str:
    return QUICK_RESULTS if quick else RESULTS


def child_env(**extra: str) -> dict[str, str]:
    """The environment of every process a benchmark starts: the repo importable, TensorFlow quiet."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.pop("HPSEARCH_STORAGE", None)  # a benchmark never touches a user's studies
    env.update(extra)
    return env


def summary(values: Iterable[float | None]) -> dict[str, Any]:
    """Median and spread (min, max) of repeated measurements; None values (not reached) are counted apart."""
    values = list(values)
    known = [float(v) for v in values if v is not None]
    out: dict[str, Any] = {"n": len(values), "values": values}
    if known:
        out.update(median=statistics.median(known), min=min(known), max=max(known))
    else:
        out.update(median=None, min=None, max=None)
    missing = len(values) - len(known)
    if missing:
        out["missing"] = missing
    return out


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[str]:
    """Names of the NVIDIA GPUs nvidia-smi lists (empty without a driver)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def machine() -> dict[str, Any]:
    import psutil

    return {
        "host": socket.gethostname(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        **_LOAD.record(),
        "gpus": gpus(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": {d: _version(d) for d in ("tensorflow", "keras", "optuna", "keras-tuner", "jax", "numpy")
                     if _version(d)},
    }


def command_line(argv: list[str] | None = None) -> str:
    """The exact command that produced a result: what `make` or `benchmarks.run` recorded, else our own argv."""
    recorded = os.environ.get(ENV_COMMAND)
    if recorded:
        return recorded
    argv = sys.argv if argv is None else argv
    rel = os.path.relpath(os.path.abspath(argv[0]), REPO)
    module = rel[:-3].replace(os.sep, ".") if rel.endswith(".py") else rel
    return shlex.join(["python", "-m", module.removesuffix(".__main__"), *argv[1:]])


def write_result(name: str, quick: bool, body: dict[str, Any], *, started: float, path: str | None = None,
                 ran: int | None = None) -> str:
    """Write one benchmark's JSON: its numbers plus the machine, the date and the exact command.

    `ran`: how many runs this invocation made, for benchmarks that save their runs and reuse them.
    With 0 it only re-summarised saved runs (`--hours 0`, a report change): the result keeps the
    command, date, duration and machine state (its load) of the invocation that produced them, and
    records this one beside them.
    """
    doc = {
        "benchmark": name,
        "quick": quick,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": command_line(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine(),
        **body,
    }
    path = path or os.path.join(results_dir(quick), f"{name}.json")
    if ran == 0 and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        resummary = {"command": doc["command"], "date": doc["date"]}
        for key in ("command", "date", "seconds", "machine"):
            doc[key] = previous.get(key, doc[key])
        doc["resummarised"] = resummary
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1, default=_json_default)
    os.replace(path + ".tmp", path)
    return path


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
