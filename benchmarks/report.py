"""Render BENCHMARKS.md from the JSON results: one section and table per benchmark, with the
machine, the date and the exact command of each. Only this module writes the Markdown."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from benchmarks.common import QUICK_RESULTS, REPO, RESULTS
from benchmarks import report_pilot, report_search, report_zoom
from benchmarks.report_format import num, spread
from benchmarks.report_data import data, data_targets

ORDER = ["search_efficiency", "seed_lab", "pilot", "trainer_overhead", "coordination", "gpu", "scale", "data", "zoom_confirm"]
TITLES = {"search_efficiency": "1. search efficiency", "seed_lab": "1b. seed lab", "pilot": "1c. pilot for the defaults",
          "trainer_overhead": "2. trainer overhead",
          "coordination": "3. coordination", "gpu": "4. GPU", "scale": "5. scale", "data": "6. data", "zoom_confirm": "7. zoom and confirm"}


def load(folder: str) -> dict[str, dict[str, Any]]:
    out = {}
    for name in ORDER:
        path = os.path.join(folder, f"{name}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                out[name] = json.load(f)
    return out


def render(quick: bool = False) -> str:
    docs = load(QUICK_RESULTS if quick else RESULTS)
    if quick and "gpu" not in docs:  # the GPU numbers come from a GPU machine, not from this run
        docs.update({k: v for k, v in load(RESULTS).items() if k == "gpu"})
    lines = [
        "# Benchmarks" + (" (quick mode)" if quick else ""),
        "",
        "Generated from the JSON in `benchmarks/results/" + ("quick/" if quick else "") + "` by `benchmarks/report.py`; "
        "do not edit by hand. Run them with `make bench`, `make bench-quick` (smaller budgets: a smoke test of the "
        "machinery more than a measurement), or one of them with `.venv/bin/python -m benchmarks.run --only NAME`. "
        "Each section says when, by which command and on which machine its runs were made, and how busy the machine "
        "was; sections made on different days or machines are not comparable with one another.",
        "",
        *noise(docs),
    ]
    lines += targets_table(docs)
    for name in ORDER:
        if name in docs:
            lines += SECTIONS[name](docs[name])
        elif name == "gpu":
            lines += ["## 4. GPU", "", "No GPU result yet: run `python -m benchmarks.run --only gpu` on a GPU machine.", ""]
        elif name == "seed_lab":
            lines += ["## 1b. The seed lab", "", "Not run yet: `python -m benchmarks.run --only seed_lab` (a 60-minute study "
                      "on the full Fashion-MNIST, then export and retrain; about 75 minutes on 2 cores).", ""]
        elif name == "pilot":
            lines += ["## 1c. Pilot for the defaults", "", "Not run yet: `python -m benchmarks.run --only pilot` (four "
                      "variants of hpsearch's default sampler and pruner, five seeds each, against benchmark 1's runs of "
                      "today's defaults; about 2½ hours on 2 cores).", ""]
    path = os.path.join(REPO, "BENCHMARKS-quick.md" if quick else "BENCHMARKS.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return path


# ---- helpers ---------------------------------------------------------------------------------
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


def noise(docs: dict[str, dict]) -> list[str]:
    """How busy each benchmark's machine was, from its own record; nothing is assumed."""
    parts, busy = [], []
    for name in ORDER:
        doc = docs.get(name)
        if not doc:
            continue
        m = doc["machine"]
        during = m.get("load_during")
        load, cores = (during["median"] if during else m["load_average_at_start"][0]), m["cores_usable"]
        when = "median through its runs" if during else "when its results were written"
        parts.append(f"{TITLES[name]} {load:.2f} on {cores} cores ({when})")
        if load > cores:
            busy.append(TITLES[name])
    if not parts:
        return []
    text = "**Noise.** One-minute load average against the cores each benchmark could use: " + "; ".join(parts) + "."
    if busy:
        text += (f" Where the load exceeded the cores ({', '.join(busy)}), other processes were competing for the CPU: "
                 "read the ratios between contenders that ran back to back rather than absolute timings.")
    return [text, ""]


def met(flag) -> str:
    if flag is None:
        return "**not measured**"
    return "**met**" if flag else "**missed**"


def targets_table(docs) -> list[str]:
    rows = []
    se = docs.get("search_efficiency")
    if se:
        rows += report_search.search_targets(se)
    if docs.get("seed_lab"):
        rows += report_search.seed_lab_targets(docs["seed_lab"])
    if docs.get("zoom_confirm"):
        rows += report_zoom.zoom_targets(docs["zoom_confirm"])
    to = docs.get("trainer_overhead")
    if to:
        for key in ("train_throughput", "whole_epoch"):
            t = to["targets"][key]
            figures = "; ".join(f"{num(v, 2)} ({k.split(' (')[0] if '(' in k else k})" for k, v in t["per_dataset"].items())
            rows.append(("2 trainer overhead", t["target"], figures, t["met"]))
    co = docs.get("coordination")
    if co:
        t = co["targets"]["throughput"]
        rows.append(("3 coordination", t["target"], f"worst ratio {num(t['worst_ratio'], 2)}", t["met"]))
        t = co["targets"].get("overhead_with_tensorflow")
        if t:
            rows.append(("3 coordination", t["target"], f"{num(t['median_seconds'], 2)} s", t["met"]))
    sc = docs.get("scale")
    if sc:
        rows += scale_targets(sc)
    if docs.get("data"):
        rows += data_targets(docs["data"])
    if not rows:
        return []
    out = ["## Targets", "", "| benchmark | target | measured | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {met(d)} |" for a, b, c, d in rows]
    return out + [""]


# ---- sections --------------------------------------------------------------------------------
def search_efficiency(doc) -> list[str]:
    return report_search.search_efficiency(doc, provenance(doc), met)


def seed_lab(doc) -> list[str]:
    return report_search.seed_lab(doc, provenance(doc), met)


def trainer_overhead(doc) -> list[str]:
    s = doc["settings"]
    out = ["## 2. Trainer overhead", "", *provenance(doc)]
    out += [
        f"Model: {s['model']}, batch {s['batch_size']}, {s['optimizer']}, {s['precision']}, XLA {s['xla']}; "
        f"{s['epochs_per_run']} epochs per run, epochs {s['measured_epochs']} measured (the first traces); "
        f"{s['repeats']} repeats, sides alternating. hpsearch re-scores up to {s['train_eval_examples']} training "
        "images, train-dev and dev in inference mode every epoch; the bare fit validates on dev only.",
        "",
        "| data | measure | hpsearch | bare `fit` | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in doc["datasets"].items():
        ips = r["train_images_per_second"]
        out.append(f"| {name} | training images/s | {spread(ips['hpsearch'], 0)} | {spread(ips['bare_fit'], 0)} | "
                   f"{spread(r['train_throughput_ratio'], 3)} | ≥ 0.95 |")
        w = r["whole_epoch_seconds"]
        out.append(f"| {name} | whole epoch, seconds (bare: with validation_data) | {spread(w['hpsearch'], 3)} | "
                   f"{spread(w['bare_fit_with_validation'], 3)} | {spread(r['whole_epoch_ratio'], 3)} | ≤ 1.25 |")
    out += ["", "hpsearch's per-epoch evaluation, each part timed alone on the trained model (median seconds):", "",
            "| data | " + " | ".join(next(iter(doc["datasets"].values()))["hpsearch_evaluation_seconds"]) + " |",
            "|---|" + "---|" * len(next(iter(doc["datasets"].values()))["hpsearch_evaluation_seconds"])]
    for name, r in doc["datasets"].items():
        out.append(f"| {name} | " + " | ".join(spread(v, 3) for v in r["hpsearch_evaluation_seconds"].values()) + " |")
    out += ["", "hpsearch's training part is `model.fit` with hpsearch's callbacks (`trainers/train.py`); its "
                "per-epoch evaluation is three `evaluate` calls (a training sample, train-dev, dev) in inference mode.", ""]
    for name, r in doc["datasets"].items():
        out.append(f"- {name}: " + overhead_facts(r))
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def overhead_facts(r: dict) -> str:
    """What this dataset's figures show: each ratio against its target and its own spread, and where the time went."""
    facts = []
    ratio = r["train_throughput_ratio"]
    verdict = "meets" if ratio["median"] >= 0.95 else "misses"
    facts.append(f"training throughput {ratio['median']:.2f} of a bare fit {verdict} the 0.95 target; the per-repeat "
                 f"ratios span {ratio['min']:.2f}–{ratio['max']:.2f}")
    if verdict == "misses":
        width, short = ratio["max"] - ratio["min"], 0.95 - ratio["median"]
        facts[-1] += (f", a spread of {width:.2f} against a shortfall of {short:.2f}: "
                      + ("the repeats disagree by more than the miss" if width > short
                         else "the repeats agree more closely than the miss"))
    whole = r["whole_epoch_seconds"]
    extra = whole["hpsearch"]["median"] - whole["bare_fit_with_validation"]["median"]
    evaluation = sum(v["median"] for v in r["hpsearch_evaluation_seconds"].values())
    facts.append(f"a whole epoch took {extra:+.3f} s against a bare fit with validation_data (medians); hpsearch's "
                 f"evaluation parts, timed alone, add up to {evaluation:.3f} s")
    return "; ".join(facts) + "."


def coordination(doc) -> list[str]:
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


def gpu(doc) -> list[str]:
    out = ["## 4. GPU", "", *provenance(doc)]
    tp = doc.get("throughput", {})
    out += [f"Keras backend: {doc.get('backend')}. Models built by hpsearch's `trainers.model.build_model` (or stock "
            "`keras.applications` where the row says so), trained with `train_on_batch` on synthetic data already on "
            "the GPU, each step synchronised: this measures the model on the device, not `trainers.train`'s tf.data "
            "loop. SGD with momentum; first step (compilation) excluded and shown apart. GPU utilisation: NVML's share "
            "of time a kernel was running, sampled every 0.1 s during the timed steps.", ""]
    if "rows" in tp:
        out += ["| model | input | mode | batch | images/s | step (ms) | GPU utilisation | first step (s) |",
                "|---|---|---|---|---|---|---|---|"]
        for r in tp["rows"]:
            if "error" in r:
                out.append(f"| {r['model']} | {r['input']} | {r['mode']} | | failed: {r['error']} | | | |")
                continue
            util = f"{r['utilisation_percent']}%" if r.get("utilisation_percent") is not None else "—"
            out.append(f"| {r['model']} | {r['input']} | {r['mode']} | {r['batch']} | {r['images_per_second']:,.0f} | "
                       f"{r['step_ms']} | {util} | {r['first_step_seconds']} |")
    elif tp:
        out.append(f"Throughput part failed: {tp.get('error')}")
    st = doc.get("study")
    if st and "trials_per_hour" in st:
        out += ["", f"Short study: {st['finished']} trials of up to {st['epochs']} epochs ({st['dataset']}, space "
                    f"`{st['space']}`, {st['pruner']} pruner, {st['pruned']} pruned, {st['failed']} failed) served by "
                    f"{st['workers']} real hpsearch worker (a process per trial): **{num(st['trials_per_hour'], 0)} "
                    f"trials/hour**; trial process start-up {', '.join(map(str, st['startup_seconds']))} s; "
                    f"trial durations {', '.join(map(str, st['trial_seconds']))} s."]
        if st["trainer"] != "trainers.train:train":
            out.append(f"The trainer was `{st['trainer']}`, not hpsearch's own `trainers.train` (which needs TensorFlow, "
                       "absent on that machine): a Keras-only stand-in with hpsearch's model, optimizer and per-epoch "
                       "evaluation, fed numpy arrays instead of tf.data and without MixUp/CutMix. These figures are "
                       "that stand-in's.")
        if st["finished"] + st["failed"] < st["trials"] or st.get("fail_reasons", [""])[0].startswith("interrupted"):
            out.append(f"The study was stopped at its time limit with {st['finished']} of {st['trials']} trials finished "
                       "(the trial then running was interrupted and queued again, which is what `failed` counts), so "
                       "this rate rests on few trials.")
        timings = trial_timings(st.get("worker_log_tail", ""))
        if timings:
            out.append("From the worker's log (whole seconds): " + "; ".join(
                f"trial {n}: {t['to_first_epoch']:.0f} s from its start to its first epoch"
                + (f", then {seconds(t['rest'])} for epochs 2–{t['epochs']}" if t["epochs"] > 1 else "")
                for n, t in timings.items()) + ".")
    if st and "doesn't support `jit_compile=True`" in st.get("worker_log_tail", ""):
        out += ["", "Keras warned that a model does not support `jit_compile=True` and compiled it without XLA: a model "
                    "holding a layer that declares `supports_jit = False` (RandomRotation, RandomZoom, RandomTranslation, "
                    "RandomCrop, RandomShear, RandomPerspective, and RandAugment, which uses them) is compiled without "
                    "XLA whatever `jit_compile` says. hpsearch's `flip_crop`, `geometric` and `randaugment` policies "
                    "contain such layers."]
    stock = [r for r in tp.get("rows", []) if r["model"].startswith("ResNet50 (stock") and "images_per_second" in r]
    ours = [r for r in tp.get("rows", []) if r["model"] == "ResNet50 (hpsearch)" and r.get("policy") == "mixed_float16"
            and "images_per_second" in r]
    if stock and ours:
        out += ["", f"ResNet50 with mixed precision: the stock Keras model {stock[0]['images_per_second']:,.0f} images/s, "
                    f"hpsearch's {ours[0]['images_per_second']:,.0f} images/s. The two differ in that hpsearch keeps the "
                    "backbone's BatchNormalization in inference mode; no published reference figure was at hand to "
                    "compare either with."]
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


LOG_LINE = re.compile(r"^(\d\d):(\d\d):(\d\d) \w+ \[study=[^ ]+ trial=(\d+)\] (started|epoch (\d+)/\d+)")


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 1 else "under a second"


def trial_timings(log: str) -> dict[int, dict[str, float]]:
    """Per trial in a worker log: seconds from 'started' to its first epoch, and from there to its last."""
    seen: dict[int, dict[str, float]] = {}
    for line in log.splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        at = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
        t = seen.setdefault(int(m[4]), {})
        if m[5] == "started":
            t["start"] = at
        elif "start" in t:
            t.setdefault("first", at)
            t["last"], t["epochs"] = at, int(m[6])
    return {n: {"to_first_epoch": t["first"] - t["start"], "rest": t["last"] - t["first"], "epochs": t["epochs"]}
            for n, t in seen.items() if "first" in t}


# ---- 5. scale -------------------------------------------------------------------------------
TEN_THOUSAND = 10000


def seconds_text(value) -> str:
    return "—" if value is None else (f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s")


def scale_targets(doc) -> list[tuple]:
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


def scale(doc) -> list[str]:
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


SECTIONS = {"search_efficiency": search_efficiency, "seed_lab": seed_lab,
            "pilot": lambda doc: report_pilot.pilot(doc, provenance(doc)), "trainer_overhead": trainer_overhead,
            "coordination": coordination, "gpu": gpu, "scale": scale, "data": lambda doc: data(doc, provenance),
            "zoom_confirm": lambda doc: report_zoom.zoom_confirm(doc, provenance(doc), met)}


if __name__ == "__main__":
    import sys

    print(render(quick="--quick" in sys.argv))
