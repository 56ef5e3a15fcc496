"""How BENCHMARKS.md writes numbers and provenance: one place for every section's figures, spreads and
the lines that say when, how and where its runs were made."""

from __future__ import annotations


def num(value, digits: int = 3, pct: bool = False) -> str:
    if value is None:
        return "—"
    if pct:
        return f"{100 * value:.{max(0, digits - 2)}f}%"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _centre_and_range(s: dict | None, digits: int, pct: bool, low: str, high: str, brackets: str) -> str:
    if not s or s.get("median") is None:
        return "not reached" if s and s.get("missing") else "—"
    text = num(s["median"], digits, pct)
    lo, hi = num(s[low], digits, pct), num(s[high], digits, pct)
    if s.get("n", 1) > 1 and lo != hi:  # compared as printed: "6 [6–6]" says nothing
        text += f" {brackets[0]}{lo}–{hi}{brackets[1]}"
    if s.get("missing"):
        text += f", not reached in {s['missing']} of {s['n']}"
    return text


def p_value(value) -> str:
    return "—" if value is None else f"{value:.3g}"


def spread(s: dict | None, digits: int = 3, pct: bool = False) -> str:
    """'median (min–max)' of a summary; notes values never reached."""
    return _centre_and_range(s, digits, pct, "min", "max", "()")


def quartiles(s: dict | None, digits: int = 3, pct: bool = False) -> str:
    """'median [q1–q3]' over seeds; notes seeds where the figure was never reached."""
    return _centre_and_range(s, digits, pct, "q1", "q3", "[]")


def elapsed_clause(doc: dict, each: str = ", one TensorFlow thread each") -> str:
    """' (N min by the clock, ...)' for runs that may have overlapped; empty where a span is unknown."""
    seconds = doc.get("runs_elapsed_seconds")
    if not seconds:
        return ""
    jobs = doc.get("settings", {}).get("jobs", 1)
    how = f"{jobs} at a time{each}" if jobs > 1 else "one at a time"
    return f" ({seconds / 60:.0f} min by the clock, {how})"


def provenance(doc: dict) -> list[str]:
    m = doc["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    gpu = f"; GPU: {', '.join(m['gpus'])}" if m.get("gpus") else ""
    return [
        f"- Command: `{doc['command']}`",
        f"- Date: {doc['date']} (took {doc['seconds'] / 60:.1f} min){' — quick mode' if doc.get('quick') else ''}",
        f"- Machine: {m['cpu']}, {m['cores_usable']} usable cores, {m['memory_gib']} GiB; {_load(m)}{gpu}; "
        f"Python {m['python']}, {versions}",
        "",
    ]


def _load(m: dict) -> str:
    """The load as recorded: at the invocation's start and through its runs, or (results recorded before the
    load was tracked) once, when the results were written."""
    during = m.get("load_during")
    if during is None:
        return f"load average when the results were written {', '.join(map(str, m['load_average_at_start']))}"
    return (f"load average at start {', '.join(map(str, m['load_average_at_start']))}, through the runs "
            f"{during['median']:.2f} median, {during['max']:.2f} max (1-minute, every {during['every_seconds']:.0f} s)")


def met(flag) -> str:
    if flag is None:
        return "**not measured**"
    return "**met**" if flag else "**missed**"
