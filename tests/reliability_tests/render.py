"""Render docs/reliability.md from the rows the reliability tests recorded.

    make reliability      # runs tests/reliability_tests, then this
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys

from tests.reliability_tests.conftest import RESULTS

HEADER = """# Reliability: faults and bad input, tried against a real PostgreSQL

Every row below is a test in `tests/reliability_tests/` (also run by `make test`): real worker
processes (`hpsearch worker`), a throwaway PostgreSQL cluster started by the tests, and trainer
doubles behind the real reporter protocol where a fault must be provoked on cue. Figures are
measured on the machine named at the end; heartbeat 1 s (stale after 3 s), as the tests set it.

Regenerate with `make reliability` (runs the tests, then `python -m tests.reliability_tests.render`).

| fault or input | what happened | figure |
|---|---|---|
"""


def main() -> int:
    if not os.path.exists(RESULTS):
        print(f"no results at {RESULTS}: run the reliability tests first", file=sys.stderr)
        return 1
    with open(RESULTS) as f:
        rows = json.load(f)
    lines = [HEADER]
    for row in rows:
        cells = [row["fault"], row["outcome"], row.get("figure", "")]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |\n")
    lines.append(
        f"\n{len(rows)} rows; measured {dt.date.today().isoformat()} on {platform.node() or 'this machine'} "
        f"({os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}).\n"
    )
    target = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "reliability.md")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as f:
        f.writelines(lines)
    print(f"wrote {os.path.normpath(target)} ({len(rows)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
