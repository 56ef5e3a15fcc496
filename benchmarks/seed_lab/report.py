"""BENCHMARKS.md's section 1b: the seed lab, a 60-minute study on the full Fashion-MNIST as a user launches it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.harness.report_format import met, num, provenance

STATE_WORDS = {"FAIL": "failed", "RUNNING": "still running"}
# What the section says before a first run.
NOT_RUN = ["## 1b. The seed lab", "",
           "Not run yet: `python -m benchmarks.run --only seed_lab` (a 60-minute study on the full Fashion-MNIST, "
           "then export and retrain; about 75 minutes on 2 cores).", ""]


def targets(doc: dict) -> list[tuple[str, str, str, Any]]:
    t = doc["targets"]["official_test_accuracy"]
    stretch = "" if t["stretch_met"] is None else f"; stretch 0.934 {'met' if t['stretch_met'] else 'missed'}"
    return [("1b seed lab", t["target"], f"{num(t['measured'], 4)}{stretch}", t["met"])]


def section(doc: dict) -> list[str]:
    s, study, e, r = doc["settings"], doc["study"], doc["exported"], doc["retrained"]
    states: dict[str, int] = {}
    for t in doc["trials"]:
        states[t["state"]] = states.get(t["state"], 0) + 1
    out = ["## 1b. The seed lab: full Fashion-MNIST as a user launches it", "", *provenance(doc),
           f"`{s['command']}`, then `hpsearch export lab -o best.yaml` and `hpsearch train best.yaml`. The study ran "
           f"{doc['search_seconds'] / 60:.0f} min and ended: {study.get('ended') or study['state']}; its trials: "
           + ", ".join(f"{n} {STATE_WORDS.get(k, k.lower())}" for k, n in sorted(states.items())) + ".",
           "",
           *_trial_table(doc["trials"]),
           *_failures(doc["trials"]),
           f"Exported: trial {e['trial']}, dev accuracy {num(e['objectives'].get('dev_accuracy'), 4)} in the study"
           f"{_configuration(e.get('config') or {}, e.get('metrics') or {})}. "
           f"Retrained by `hpsearch train` in {doc['retrain_seconds'] / 60:.0f} min: dev accuracy "
           f"{num(r.get('dev_accuracy'), 4)}, **official test accuracy {num(r.get('test_accuracy'), 4)}**.",
           "",
           "| | official test accuracy |", "|---|---|",
           f"| hpsearch, {s['time_budget']} on this machine | {num(r.get('test_accuracy'), 4)} |"]
    out += [f"| {name} (published) | {value:.3f} |" for name, value in doc["published"].items()]
    for _, target, figures, flag in targets(doc):
        out += ["", f"- {target}: {met(flag)} — {figures}."]
    return out + [""]


def _trial_table(trials: list[dict]) -> list[str]:
    """Each trial of the study: how far it got and why it ended (a trial too slow for the time budget shows here)."""
    if not trials:
        return []
    out = ["| trial | state | epochs | dev accuracy | why it ended |", "|---|---|---|---|---|"]
    for t in trials:
        dev = None if t.get("dev_error") is None else 1.0 - t["dev_error"]
        out.append(f"| {t.get('number', '—')} | {t['state'].lower()} | {t.get('epochs') if t.get('epochs') is not None else '—'} | "
                   f"{num(dev, 4)} | {t.get('reason') or '—'} |")
    slow = [t for t in trials if (t.get("reason") or "").startswith("too slow for the time budget")]
    if slow:
        out += ["", f"{len(slow)} of {len(trials)} trials were stopped as too slow for the time budget, after "
                f"{sum(t.get('epochs') or 0 for t in slow)} epochs between them."]
    return out + [""]


def _failures(trials: list[dict]) -> list[str]:
    """Why trials failed, counted by reason (a per-trial timeout shows here)."""
    reasons = Counter(t.get("reason") or "no reason recorded" for t in trials if t.get("state") == "FAIL")
    if not reasons:
        return []
    return ["Failed trials: " + "; ".join(f"{n} {why}" for why, n in sorted(reasons.items())) + ".", ""]


def _configuration(config: dict, metrics: dict) -> str:
    """The exported configuration in one clause: what a reader would retrain."""
    m, o, a, t = (config.get(k, {}) for k in ("model", "optimizer", "augment", "training"))
    if not m:
        return ""
    net = m.get("backbone", "?")
    if net == "small_cnn":
        net += f" of depth {m.get('depth')} from {m.get('width')} filters"
    head = f", a hidden layer of {m['head_units']} units" if m.get("head_units") else ", no hidden layer"
    params = f", {metrics['params']:,.0f} parameters" if metrics.get("params") else ""
    return (f" ({net}{head}, batch norm {m.get('batch_norm')}, dropout {m.get('dropout', 0):.2f}, augmentation "
            f"{a.get('policy')}, {o.get('name')} at learning rate {o.get('learning_rate', 0):.2e}, batch "
            f"{t.get('batch_size')}, {t.get('epochs')} epochs{params})")
