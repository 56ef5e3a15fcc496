"""BENCHMARKS.md's section 7 (zoom and confirm) and its target rows, from zoom_confirm.json."""

from __future__ import annotations

from typing import Any

from benchmarks.harness.report_format import elapsed_clause, met, provenance
from benchmarks.harness.report_format import num as _num


def targets(doc: dict) -> list[tuple[str, str, str, Any]]:
    t = doc["targets"]
    z, c = t["zoom_reaches_single_best"], t["confirm_picks_truly_best_more_often"]
    if not doc["runs_done"]:
        return [("7 zoom and confirm", z["target"], "no runs yet", None), ("7 zoom and confirm", c["target"], "no runs yet", None)]
    budget = doc["settings"]["budget"]
    reach = (f"reached it after {z['epochs']} of {budget} epochs ({100 * z['fraction']:.0f}%)" if z["epochs"]
             else "did not reach it within the budget")
    return [("7 zoom and confirm", z["target"], f"single study's final median {_num(z['single_final_median'])}; the pair "
                                                f"{reach}", z["met"]),
            ("7 zoom and confirm", c["target"], f"truly best picked in {c['confirm_hits']} of {c['seeds']} seeds with "
                                                f"confirm, {c['single_hits']} of {c['seeds']} by the single run", c["met"])]


def section(doc: dict) -> list[str]:
    s = doc["settings"]
    out = ["## 7. Zoom and confirm", "", *provenance(doc),
           f"Benchmark 1's task and plan: {s['train_images']:,} Fashion-MNIST training images, space `small`"
           + (f" narrowed ({', '.join(s['narrowing'])})" if s.get("narrowing") else "")
           + f", {s['budget']} epochs per arm and seed, at most {s['max_epochs']} per configuration; seeds "
           f"{', '.join(map(str, s['seeds']))} ({doc['runs_done']} done{_took(doc)}). Zoom: a study for half the epochs, then "
           f"`--zoom` around its top {s['top']} (warm-started, top configurations queued first) for the rest, against "
           f"one study for all of them. Confirm: the pair's top {s['confirm_top']} configurations, each re-trained under "
           f"{s['reeval_seeds']} fresh seeds to find the truly best (best mean); the single-run pick against the best "
           f"mean over its run and {s['confirm_seeds']} confirmation seeds.", "",
           "| seed | one study: best dev | study + zoom: best dev | warm-start trials | single pick right | confirm pick right |",
           "|---|---|---|---|---|---|"]
    if not doc["per_seed"]:
        out.append("| no runs yet | | | | | |")
    for seed, r in doc["per_seed"].items():
        p = r.get("picks") or {}
        out.append(f"| {seed} | {_num(r['single_best'])} | {_num(r['pair_best'])} | {r['zoom']['warm_start_trials']} | "
                   f"{_yes(p.get('single_right'))} | {_yes(p.get('confirm_right'))} |")
    out.append("")
    for _, target, figures, flag in targets(doc):
        out.append(f"- {target}: {met(flag)} — {figures}.")
    return out + [""]


def _took(doc: dict) -> str:
    if not doc["runs_done"] or not doc.get("runs_wall_seconds"):
        return ""
    return f", taking {doc['runs_wall_seconds'] / 60:.0f} min of run time{elapsed_clause(doc)}"


def _yes(flag) -> str:
    return "—" if flag is None else ("yes" if flag else "no")
