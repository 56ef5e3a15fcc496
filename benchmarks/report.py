"""Render BENCHMARKS.md from the JSON results: one section and table per benchmark, with the
machine, the date and the exact command of each. Only this module writes the Markdown."""

from __future__ import annotations

import json
import os
from typing import Any

from benchmarks.common import QUICK_RESULTS, REPO, RESULTS

ORDER = ["search_efficiency", "trainer_overhead", "coordination", "gpu"]
NVIDIA_NOTE = (
    "For scale (quoted from memory, approximate: NVIDIA's pages could not be reached from here): NVIDIA's "
    "Deep Learning Examples list roughly 2,500-3,000 images/s per A100 80GB for ResNet-50 v1.5 training with "
    "mixed precision at batch 256, on real ImageNet through DALI; its H100 SXM figures are roughly 1.5-2.5 times "
    "an A100's, about 4,000-7,000 images/s per GPU, the top of that range from MLPerf-tuned code."
)


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
        "do not edit by hand. Run them with `make bench` (about 35 minutes on 2 cores), `make bench-quick` "
        "(under 10 minutes: smaller budgets, a smoke test of the machinery more than a measurement), or one of them "
        "with `.venv/bin/python -m benchmarks.run --only NAME`. Each benchmark runs its contenders one after another "
        "in the same process tree on the same machine, so their ratios mean something even where the absolute "
        "numbers move.",
        "",
        "**Noise.** The development machine is shared: other engineers' test suites ran on its 2 cores during these "
        "runs (each section gives the load average when it started). Absolute timings are noisy; ratios between "
        "contenders that ran back to back are the numbers to read.",
        "",
    ]
    lines += targets_table(docs)
    for name in ORDER:
        if name in docs:
            lines += SECTIONS[name](docs[name])
        elif name == "gpu":
            lines += ["## 4. GPU", "", "No GPU result yet: run `python -m benchmarks.run --only gpu` on a GPU machine.", ""]
    path = os.path.join(REPO, "BENCHMARKS-quick.md" if quick else "BENCHMARKS.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return path


# ---- helpers ---------------------------------------------------------------------------------
def num(value, digits: int = 3, pct: bool = False) -> str:
    if value is None:
        return "—"
    if pct:
        return f"{100 * value:.{max(0, digits - 2)}f}%"
    if isinstance(value, float) and abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def spread(s: dict | None, digits: int = 3, pct: bool = False) -> str:
    """'median (min–max)' of a summary; notes values never reached."""
    if not s or s.get("median") is None:
        return "not reached" if s and s.get("missing") else "—"
    text = num(s["median"], digits, pct)
    if s.get("n", 1) > 1 and s["min"] != s["max"]:
        text += f" ({num(s['min'], digits, pct)}–{num(s['max'], digits, pct)})"
    if s.get("missing"):
        text += f", not reached in {s['missing']} of {s['n']}"
    return text


def provenance(doc: dict) -> list[str]:
    m = doc["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())
    gpu = f"; GPU: {', '.join(m['gpus'])}" if m.get("gpus") else ""
    return [
        f"- Command: `{doc['command']}`",
        f"- Date: {doc['date']} (took {doc['seconds'] / 60:.1f} min){' — quick mode' if doc.get('quick') else ''}",
        f"- Machine: {m['cpu']}, {m['cores_usable']} usable cores, {m['memory_gib']} GiB; load average at start "
        f"{', '.join(map(str, m['load_average_at_start']))}{gpu}; Python {m['python']}, {versions}",
        "",
    ]


def met(flag) -> str:
    return "**met**" if flag else "**missed**"


def targets_table(docs) -> list[str]:
    rows = []
    se = docs.get("search_efficiency")
    if se:
        t = se["targets"]["pruning_reaches_unpruned_best"]
        rows.append(("1 search efficiency", t["target"], f"median {spread(t['fraction_of_budget'], 3, pct=True)} of the budget", t["met"]))
        t = se["targets"]["best_vs_kerastuner_hyperband"]
        rows.append(("1 search efficiency", t["target"], f"{num(t['hpsearch'])} vs {num(t['kerastuner_hyperband'])}", t["met"]))
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
    if not rows:
        return []
    out = ["## Targets", "", "| benchmark | target | measured | |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {met(d)} |" for a, b, c, d in rows]
    return out + [""]


# ---- sections --------------------------------------------------------------------------------
def search_efficiency(doc) -> list[str]:
    s = doc["settings"]
    out = ["## 1. Search efficiency", "", *provenance(doc)]
    out += [
        f"Task: {s['dataset']}. Space `{s['space']}` for every contender (KerasTuner samples the same dimensions "
        f"through an adapter). Budget: {s['budget_epochs']} training epochs per contender and seed, at most "
        f"{s['max_epochs_per_configuration']} epochs per configuration; seeds {', '.join(map(str, s['seeds']))}. "
        "hpsearch's trials run in-process: the process-per-trial cost is measured in benchmark 3. "
        f"hpsearch's pruned contender uses the {s['best_pruner']} pruner, the best in a {s.get('pruner_pilot', 'pilot')}.",
        "",
        "Best dev accuracy: the highest dev accuracy any contender measured at the end of any epoch (one rule for all). "
        "Pick: the configuration each contender itself returns as best (hpsearch: the complete trial with the best "
        "final-epoch dev accuracy; KerasTuner: the trial with the best val_accuracy at any epoch, restored from its "
        "checkpoint), and that model's test accuracy. Near best: epochs and seconds until the contender first came "
        "within 0.5 points of its own final best dev accuracy. Pruned: the share of epochs spent on trials that were "
        "stopped early (for KerasTuner Hyperband, the lines of trials never promoted to the full epochs). Median "
        "(min–max) over seeds.",
        "",
        "| contender | best dev accuracy | pick: dev | pick: test | epochs to near best | seconds to near best | pruned epochs | trials | search seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, row in doc["table"].items():
        out.append(f"| {name} | {spread(row['best_dev_accuracy'])} | {spread(row['pick_dev_accuracy'])} | "
                   f"{spread(row['pick_test_accuracy'])} | {spread(row['epochs_to_near_best'], 0)} | "
                   f"{spread(row['seconds_to_near_best'], 0)} | {spread(row['pruned_epoch_fraction'], 2, pct=True)} | "
                   f"{spread(row['trials'], 0)} | {spread(row['seconds'], 0)} |")
    t = doc["targets"]
    out += ["", f"- {t['pruning_reaches_unpruned_best']['target']}: {met(t['pruning_reaches_unpruned_best']['met'])} — "
                f"per seed, the share of the budget hpsearch with the {s['best_pruner']} pruner used before its best came "
                f"within 0.5 points of the no-pruning contender's best on the same seed: "
                f"{spread(t['pruning_reaches_unpruned_best']['fraction_of_budget'], 3, pct=True)}.",
            f"- {t['best_vs_kerastuner_hyperband']['target']}: {met(t['best_vs_kerastuner_hyperband']['met'])} — "
            f"{num(t['best_vs_kerastuner_hyperband']['hpsearch'])} against {num(t['best_vs_kerastuner_hyperband']['kerastuner_hyperband'])}."]
    first, pruned = _pruned_at_first_epoch(doc, f"hpsearch TPE + {s['best_pruner']} pruner")
    if pruned:
        out.append(f"- Of the {pruned} trials hpsearch's {s['best_pruner']} pruner stopped, {first} ({first / pruned:.0%}) "
                   "were stopped at their first epoch, when most configurations of this task are still near chance "
                   "(0.1) and the good ones are not yet distinguishable: search/spec.py builds "
                   "`MedianPruner(n_startup_trials=3, n_warmup_steps=1)`, and Optuna prunes from `step == n_warmup_steps`, "
                   "while hpsearch numbers epochs from 1, so there is no warm-up at all.")
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def _pruned_at_first_epoch(doc, name: str) -> tuple[int, int]:
    first = pruned = 0
    for run in doc.get("traces", {}).get(name, {}).values():
        for trial, info in run["trials"].items():
            if info.get("state") == "pruned":
                pruned += 1
                first += info.get("epochs") == 1
    return first, pruned


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
    out += ["", "hpsearch's training part is `model.fit` itself with one epoch-level callback (no per-batch hook), so "
                "its training throughput can differ from a bare fit only by noise; read the ratio against the spread of "
                "the per-repeat ratios. The whole-epoch difference is the evaluation: three separate `evaluate` calls "
                "per epoch, each with a fixed cost of building an iterator and its callbacks (train-dev and dev take "
                "about as long as each other though dev has 50% more images), plus re-scoring up to "
                f"{s['train_eval_examples']} training images, which on small data is the whole training set."]
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


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
        "recording the trial's attrs, note and dashboard figures, and choosing the next trial).",
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
        out += ["", f"With TensorFlow imported in every trial process (the double imports `trainers.train`, as the real "
                    f"trainer does; journal storage, 1 worker, {s['tf_trials']} trials): overhead per trial "
                    f"{spread(tf['overhead_per_trial_seconds'], 2)} s, of which the trial process's start-up (spawn to "
                    f"trainer imported, the `startup_seconds` attr) {spread(tf['startup_seconds'], 2)} s. That start-up "
                    "is the import of TensorFlow and Keras in every new trial process: the trial forkserver "
                    "(search/trial_runner.py) preloads only `search.trial_process`, `trainers.config` and `yaml`."]
    worst = min(((row["ratio"], storage, count, row) for storage, rows in doc["storages"].items()
                 for count, row in rows.items()), default=None)
    if worst and worst[0] < 0.9:
        ratio, storage, count, row = worst
        h = row["hpsearch"]
        out += ["", f"Where the whole-run ratio drops ({storage}, {count} workers: {ratio:.2f}), the steady-state cycles "
                    f"still match raw Optuna ({row['steady_ratio']:.2f} of its median): the loss is at the start of the run, "
                    f"where a few cycles take up to {h['overhead_per_trial_seconds']['max']:.1f} s over the training "
                    f"time against a median of {h['overhead_per_trial_seconds']['median']:.2f} s. A worker pays once per "
                    "study what raw Optuna does not: idle workers find a new study by polling every 2 s (so they join "
                    "over up to 2 s), and each starts its trial forkserver at its first trial; with "
                    f"{count} workers starting together on {s['cores']} cores these one-off costs queue for the CPU, and "
                    f"with {s['trials_per_worker']} trials per worker they are a large share of the run (most likely "
                    "cause, from these timings; not isolated separately). Over a study of many trials per worker they "
                    "fade into the steady state."]
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def gpu(doc) -> list[str]:
    out = ["## 4. GPU", "", *provenance(doc)]
    tp = doc.get("throughput", {})
    out += [f"Keras backend: {doc.get('backend')}. Synthetic data already on the GPU (`train_on_batch`, each step "
            "synchronised); SGD with momentum; first step (compilation) excluded and shown apart. GPU utilisation: "
            "NVML's share of time a kernel was running, sampled every 0.1 s during the timed steps.", ""]
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
                    f"{st['workers']} real hpsearch worker, trainer `{st['trainer']}`: **{num(st['trials_per_hour'], 0)} "
                    f"trials/hour**; trial process start-up {', '.join(map(str, st['startup_seconds']))} s; "
                    f"trial durations {', '.join(map(str, st['trial_seconds']))} s."]
        if st["finished"] + st["failed"] < st["trials"] or st.get("fail_reasons", [""])[0].startswith("interrupted"):
            out.append(f"The study was stopped at its time limit with {st['finished']} of {st['trials']} trials finished "
                       "(the trial then running was interrupted and queued again, which is what `failed` counts), so "
                       "this rate rests on few trials. Each finished trial spent most of its time starting Keras on JAX "
                       "and compiling with XLA in its fresh trial process; its 5 epochs on 1,080 digits took about a "
                       "second.")
    small = [r for r in tp.get("rows", []) if r["model"].startswith("small CNN") and "images_per_second" in r]
    big = [r["utilisation_percent"] for r in tp.get("rows", []) if r.get("input") == "224x224"
           and r.get("utilisation_percent") is not None]
    if small:
        out.append("")
        out.append(f"The small CNN keeps the GPU busy only {min(r['utilisation_percent'] for r in small):.0f}-"
                   f"{max(r['utilisation_percent'] for r in small):.0f}% of the time: its steps last a few milliseconds, "
                   "so the per-step dispatch from Python and the synchronisation after each `train_on_batch` dominate; "
                   "larger batches or `steps_per_execution` would fill it."
                   + (f" The 224x224 networks keep it {min(big):.0f}-{max(big):.0f}% busy." if big else ""))
    if st and "doesn't support `jit_compile=True`" in st.get("worker_log_tail", ""):
        out += ["", "The study's trials that did not finish hit a Keras rule: a model holding a layer that declares "
                    "`supports_jit = False` (RandomRotation, RandomZoom, RandomTranslation, RandomCrop, RandomShear, "
                    "RandomPerspective, and RandAugment, which uses them) is compiled without XLA, whatever "
                    "`jit_compile` says (Keras warns once). With JAX that means op-by-op eager execution, minutes per "
                    "epoch; with TensorFlow it means a tf.function without XLA. hpsearch's `flip_crop`, `geometric` "
                    "and `randaugment` policies contain such layers, so on a GPU they run without XLA even when "
                    "`training.xla` is on."]
    stock = [r for r in tp.get("rows", []) if r["model"].startswith("ResNet50 (stock") and "images_per_second" in r]
    ours = [r for r in tp.get("rows", []) if r["model"] == "ResNet50 (hpsearch)" and r.get("policy") == "mixed_float16"
            and "images_per_second" in r]
    out += ["", f"- {NVIDIA_NOTE}"]
    if stock:
        out.append(f"- Here the stock Keras ResNet50 trained at {stock[0]['images_per_second']:,.0f} images/s with mixed "
                   "precision and XLA (BatchNormalization training, synthetic data already on the GPU, so no input "
                   "pipeline): inside NVIDIA's H100 range, at its lower half. "
                   + (f"hpsearch's ResNet50 ran at {ours[0]['images_per_second']:,.0f} images/s: it keeps the "
                      "backbone's BatchNormalization in inference mode (no batch statistics to compute)." if ours else ""))
    for note in doc.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


SECTIONS = {"search_efficiency": search_efficiency, "trainer_overhead": trainer_overhead,
            "coordination": coordination, "gpu": gpu}


if __name__ == "__main__":
    import sys

    print(render(quick="--quick" in sys.argv))
