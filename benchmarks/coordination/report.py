"""BENCHMARKS.md section 3: workers coordinating through the storage, against raw Optuna."""

from __future__ import annotations

from benchmarks.harness.report_format import num, provenance, spread


def section(doc) -> list[str]:
    s = doc["settings"]
    out = ["## 3. Coordination", "", *provenance(doc)]
    out += [
        f"Trainer double: {s['epochs']} epochs of {s['epoch_seconds']} s (a {s['trial_sleep_seconds']:g}-second trial), "
        f"reporting every epoch; space `{s['space']}`, sampler TPE, pruner {s['pruner']}; {s['trials_per_worker']} trials "
        f"per worker; heartbeat {s['heartbeat_seconds']} s on PostgreSQL. Workers were started and ready before the "
        "study existed. Trials/hour: finished trials over the time from the first trial's start to the last one's end. "
        "Steady state: each worker's cycle (one trial's start to its next), one repeat each: median (min–max). "
        "Overhead per trial: the cycle less the training time (for hpsearch: spawning the trial process, its imports, "
        "recording the trial's attrs and note, and choosing the next trial; the dashboard figures are rewritten by a "
        "background thread in the runs made since they moved off the trial path).",
        "",
        "| storage | workers | hpsearch trials/h | raw Optuna trials/h | ratio | steady state, hpsearch | steady state, raw Optuna | "
        "overhead/trial hpsearch (s) | overhead/trial raw (s) | trial start-up (s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for storage, rows in doc["storages"].items():
        for count, row in rows.items():
            h, r = row["hpsearch"], row["raw_optuna"]
            out.append(f"| {storage} | {count} | {h['trials_per_hour']:,.0f} | {r['trials_per_hour']:,.0f} | "
                       f"{row['ratio']:.2f} | {spread(h['steady_trials_per_hour'], 0)} | "
                       f"{spread(r['steady_trials_per_hour'], 0)} | {spread(h['overhead_per_trial_seconds'], 2)} | "
                       f"{spread(r['overhead_per_trial_seconds'], 2)} | {spread(h.get('startup_seconds'), 2)} |")
    tf = doc.get("with_tensorflow")
    if tf:
        text = (f"With TensorFlow imported in every trial process (the double imports `trainers.train`, as the real "
                f"trainer does; journal storage, 1 worker, {s['tf_trials']} trials): overhead per trial "
                f"{spread(tf['overhead_per_trial_seconds'], 2)} s, of which the trial process's start-up (spawn to "
                f"trainer imported, the `startup_seconds` attr) {spread(tf['startup_seconds'], 2)} s.")
        if tf.get("import_seconds"):
            text += (f" Importing `trainers.train` alone in a fresh interpreter took {spread(tf['import_seconds'], 2)} s "
                     "(measured apart, same machine).")
        out += ["", text]
    worst = min(((row["ratio"], storage, count, row) for storage, rows in doc["storages"].items()
                 for count, row in rows.items()), default=None)
    if worst and worst[0] < 0.9:
        ratio, storage, count, row = worst
        h = row["hpsearch"]["overhead_per_trial_seconds"]
        steady = row["steady_ratio"]
        out += ["", f"The lowest whole-run ratio is {ratio:.2f} ({storage}, {count} worker{'s' if count != '1' else ''}). There the median steady-state "
                    f"cycle of hpsearch is {steady:.2f} of raw Optuna's "
                    + ("(within 10%)" if steady >= 0.9 else "(more than 10% slower)")
                    + f", and hpsearch's overhead per trial ranged {h['min']:.2f}–{h['max']:.2f} s around a median of "
                    f"{h['median']:.2f} s. What takes the rest of the difference is not measured apart here."]
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def targets(doc) -> list[tuple]:
    t = doc["targets"]["throughput"]
    rows = [("3 coordination", t["target"], f"worst ratio {num(t['worst_ratio'], 2)}", t["met"])]
    t = doc["targets"].get("overhead_with_tensorflow")
    if t:
        rows.append(("3 coordination", t["target"], f"{num(t['median_seconds'], 2)} s", t["met"]))
    return rows
