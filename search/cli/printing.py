"""The analysis in a terminal: `hpsearch report` and `hpsearch diagnose` print these."""

from __future__ import annotations

from typing import Any, Mapping

from search.analysis import advice
from search.analysis.diagnostics import Decomposition
from search.analysis.report import StudyAnalysis, decomposition_cells


def print_report(a: StudyAnalysis) -> None:
    from rich.table import Table

    from search.cli.output import console

    if a.best:
        table = Table(title=f"error decomposition of the best trials of {a.study} (human-level {advice.pct(a.human_error)}; gaps in points)")
        for col in ("trial", *a.objectives, "train", "train-dev", "dev", "test", "avoid. bias", "variance", "mismatch", "dev overfit", "problem"):
            table.add_column(col, justify="left" if col == "problem" else "right")
        for v in a.best:
            table.add_row(*decomposition_cells(v, a.objectives))
        console.print(table)
    from search.cli.output import print_confirmations

    print_confirmations(a.confirmations, a.objectives[0])
    if a.ensemble:
        from search.analysis.ensemble import describe

        console.print("[bold]Ensemble of the kept models[/bold]")
        for line in describe(a.ensemble):
            console.print(f"  {line}", highlight=False, markup=False)
    console.print("[bold]Summary[/bold]")
    for line in a.summary:
        console.print(f"  {line}", highlight=False, markup=False)
    console.print("[bold]Where to look next[/bold]")
    for step in a.next_steps:
        console.print(f"  - {step}", highlight=False, markup=False)
    if a.narrowing:
        import yaml

        console.print(f"[bold]next.yaml[/bold] (hpsearch launch NAME --zoom {a.study} --narrow next.yaml)")
        console.print(yaml.safe_dump(a.narrowing, sort_keys=False).rstrip(), highlight=False, markup=False)


def print_diagnosis(result: Mapping[str, Any]) -> None:
    from rich.table import Table

    from search.cli.output import console

    d = Decomposition(**{k: result[k] for k in Decomposition.__dataclass_fields__})
    table = Table(title="error decomposition (gaps in percentage points)")
    for col in ("split", "error", "gap", "points"):
        table.add_column(col, justify="right" if col in ("error", "points") else "left")
    for row in advice.decomposition_rows(d):
        table.add_row(*row)
    console.print(table)
    console.print(result["verdict"], highlight=False, markup=False)
    console.print("[bold]Next steps[/bold]")
    for step in result["next_steps"]:
        console.print(f"  - {step}", highlight=False, markup=False)


def print_mistakes(study: str, found) -> None:
    """`hpsearch report NAME --mistakes`: the most-confused pairs of one trial, and where its gallery went."""
    from rich.table import Table

    from search.analysis.mistakes import pair_rows
    from search.cli.output import console

    m = found.mistakes
    table = Table(title=f"trial {found.number} of {study}: {m['errors']} of {m['examples']} dev images wrong; "
                        "most-confused pairs")
    for col in ("true", "predicted", "count", "share of errors"):
        table.add_column(col, justify="right" if col in ("count", "share of errors") else "left")
    for row in pair_rows(m):
        table.add_row(*(str(c) for c in row))
    console.print(table)
    if found.gallery:
        shown = f"{len(m['worst'])} " if m.get("worst") else ""  # no count when the list's artifact file is gone
        console.print(f"gallery of the {shown}most confident mistakes written to {found.gallery}",
                      highlight=False, markup=False)
    else:
        console.print(f"no gallery: {found.why_no_gallery}", highlight=False, markup=False)

