"""`python -m benchmarks.run [--quick] [--only NAME ...]`: run the benchmarks, then render BENCHMARKS.md.

Each benchmark runs in its own child process, one after another on this machine (the same
process tree), and writes its JSON under benchmarks/results/ (benchmarks/results/quick/ with
--quick). BENCHMARKS.md (BENCHMARKS-quick.md with --quick) is then rendered from every JSON
there, so a GPU result measured elsewhere (benchmarks/results/gpu.json) stays in it.
The GPU benchmark runs only where nvidia-smi lists a GPU, unless named with --only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

from benchmarks import registry
from benchmarks.harness.common import ENV_COMMAND, REPO, child_env, gpus, log



def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller budgets and fewer worker counts: under 10 minutes on 2 cores")
    parser.add_argument("--only", action="append", choices=registry.NAMES, help="run only this benchmark (repeatable)")
    parser.add_argument("--report-only", action="store_true", help="render the Markdown from the JSON already there")
    args = parser.parse_args(argv)
    command = os.environ.get(ENV_COMMAND) or shlex.join(["python", "-m", "benchmarks.run", *argv])
    failed = []
    if not args.report_only:
        for name in args.only or registry.NAMES:
            if name == "gpu" and not args.only and not gpus():
                log("gpu: no GPU on this machine: skipped (BENCHMARKS.md keeps benchmarks/results/gpu.json)")
                continue
            started = time.monotonic()
            log(f"{name}: starting")
            proc = subprocess.run([sys.executable, "-m", registry.module(name), *(["--quick"] if args.quick else [])],
                                  env=child_env(**{ENV_COMMAND: command}), cwd=REPO)
            log(f"{name}: {'done' if proc.returncode == 0 else f'FAILED (exit code {proc.returncode})'} "
                f"in {time.monotonic() - started:.0f} s")
            if proc.returncode != 0:
                failed.append(name)
    from benchmarks import report

    path = report.render(quick=args.quick)
    log(f"wrote {os.path.relpath(path, REPO)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
