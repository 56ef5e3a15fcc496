"""BENCHMARKS.md's section 1 (search efficiency) and its target rows, from search_efficiency.json.

Every sentence is computed from the runs recorded: nothing about the result is written in advance.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from benchmarks.harness.report_format import elapsed_clause, met, num, p_value, quartiles
from benchmarks.harness.report_format import provenance as format_provenance

HPSEARCH = "hpsearch (defaults)"


def narrowed(narrowing: dict | None, why: str | None = None) -> str:
    if not narrowing:
        return ""
    parts = [f"{k} {v['low']}..{v['high']}" if isinstance(v, dict) else f"{k} {v}" for k, v in narrowing.items()]
    return f" narrowed to {', '.join(parts)}" + (f" ({why})" if why else "")


def load_range(doc: dict) -> str:
    loads = [v for runs in doc.get("runs_load_average", {}).values() for v in runs.values() if v is not None]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "not recorded"


def older_defaults(doc: dict) -> str | None:
    """A sentence when the hpsearch (defaults) runs summarised here ran other defaults than `hpsearch launch`'s today."""
    from benchmarks.search_efficiency import today_settings

    s = doc["settings"]
    now = today_settings(s["max_epochs_per_configuration"], s["budget_epochs"])
    used = doc.get("settings_used", {}).get(HPSEARCH, {})
    if all(v.get("pruner") == now["pruner"] and v.get("sampler") == now["sampler"]
           and v.get("portfolio", []) == now["portfolio"] for v in used.values()):
        return None
    recipes = f"{len(now['portfolio'])} portfolio recipes first" if now["portfolio"] else "no portfolio"
    return (f"**Older defaults:** the \"{HPSEARCH}\" row ran the defaults of its date, not today's "
            f"(`{now['pruner']['class']}`, TPE with {now['sampler_settings'].get('n_startup_trials')} start-up trials, "
            f"{recipes}): its figures and the targets below describe those. `python -m benchmarks.search_efficiency` "
            f"moves its runs aside and runs that row again.")


def targets(doc: dict) -> list[tuple[str, str, str, Any]]:
    t = doc["targets"]
    a, b = t["best_vs_every_peer"], t["reaches_kerastuner_hyperband"]
    if not any(doc["runs_done"].values()):
        return [("1 search efficiency", a["target"], "no runs yet", None), ("1 search efficiency", b["target"], "no runs yet", None)]
    peers = ", ".join(f"{num(v)} ({k})" for k, v in a["peers"].items())
    reach = (f"reached it after {b['epochs']} of {doc['settings']['budget_epochs']} epochs "
             f"({num(b['fraction_of_budget'], 3, pct=True)})" if b["epochs"] else "did not reach it within the budget")
    if older_defaults(doc):
        peers += " (hpsearch's row: older defaults, see section 1)"
    return [("1 search efficiency", a["target"], f"{num(a['hpsearch'])} against {peers}", a["met"]),
            ("1 search efficiency", b["target"], f"KerasTuner Hyperband's final median {num(b['kerastuner_hyperband_final'])}: "
                                                  f"hpsearch's median curve {reach}", b["met"])]


def section(doc: dict) -> list[str]:
    provenance = format_provenance(doc)
    s = doc["settings"]
    done, planned = doc["runs_done"], doc["runs_planned"]
    out = ["## 1. Search efficiency", "", *provenance]
    stale = older_defaults(doc)
    if stale:
        out += [stale, ""]
    out += [
        f"Task: {s['dataset']}. Space `{s['space']}`{narrowed(s.get('narrowing'), s.get('narrowing_why'))} for every contender (KerasTuner samples "
        f"the same dimensions through an adapter). Budget: {s['budget_epochs']} training epochs per contender and seed (worth "
        f"{s['budget_epochs'] // s['max_epochs_per_configuration']} full-length configurations), at most "
        f"{s['max_epochs_per_configuration']} epochs per configuration; seeds {', '.join(map(str, s['seeds']))}. "
        f"hpsearch's trials run in-process: the process-per-trial cost is measured in benchmark 3. Each run is saved "
        f"under `{s['runs_folder']}/` as it finishes and reused by the next invocation: the "
        f"{sum(done.values())} runs in took {doc.get('runs_wall_seconds', 0) / 60:.0f} min of run time in all"
        f"{elapsed_clause(doc)}, at one-minute load averages {load_range(doc)} as each ended.",
        "",
    ]
    missing = {name: planned - done.get(name, 0) for name in doc["contenders"] if done.get(name, 0) < planned}
    if missing:
        out += [f"**Incomplete:** {sum(missing.values())} of {planned * len(doc['contenders'])} planned runs are not in yet "
                f"({', '.join(f'{n}: {k}' for n, k in missing.items())} missing). The figures below cover the runs that "
                "are; the targets are not judged until every run is in.", ""]
    out += [
        "Best dev accuracy: the highest dev accuracy the contender measured at the end of any epoch (one rule for all). "
        "Pick: the configuration each contender itself returns as best, and that model's accuracy on the official test "
        "split. Near best: epochs and seconds until the contender first came within 0.5 points of its own final best. "
        "Pruned: the share of epochs spent on trials stopped early (for KerasTuner Hyperband, lines never promoted to "
        "the full epochs). Median [interquartile range] over seeds.",
        "",
        "| contender | runs | best dev accuracy | pick: test accuracy | epochs to near best | seconds to near best | "
        "pruned epochs | trials |",
        "|---|---|---|---|---|---|---|---|",
    ]
    if not doc["table"]:
        out.append("| no runs yet | | | | | | | |")
    for name, row in doc["table"].items():
        out.append(f"| {name} | {done.get(name, 0)} | {quartiles(row['best_dev_accuracy'])} | "
                   f"{quartiles(row['pick_test_accuracy'])} | {quartiles(row['epochs_to_near_best'], 0)} | "
                   f"{quartiles(row['seconds_to_near_best'], 0)} | "
                   f"{quartiles(row['pruned_epoch_fraction'], 2, pct=True)} | {quartiles(row['trials'], 0)} |")
    out += paired_table(doc)
    out += shared_luck(doc)
    out += hidden_layer_facts(doc)
    if doc.get("figure"):
        out += ["", f"Anytime curves (best dev accuracy so far against epochs consumed, median over seeds, quartile band): "
                    f"[{doc['figure']}]({doc['figure']})", "", f"![anytime curves]({doc['figure']})"]
    out += [""]
    for a, target, figures, flag in targets(doc):
        out.append(f"- {target}: {met(flag)} — {figures}.")
    out += pruning_facts(doc)
    return out + [""]


def paired_table(doc: dict) -> list[str]:
    paired = doc.get("paired", {}).get("best_dev_accuracy")
    if not paired:
        return []
    n = max((len(p["differences"]) for p in paired.values()), default=0)  # the pairs in, not the seeds planned
    out = ["", f"Paired by seed against {HPSEARCH} (a seed fixes the contender's own random stream; the data are the "
               "same for all; a difference is peer minus hpsearch, in points of best dev accuracy; p: two-sided exact "
               f"sign test and Wilcoxon signed-rank test, which with {n} paired seed{'s' if n != 1 else ''} cannot go below "
               f"{min(1.0, 2 / 2 ** n):.3g}):", "",
           "| peer | per-seed differences | median | peer better / hpsearch better / tied | sign test p | Wilcoxon p |",
           "|---|---|---|---|---|---|"]
    for name, p in paired.items():
        diffs = ", ".join(f"{100 * d:+.1f}" for d in p["differences"]) or "—"
        median = f"{100 * p['median_difference']:+.2f}" if p["median_difference"] is not None else "—"
        out.append(f"| {name} | {diffs} | {median} | {p['peer_better']} / {p['hpsearch_better']} / {p['ties']} | "
                   f"{p_value(p['sign_test_p'])} | {p_value(p['wilcoxon_p'])} |")
    return out


def shared_luck(doc: dict) -> list[str]:
    """Name the peers whose runs drew the very configurations hpsearch's did: their differences share luck."""
    out = []
    for name, seeds in doc.get("shared_configurations", {}).items():
        shared = {seed: c for seed, c in seeds.items() if c["identical"]}
        if not shared:
            continue
        counts = ", ".join(f"{c['identical']} of {c['both_complete']} (seed {seed})" for seed, c in shared.items())
        out.append(f"- {name} and {HPSEARCH} completed trials with the very same configuration: {counts}, of the trials "
                   f"both completed: the same seed drew the same configurations for both, so their paired difference "
                   f"carries luck both share.")
    return [""] + out if out else []


def hidden_layer_facts(doc: dict) -> list[str]:
    """Item 6's question, whether the hidden layer earns its place, answered with the runs' own figures."""
    h = doc.get("hidden_layer")
    if not h or not (h["random_with"]["n"] or h["random_without"]["n"]):
        return []
    picks = "; ".join(f"{name} {p['with']} of {p['runs']}" for name, p in h["picks"].items())
    return ["", f"- The hidden layer before the softmax (`model.head_units`): the completed trials of random search, which "
                f"draws it independently of every other dimension, reached a final dev accuracy of "
                f"{quartiles(h['random_with'])} with one (n={h['random_with']['n']}) and "
                f"{quartiles(h['random_without'])} without (n={h['random_without']['n']}), median [interquartile range]. "
                f"The configurations the searches picked had one in: {picks or 'no run with its pick recorded'}."]


def pruning_facts(doc: dict) -> list[str]:
    """When hpsearch's pruned trials were stopped, and the pruner and sampler as the runs built them."""
    out = []
    used = doc.get("settings_used", {}).get(HPSEARCH, {})
    settings = {json.dumps(v, sort_keys=True) for v in used.values()}
    for text in sorted(settings):
        v = json.loads(text)
        p = v.get("pruner") or {}
        args = ", ".join(f"{k}={x}" for k, x in p.items() if k != "class")
        out.append(f"- {HPSEARCH} ran {v.get('sampler')} with `{p.get('class')}({args})`.")
    stopped = [e for run in doc.get("pruned_at_epoch", {}).get(HPSEARCH, []) for e in run]
    if stopped:
        first = sum(e == 1 for e in stopped)
        out.append(f"- Of the {len(stopped)} trials it pruned, {first} ({first / len(stopped):.0%}) were stopped at their "
                   f"first epoch; median epoch of stopping {statistics.median(stopped):g}.")
    return out
