"""BENCHMARKS.md's section 1c: the pilot that chooses hpsearch's default sampler and pruner settings."""

from __future__ import annotations

from benchmarks.harness.report_format import elapsed_clause, p_value, provenance, quartiles


def _settings(s: dict) -> str:
    sampler = ", ".join(f"{k}={v}" for k, v in s["sampler"].items())
    pruner = dict(s["pruner"])
    name = pruner.pop("name")
    args = ", ".join(f"{k}={v}" for k, v in pruner.items())
    portfolio = "; the space's portfolio first" if s.get("portfolio") else ""
    return f"TPE({sampler}); {name}({args}){portfolio}"


def _baseline(s: dict, base: dict) -> str:
    if min(s["seeds"]) >= 100:  # PILOT_SEEDS: the pilot's own
        return ("The baseline is today's defaults run here on the same seeds, which benchmark 1 does not use; a variant "
                "uses the same seeds, so where it behaves as today it draws the same trials.")
    return (f"The baseline is benchmark 1's \"{base['name']}\" runs, paired by seed; a variant uses the same seeds, "
            f"so where it behaves as today it draws the same trials.")


def _trainer(ref: str | None) -> str:
    if not ref:
        return "Every run trains with hpsearch's own trainer (`trainers.train.train`)."
    return (f"Every run, the baseline's too, trains with the stand-in `{ref}`, not hpsearch's own trainer: it keeps "
            f"hpsearch's model, optimizer and per-epoch evaluation, but runs on the Keras backend at hand and applies no "
            f"MixUp/CutMix (configurations that draw them train without). Its figures compare the settings with one "
            f"another, not with benchmark 1's.")


def section(doc: dict) -> list[str]:
    s, base = doc["settings"], doc["baseline"]
    planned = doc["runs_planned"]
    out = ["## 1c. Pilot for the defaults", "", *provenance(doc),
           f"Benchmark 1's task and plan ({s['train_images']:,} Fashion-MNIST training images, {s['budget_epochs']} epochs per "
           f"run, at most {s['max_epochs_per_configuration']} per configuration, seeds {', '.join(map(str, s['seeds']))}) "
           f"and hpsearch's own loop, with one of today's default settings changed at a time. Today: "
           f"{_settings(s['today'])}. {_baseline(s, base)} {_trainer(s.get('trainer'))} "
           f"The variants' {sum(v['runs'] for v in doc['variants'].values())} runs took "
           f"{doc.get('runs_wall_seconds', 0) / 60:.0f} min of run time"
           f"{elapsed_clause(doc, '' if s.get('trainer') else ', one TensorFlow thread each')}.", ""]
    short = [f"{name}: {v['runs']}" for name, v in doc["variants"].items() if v["runs"] < planned]
    short += [f"{name}: 0" for name in doc.get("not_run", [])]
    if base["runs"] < planned or short or not doc["variants"]:
        out += [f"**Incomplete:** {planned} runs planned per row; baseline {base['runs']}"
                + (f"; {'; '.join(short)}" if short else "") + ". A row not in yet may still change a default.", ""]
    out += ["| settings | runs | best dev accuracy | epochs to near best | per-seed difference against today (points) | "
            "better / worse / tied | sign test p |", "|---|---|---|---|---|---|---|",
            f"| today's defaults | {base['runs']} | {quartiles(base['best_dev_accuracy'])} | "
            f"{quartiles(base['epochs_to_near_best'], digits=0)} | — | — | — |"]
    for name, v in doc["variants"].items():
        p = v["paired"]
        diffs = ", ".join(f"{100 * d:+.1f}" for d in p["differences"]) or "—"
        out.append(f"| {name} | {v['runs']} | {quartiles(v['best_dev_accuracy'])} | "
                   f"{quartiles(v['epochs_to_near_best'], digits=0)} | {diffs} | "
                   f"{p['peer_better']} / {p['hpsearch_better']} / {p['ties']} | {p_value(p['sign_test_p'])} |")
    return out + ["", _verdict(doc, planned), ""]


def _verdict(doc: dict, planned: int) -> str:
    """The pilot's rule: a complete row better in most seeds and worse in none replaces today's setting."""
    rule = "A variant replaces today's setting when all its seeds are in and it is better in most and worse in none"
    placebo = doc.get("placebo")

    def passes(v: dict) -> bool:
        return (v["runs"] == planned == doc["baseline"]["runs"] and 2 * v["paired"]["peer_better"] > planned
                and v["paired"]["hpsearch_better"] == 0)

    winners = [name for name, v in doc["variants"].items() if name != placebo and passes(v)]
    former = doc.get("former_default")
    history = (f" \"{former}\" is the setting today's replaced, by that rule; its row is the evidence."
               if former in doc["variants"] else "")
    if winners:
        verdict = f"{rule}: **{', '.join(winners)}** qualif{'ies' if len(winners) == 1 else 'y'}, and the default should change."
    else:
        verdict = f"{rule}: no row does, so today's defaults stand against the rows in."
    return verdict + history + _chance(doc["variants"].get(placebo), passes)


def _chance(row: dict | None, passes) -> str:
    """What the placebo row (today's settings, another sampler seed) says about the other rows' differences."""
    if not row or not row["paired"]["differences"]:
        return ""
    spread = max(abs(d) for d in row["paired"]["differences"])
    said = (f" The placebo row, today's settings with another sampler seed, differs from today's own runs by up to "
            f"{100 * spread:.1f} points on a seed (over {row['runs']} seed{'s' if row['runs'] != 1 else ''}): a row's "
            f"difference within that is what chance alone gives.")
    if passes(row):
        said += " The placebo itself passes the rule, so at this number of seeds the rule cannot tell a change from chance."
    return said


# What the section says before a first run.
NOT_RUN = ["## 1c. Pilot for the defaults", "",
           "Not run yet: `python -m benchmarks.run --only pilot` (variants of hpsearch's default sampler and pruner, "
           "five seeds each, against benchmark 1's runs of today's defaults; about 2½ hours on 2 cores).", ""]
