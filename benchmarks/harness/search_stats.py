"""Benchmark 1's arithmetic: best-so-far curves, per-run figures, paired tests, the anytime plot.

A run's trace is the list of epoch-end events a contender produced, in order, each with the
epochs consumed so far, the seconds since the search started and the dev accuracy measured.
Everything here reads traces only, so the report can recompute any figure from the JSON.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Iterable

NEAR = 0.005  # "within 0.5 points"


def finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def running_best(events: list[dict[str, Any]]):
    best = -math.inf
    for e in events:
        if finite(e["dev_accuracy"]) and e["dev_accuracy"] > best:
            best = e["dev_accuracy"]
        yield best, e


def first_reaching(events, target: float) -> dict[str, Any] | None:
    for best, e in running_best(events):
        if best >= target - 1e-12:
            return e
    return None


def best_at_each_epoch(events: list[dict[str, Any]], budget: int) -> list[float | None]:
    """Best dev accuracy so far after 1 .. budget epochs consumed (None before the first measurement)."""
    out: list[float | None] = []
    current: float | None = None
    steps = iter(running_best(events))
    pending = next(steps, None)
    for used in range(1, budget + 1):
        while pending is not None and pending[1]["epochs_used"] <= used:
            current = pending[0] if math.isfinite(pending[0]) else current
            pending = next(steps, None)
        out.append(current)
    return out


def analyse_run(run: dict[str, Any]) -> dict[str, Any]:
    events = run["events"]
    values = [e["dev_accuracy"] for e in events if finite(e["dev_accuracy"])]
    best = max(values) if values else None
    near = first_reaching(events, best - NEAR) if best is not None else None
    pruned = sum(t["epochs"] for t in run["trials"].values() if t.get("state") == "pruned")
    used = events[-1]["epochs_used"] if events else 0
    full = sum(1 for t in run["trials"].values() if t.get("state") == "complete")
    pick = run.get("pick") or {}
    return {
        "best_dev_accuracy": best,
        "pick_dev_accuracy": pick.get("dev_accuracy"),
        "pick_test_accuracy": pick.get("test_accuracy"),
        "epochs_to_near_best": near["epochs_used"] if near else None,
        "seconds_to_near_best": near["seconds"] if near else None,
        "epochs_used": used,
        "seconds": run["seconds"],
        "pruned_epoch_fraction": pruned / used if used else None,
        "trials": len(run["trials"]),
        "complete_trials": full,
    }


def quartiles(values: Iterable[float | None]) -> dict[str, Any]:
    """Median, interquartile range and extremes of repeated measurements; None values counted apart."""
    values = list(values)
    known = sorted(float(v) for v in values if finite(v))
    out: dict[str, Any] = {"n": len(values), "values": values}
    if known:
        q1, q2, q3 = statistics.quantiles(known, n=4, method="inclusive") if len(known) > 1 else (known[0],) * 3
        out.update(median=statistics.median(known), q1=q1, q3=q3, min=known[0], max=known[-1])
    else:
        out.update(median=None, q1=None, q3=None, min=None, max=None)
    if len(known) < len(values):
        out["missing"] = len(values) - len(known)
    return out


def sign_test(differences: list[float]) -> float | None:
    """Two-sided exact sign test of 'the median difference is 0' (ties dropped)."""
    wins = sum(d > 0 for d in differences)
    losses = sum(d < 0 for d in differences)
    n = wins + losses
    if n == 0:
        return None
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def wilcoxon(differences: list[float]) -> float | None:
    """Two-sided exact Wilcoxon signed-rank p-value (scipy), or None when every difference is 0."""
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return None
    from scipy.stats import wilcoxon as scipy_wilcoxon

    return float(scipy_wilcoxon(nonzero, alternative="two-sided").pvalue)


def paired(ours: dict[str, float | None], theirs: dict[str, float | None]) -> dict[str, Any]:
    """Per seed: theirs - ours (positive: the peer did better), with a sign test and a Wilcoxon test."""
    seeds = sorted(s for s in ours if finite(ours.get(s)) and finite(theirs.get(s)))
    diffs = [theirs[s] - ours[s] for s in seeds]
    return {
        "seeds": seeds,
        "differences": diffs,
        "median_difference": statistics.median(diffs) if diffs else None,
        "peer_better": sum(d > 0 for d in diffs),
        "hpsearch_better": sum(d < 0 for d in diffs),
        "ties": sum(d == 0 for d in diffs),
        "sign_test_p": sign_test(diffs),
        "wilcoxon_p": wilcoxon(diffs),
    }


def median_curve(curves: list[list[float | None]]) -> list[dict[str, float | None]]:
    """Per epoch consumed: median and quartiles of best-so-far over seeds (None until every seed measured)."""
    out = []
    for column in zip(*curves):
        if any(v is None for v in column):
            out.append({"median": None, "q1": None, "q3": None})
            continue
        q = quartiles(column)
        out.append({"median": q["median"], "q1": q["q1"], "q3": q["q3"]})
    return out


def first_epoch_at(curve: list[dict[str, float | None]], target: float | None) -> int | None:
    """The first number of epochs consumed at which a median curve reaches `target`."""
    if target is None:
        return None
    for i, point in enumerate(curve, start=1):
        if point["median"] is not None and point["median"] >= target - 1e-12:
            return i
    return None


def plot_anytime(curves: dict[str, list[dict[str, float | None]]], path: str, title: str) -> str:
    """Best-so-far dev accuracy (median over seeds, interquartile band) against epochs consumed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name, curve in curves.items():
        xs = [i for i, p in enumerate(curve, start=1) if p["median"] is not None]
        if not xs:
            continue
        med = [curve[x - 1]["median"] for x in xs]
        # Best-so-far is a step function: it changes only at the epoch that measured a new best.
        line, = ax.plot(xs, med, label=name, drawstyle="steps-post", linewidth=1.8 if name.startswith("hpsearch") else 1.2)
        ax.fill_between(xs, [curve[x - 1]["q1"] for x in xs], [curve[x - 1]["q3"] for x in xs], step="post",
                        color=line.get_color(), alpha=0.12, linewidth=0)
    ax.set_xlabel("training epochs consumed (all trials)")
    ax.set_ylabel("best dev accuracy so far (median over seeds; band: quartiles)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
