"""`python -m benchmarks.gpu [--quick] [--out FILE]`: throughput per model and precision, then a short study.

Each part runs in its own child process: JAX (and TensorFlow) keep the GPU memory they took until
their process ends, and the study's trial processes need it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks.harness.common import REPO, child_env, log, write_result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, and no GPU needed: checks the script only")
    parser.add_argument("--part", choices=["throughput", "study"], help=argparse.SUPPRESS)
    parser.add_argument("--part-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from benchmarks.gpu import select_backend

    backend = select_backend()
    if args.part:
        if args.part == "throughput":
            from benchmarks.gpu import throughput

            def save(partial):
                with open(args.part_out, "w", encoding="utf-8") as f:
                    json.dump(partial, f)

            result = throughput.run(args.quick, log=log, smoke=args.smoke, save=save)
        else:
            from benchmarks.gpu import study

            result = study.run(args.quick, log=log)
        with open(args.part_out, "w", encoding="utf-8") as f:
            json.dump(result, f)
        return 0

    from benchmarks.harness.common import gpus

    if not gpus() and not args.smoke:
        log("gpu: no NVIDIA GPU here (nvidia-smi lists none); skipped. BENCHMARKS.md keeps the last GPU results.")
        return 0
    started = time.monotonic()
    body = {"backend": backend}
    for part in ("throughput", "study"):
        # Beside --out when given, so that a run cut short still leaves what its parts measured.
        folder = os.path.dirname(os.path.abspath(args.out)) if args.out else tempfile.mkdtemp(prefix="hpsearch-bench-gpu-")
        out = os.path.join(folder, f"gpu-{part}.json")
        cmd = [sys.executable, "-m", "benchmarks.gpu", "--part", part, "--part-out", out] + (["--quick"] if args.quick else []) + (["--smoke"] if args.smoke else [])
        proc = subprocess.run(cmd, env=child_env(KERAS_BACKEND=backend), cwd=REPO)
        if os.path.exists(out):  # a part cut short leaves what it measured
            with open(out, encoding="utf-8") as f:
                body[part] = json.load(f)
        else:
            body[part] = {"error": f"exit code {proc.returncode}"}
        if proc.returncode != 0:
            body[part]["exit_code"] = proc.returncode
    notes = []
    if backend == "jax":
        notes.append("No TensorFlow on this machine: Keras ran on JAX, where every step is compiled by XLA, so "
                     "'mixed precision without XLA' cannot be measured and float32 includes XLA.")
    body["notes"] = notes
    path = write_result("gpu", args.quick, body, started=started, path=args.out)
    log(f"gpu: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
