"""Render docs/reliability.md from the rows the reliability tests recorded.

    make reliability      # runs tests/reliability_tests, then this

Only what the run recorded is written: a row of a test that passed, the storage it ran on, and the
date and machine of the run itself (not of this renderer). A test that failed or was skipped is
listed as such below the table, so a missing row never goes unnoticed.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter

from tests.reliability_tests.conftest import RESULTS

HEADER = """# Reliability: faults and bad input, tried against real worker processes

Every row below was recorded by a test in `tests/reliability_tests/` (run by `make test`, or by
`make test-heavy` for the tests marked heavy; `.ci/run` runs both)
that passed in the run described at the end: real worker processes (`hpsearch worker`), trainer
doubles behind the real reporter protocol where a fault must be provoked on cue, and the storage
named in the row: a throwaway PostgreSQL cluster started by the tests, or the embedded journal
file. Heartbeat 1 s (stale after 3 s) unless a row says otherwise (PostgreSQL only: the journal
storage has no heartbeats and detects a dead worker on the same host by its pid).

Regenerate with `make reliability` (runs the tests, then `python -m tests.reliability_tests.render`).

| fault or input | storage | what happened | figure |
|---|---|---|---|
"""


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(doc: dict) -> str:
    rows = [r for r in doc["rows"] if r["passed"]]
    lines = [HEADER]
    for row in rows:
        lines.append("| " + " | ".join(cell(row[k]) for k in ("fault", "storage", "outcome", "figure")) + " |\n")
    outcomes = doc["tests"]
    counts = Counter(outcomes.values())
    storages = Counter(r["storage"] for r in rows)
    m = doc["measured"]
    lines.append(
        f"\n{len(rows)} rows ({', '.join(f'{n} on {s}' for s, n in sorted(storages.items()))}) from "
        f"{counts['passed']} passed tests; measured {m['date']} to {m['finished']} on {m['host'] or 'an unnamed host'} "
        f"({m['cores']} usable cores, {m['machine']}, Python {m['python']}; load average at the start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average'])}).\n"
    )
    not_passed = sorted((status, test) for test, status in outcomes.items() if status != "passed")
    if not_passed:
        lines.append("\nTests of this run that did not pass (their rows are left out):\n\n")
        lines += [f"- {status}: `{test}`\n" for status, test in not_passed]
    return "".join(lines)


def main() -> int:
    if not os.path.exists(RESULTS):
        print(f"no results at {RESULTS}: run the reliability tests first", file=sys.stderr)
        return 1
    with open(RESULTS) as f:
        doc = json.load(f)
    target = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "reliability.md")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as f:
        f.write(render(doc))
    print(f"wrote {os.path.normpath(target)} ({sum(r['passed'] for r in doc['rows'])} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
