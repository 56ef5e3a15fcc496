"""BENCHMARKS.md section 5: a worker's overhead and the budget lock on studies of up to 10,000 trials."""

from __future__ import annotations

from benchmarks.harness.report_format import num, provenance


TEN_THOUSAND = 10000


def seconds_text(value) -> str:
    return "—" if value is None else (f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s")


def targets(doc) -> list[tuple]:
    """Rows of the targets table; a target set at 10,000 trials is 'not measured' when the run stopped short of it."""
    t, rows = doc["targets"], []
    for key in ("overhead", "lock_p99"):
        x = t[key]
        figures = x["median_seconds_by_workers"] if key == "overhead" else x["p99_seconds_by_workers"]
        text = "; ".join(f"{seconds_text(v)} ({w} worker{'' if w == '1' else 's'})" for w, v in figures.items())
        if x["prefill"] < TEN_THOUSAND:
            rows.append(("5 scale", x["target"], f"largest prefill {x['prefill']:,}: {text}", None))
        else:
            rows.append(("5 scale", x["target"], text, x["met"]))
    x = t["throughput"]
    rows.append(("5 scale", x["target"], f"worst ratio {num(x['worst_ratio'], 2)}", x["met"]))
    x = t.get("memory_flat")
    if x:
        ran = f"{x['trials_run']} of {x['trials_asked']}" if "trials_asked" in x else str(x["trials_run"])
        rows.append(("5 scale", x["target"], f"{num(x['warm_rss_mib'], 1)} → {num(x['last_rss_mib'], 1)} MiB over "
                                             f"{ran} trials", x["met"]))
    return rows


def section(doc) -> list[str]:
    s = doc["settings"]
    out = ["## 5. Scale", "", *provenance(doc)]
    method = s["prefill_method"]
    out += [
        f"Studies on {s['storage']} prefilled with {', '.join(f'{p:,}' for p in s['prefills'])} finished trials "
        f"({s['prefill_trials']}; inserted by {method['chosen']}: on a {method['sample_trials']}-trial sample, "
        + ", ".join(f"{k} {v * 1000:.1f} ms/trial" for k, v in method["seconds_per_trial"].items())
        + "), copied from a template database for every run. Trainer double: "
        f"{s['epochs']} epochs of {s['epoch_seconds']} s; space `{s['space']}`, sampler {s['sampler']}, pruner "
        f"{s['pruner']}; {s['trials_per_worker']} new trials per worker; at most {s['cap_seconds']} s per run. "
        f"Overhead: {s['overhead']}. Steady trials/hour: {s['steady_trials_per_hour']}. Budget lock: {s['lock_method']}.",
        "",
        "| prefill | workers | hpsearch trials/h (steady) | raw Optuna trials/h (steady) | ratio | overhead/trial hpsearch p50 (p99) | "
        "overhead/trial raw p50 (p99) | budget lock hold p50 / p99 | holds seen / trials | figures lock hold p50 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for prefill, rows in doc["prefills"].items():
        for count, row in rows.items():
            h, r = row["hpsearch"], row["raw_optuna"]
            lock = h.get("budget_lock", {})
            hold = lock.get("hold_seconds", {})
            capped = " (capped)" if h.get("capped") or r.get("capped") else ""
            out.append(
                f"| {int(prefill):,} | {count}{capped} | {num(h.get('steady_trials_per_hour'), 0)} | "
                f"{num(r.get('steady_trials_per_hour'), 0)} | {num(row.get('steady_ratio'), 2)} | "
                f"{seconds_text(h['overhead_per_trial_seconds']['p50'])} ({seconds_text(h['overhead_per_trial_seconds']['p99'])}) | "
                f"{seconds_text(r['overhead_per_trial_seconds']['p50'])} ({seconds_text(r['overhead_per_trial_seconds']['p99'])}) | "
                f"{seconds_text(hold.get('p50'))} / {seconds_text(hold.get('p99'))} | {lock.get('holds_seen', hold.get('n', '—'))} / {h['trials']} | "
                f"{seconds_text(h.get('figures_lock', {}).get('hold_seconds', {}).get('p50'))} |")
    out += [""] + [f"- {line}" for line in scale_facts(doc)]
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def scale_facts(doc) -> list[str]:
    """What the scale figures show, each sentence from a comparison of them."""
    facts = []
    prefills = doc["prefills"]
    sizes = sorted(prefills, key=int)
    counts = sorted({c for rows in prefills.values() for c in rows}, key=int)
    if len(sizes) > 1:
        for count in counts:
            low = prefills[sizes[0]].get(count, {}).get("hpsearch", {}).get("overhead_per_trial_seconds", {}).get("p50")
            high = prefills[sizes[-1]].get(count, {}).get("hpsearch", {}).get("overhead_per_trial_seconds", {}).get("p50")
            if low is None or high is None:
                continue
            change = high / low if low > 0 else float("inf")
            verdict = ("within 20%: independent of the history at these sizes" if change <= 1.2
                       else f"{change:.1f}× as much: it grows with the history")
            facts.append(f"With {count} worker{'s' if count != '1' else ''}, hpsearch's median overhead per trial was "
                         f"{seconds_text(low)} on {int(sizes[0]):,} prefilled trials and {seconds_text(high)} on "
                         f"{int(sizes[-1]):,}, {verdict}.")
    for prefill in sizes[:1]:  # what the process per trial alone allows, on the smallest history
        for count, row in prefills[prefill].items():
            h = row["hpsearch"].get("in_trial_seconds", {}).get("p50")
            r = row["raw_optuna"].get("in_trial_seconds", {}).get("p50")
            if h and r:
                ceiling = r / h
                facts.append(f"On {int(prefill):,} trials with {count} worker{'s' if count != '1' else ''}, an hpsearch trial "
                             f"itself (its start to its end: the trial process included) took {seconds_text(h)} against raw "
                             f"Optuna's {seconds_text(r)}: with no coordination overhead at all, hpsearch's throughput could "
                             f"reach about {ceiling:.2f} of raw Optuna's with trials this short"
                             + (", below the 0.9 target." if ceiling < 0.9 else "."))
                break
    biggest = sizes[-1] if sizes else None
    for count, row in (prefills.get(biggest) or {}).items():
        h = row["hpsearch"]
        hold = h.get("budget_lock", {}).get("hold_seconds", {}).get("p50")
        gap = h["overhead_per_trial_seconds"]["p50"]
        if hold is None or not gap:
            continue
        share = hold / gap
        where = ("most of it is spent outside the budget lock" if share < 0.5
                 else "the budget lock's hold is most of it")
        facts.append(f"On {int(biggest):,} trials with {count} worker{'s' if count != '1' else ''}, the budget lock's "
                     f"median hold ({seconds_text(hold)}) is {share:.0%} of the median overhead ({seconds_text(gap)}): "
                     f"{where}.")
        break
    if biggest is not None and int(biggest) < TEN_THOUSAND:
        facts.append(f"The targets set at 10,000 trials are not measured by this run: its largest prefill is {int(biggest):,}.")
    capped = [f"{int(p):,}/{c}" for p, rows in prefills.items() for c, row in rows.items()
              if row["hpsearch"].get("capped") or row["raw_optuna"].get("capped")]
    if capped:
        facts.append(f"{len(capped)} run{'s' if len(capped) > 1 else ''} (prefill/workers: {', '.join(capped)}) reached the "
                     f"{doc['settings']['cap_seconds']} s cap before their budget; their figures rest on the trials "
                     "finished by then.")
    mem = doc.get("memory")
    if mem:
        if mem["warm_rss_mib"] is None or len(mem["samples"]) < 3:
            facts.append(f"Memory: the long-running worker ran {mem['trials_run']} of {mem['trials_asked']} trials on "
                         f"{mem['prefill']:,} within the cap, too few for a sample after warm-up and a later one: "
                         "not measured.")
        else:
            ratio = mem["last_rss_mib"] / mem["warm_rss_mib"]
            verdict = "flat" if mem["flat"] else "not flat"
            tail = "" if mem["reached"] else f", but it ran only {mem['trials_run']} of the {mem['trials_asked']} trials asked"
            facts.append(f"Memory: the long-running worker's RSS went from {mem['warm_rss_mib']:.1f} MiB after "
                         f"{mem['step']} trials to {mem['last_rss_mib']:.1f} MiB after {mem['samples'][-1]['trials']} "
                         f"(×{ratio:.2f}) on {mem['prefill']:,} prefilled trials: {verdict}{tail}.")
    return facts
