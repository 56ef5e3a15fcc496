"""The benchmarks, once: their names, titles and order in BENCHMARKS.md.

A benchmark NAME is the package `benchmarks/NAME/`: `python -m benchmarks.NAME` runs it and writes
`benchmarks/results/NAME.json`; its `report.py` renders its section (`section(doc)`, and the rows it
adds to the targets table, `targets(doc)`, where it has targets; `NOT_RUN`, what the section says
before a first run). `benchmarks.run` and `benchmarks.report` read this list and nothing else.
"""

from __future__ import annotations

import importlib
from types import ModuleType

# (name, title), in BENCHMARKS.md's order.
BENCHMARKS: list[tuple[str, str]] = [
    ("search_efficiency", "1. search efficiency"),
    ("seed_lab", "1b. seed lab"),
    ("pilot", "1c. pilot for the defaults"),
    ("trainer_overhead", "2. trainer overhead"),
    ("coordination", "3. coordination"),
    ("gpu", "4. GPU"),
    ("scale", "5. scale"),
    ("data", "6. data"),
    ("zoom_confirm", "7. zoom and confirm"),
]
NAMES = [name for name, _ in BENCHMARKS]
TITLES = dict(BENCHMARKS)


def module(name: str) -> str:
    """What `python -m` runs for benchmark `name`."""
    return f"benchmarks.{name}"


def report(name: str) -> ModuleType:
    """Benchmark `name`'s section renderer."""
    return importlib.import_module(f"benchmarks.{name}.report")
