"""BENCHMARKS.md section 4: models and a short study on a GPU."""

from __future__ import annotations

import re

from benchmarks.harness.report_format import num, provenance


def section(doc) -> list[str]:
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


# What the section says before a first run.
NOT_RUN = ["## 4. GPU", "", "No GPU result yet: run `python -m benchmarks.run --only gpu` on a GPU machine.", ""]
