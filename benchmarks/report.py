"""Render BENCHMARKS.md from the JSON results: one section and table per benchmark, with the
machine, the date and the exact command of each. Only this module writes the Markdown."""

from __future__ import annotations

import json
import os
from typing import Any

from benchmarks import registry
from benchmarks.harness.common import QUICK_RESULTS, REPO, RESULTS
from benchmarks.harness.report_format import met


def load(folder: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name in registry.NAMES:
        path = os.path.join(folder, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                out[name] = json.load(f)
    return out


def render(quick: bool = False) -> str:
    docs = load(QUICK_RESULTS if quick else RESULTS)
    if quick and "gpu" not in docs:  # the GPU numbers come from a GPU machine, not from this run
        docs.update({k: v for k, v in load(RESULTS).items() if k == "gpu"})
    lines = [
        "# Benchmarks" + (" (quick mode)" if quick else ""),
        "",
        "Generated from the JSON in `benchmarks/results/" + ("quick/" if quick else "") + "` by `benchmarks/report.py`; "
        "do not edit by hand. Run them with `make bench`, `make bench-quick` (smaller budgets: a smoke test of the "
        "machinery more than a measurement), or one of them with `.venv/bin/python -m benchmarks.run --only NAME`. "
        "Each section says when, by which command and on which machine its runs were made, and how busy the machine "
        "was; sections made on different days or machines are not comparable with one another.",
        "",
        *noise(docs),
    ]
    lines += targets_table(docs)
    for name in registry.NAMES:
        if name in docs:
            lines += section(name, docs[name])
        else:  # the section's heading and how to run it, where it says so before a first run
            lines += list(getattr(registry.report(name), "NOT_RUN", []))
    path = os.path.join(REPO, "BENCHMARKS-quick.md" if quick else "BENCHMARKS.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return path


# ---- helpers ---------------------------------------------------------------------------------
def noise(docs: dict[str, dict]) -> list[str]:
    """How busy each benchmark's machine was, from its own record; nothing is assumed."""
    parts, busy = [], []
    for name in registry.NAMES:
        doc = docs.get(name)
        if not doc:
            continue
        m = doc["machine"]
        during = m.get("load_during")
        load, cores = (during["median"] if during else m["load_average_at_start"][0]), m["cores_usable"]
        when = "median through its runs" if during else "when its results were written"
        parts.append(f"{registry.TITLES[name]} {load:.2f} on {cores} cores ({when})")
        if load > cores:
            busy.append(registry.TITLES[name])
    if not parts:
        return []
    text = "**Noise.** One-minute load average against the cores each benchmark could use: " + "; ".join(parts) + "."
    if busy:
        text += (f" Where the load exceeded the cores ({', '.join(busy)}), other processes were competing for the CPU: "
                 "read the ratios between contenders that ran back to back rather than absolute timings.")
    return [text, ""]


def targets_table(docs) -> list[str]:
    rows = []
    for name in registry.NAMES:
        targets = getattr(registry.report(name), "targets", None)
        if name in docs and targets is not None:
            rows += targets(docs[name])
    if not rows:
        return []
    out = ["## Targets", "", "| benchmark | target | measured | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {met(d)} |" for a, b, c, d in rows]
    return out + [""]


def section(name: str, doc: dict) -> list[str]:
    """Benchmark `name`'s section of BENCHMARKS.md, from its results."""
    return registry.report(name).section(doc)


if __name__ == "__main__":
    import sys

    print(render(quick="--quick" in sys.argv))
