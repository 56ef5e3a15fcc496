"""BENCHMARKS.md section 2: the trainer's overhead against a bare `fit`."""

from __future__ import annotations

from benchmarks.harness.report_format import num, provenance, spread


def section(doc) -> list[str]:
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


def targets(doc) -> list[tuple]:
    rows = []
    for key in ("train_throughput", "whole_epoch"):
        t = doc["targets"][key]
        figures = "; ".join(f"{num(v, 2)} ({k.split(' (')[0] if '(' in k else k})" for k, v in t["per_dataset"].items())
        rows.append(("2 trainer overhead", t["target"], figures, t["met"]))
    return rows
