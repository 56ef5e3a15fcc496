"""Output for people: tables (rich), and careful file writes."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

# Piped output (CI logs, `| less`) gets a wide table rather than rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{value:.{digits}f}"
    return str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return str(dt.timedelta(seconds=int(seconds)))


def print_study_table(summaries: Iterable) -> None:
    summaries = list(summaries)
    timed = any(s.time_budget is not None for s in summaries)
    columns = ["study", "state", "done/budget", "complete", "pruned", "failed", "running", "best", "best trial", "ETA"]
    if timed:
        columns.insert(3, "time left")
    table = Table(title="studies")
    for col in columns:
        table.add_column(col, justify="left" if col in ("study", "state") else "right")
    for s in summaries:
        row = [
            s.name,
            s.state,
            f"{s.done}/{s.budget if s.budget is not None else '-'}",
            str(s.counts.complete),
            str(s.counts.pruned),
            str(s.counts.failed),
            str(s.counts.running),
            f"{s.objective}={_fmt(s.best_value)}" if s.best_value is not None else "-",
            _fmt(s.best_trial),
            duration(s.eta_seconds),
        ]
        if timed:
            row.insert(3, f"{duration(s.time_left)} of {duration(s.time_budget)}" if s.time_budget is not None else "-")
        table.add_row(*row)
    console.print(table)
    for s in summaries:  # where a zoomed study came from, and why each finished study stopped starting trials
        if s.lineage:
            console.print(f"{s.name}: {s.lineage}", highlight=False)
        if s.ended:
            console.print(f"{s.name}: ended, {s.ended}", highlight=False)


def trial_row(t) -> dict[str, Any]:
    a = t.user_attrs
    return {
        "number": t.number,
        "state": t.state.name,
        "values": t.values,
        "epochs": a.get("epochs_run"),
        "dev_error": a.get("dev_error"),
        "train_error": a.get("train_error"),
        "dominant_problem": a.get("dominant_problem"),
        "feasible": a.get("feasible", True),
        "reason": a.get("fail_reason") or a.get("stop_reason"),
        "retry_of": a.get("retry_of"),
        "params": t.params,
    }


def print_trials_table(study, trials) -> None:
    table = Table(title=f"trials of {study.study_name}")
    for col in ("#", "state", "value", "epochs", "train err", "dev err", "problem", "params", "note"):
        table.add_column(col, justify="right" if col in ("#", "value", "epochs", "train err", "dev err") else "left")
    for t in trials:
        row = trial_row(t)
        note = row["reason"] or ""
        if row["retry_of"] is not None:
            note = f"retry of {row['retry_of']}; {note}"
        if t.user_attrs.get("confirms") is not None:
            note = f"confirms {t.user_attrs['confirms']}; {note}"
        if t.user_attrs.get("warm_start"):
            note = f"warm start from {t.user_attrs['warm_start']['study']}; {note}"
        if row["feasible"] is False:
            note = f"infeasible; {note}"
        params = ", ".join(f"{k}={_fmt(v, 3) if isinstance(v, float) else v}" for k, v in t.params.items())
        table.add_row(
            str(t.number), t.state.name, _fmt(t.values[0] if t.values else None), _fmt(row["epochs"]),
            _fmt(row["train_error"]), _fmt(row["dev_error"]), row["dominant_problem"] or "-",
            params[:60] + ("…" if len(params) > 60 else ""), note[:50],
        )
    console.print(table)


def print_confirmations(groups: list[dict[str, Any]], objective: str) -> None:
    """Each re-measured configuration: its runs, and the mean ± std of its objective, dev and test accuracy."""
    if not groups:
        return
    table = Table(title="confirmed configurations (the original trial and its confirmation runs)")
    keys = ([objective] if objective != "dev_accuracy" else []) + ["dev_accuracy", "test_accuracy"]
    for col in ("trial", "runs done/queued", *(f"{k.replace('_', ' ')} mean ± std" for k in keys)):
        table.add_column(col, justify="right")

    from search.analysis.report import mean_std

    for g in groups:
        table.add_row(str(g["trial"]), f"{len(g['runs']) - 1}/{g['confirmations_queued']}",
                      *(mean_std(g[k], missing="-") for k in keys))
    console.print(table)


def print_space(space) -> None:
    table = Table(title=f"space {space.name}: {space.description}")
    for col in ("dimension", "range / choices", "scale", "why"):
        table.add_column(col)
    for row in space.table():
        table.add_row(*row)
    console.print(table)


def print_metrics(metrics: dict[str, Any], title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.items():
        table.add_row(k, _fmt(v))
    console.print(table)


class OutputError(ValueError):
    """An output file cannot be written."""


@contextlib.contextmanager
def progress_bar(description: str, enabled: bool = True):
    """A progress bar on stderr (stdout may be the document); yields `advance(done, total)`, or None when not enabled."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


def check_writable(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise OutputError(f"cannot write {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OutputError(f"cannot write {path}: permission denied")


def write_text(path: str, text: str) -> None:
    """Write atomically: a failed write never leaves half a file behind."""
    check_writable(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
