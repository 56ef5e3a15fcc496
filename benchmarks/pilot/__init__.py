"""Benchmark 1c, the pilot for hpsearch's default search settings (issues 11 and 26).

Benchmark 1's task, plan and loop (search_efficiency._ask_tell: one trial at a time, each epoch's
dev accuracy reported, the pruner never asked after the last epoch, as the worker's supervisor
does), with one of today's default settings changed at a time, on seeds of its own (PILOT_SEEDS,
which benchmark 1 does not report: a default chosen on benchmark 1's seeds would be tuned to the
benchmark). The baseline is today's defaults run here on the same seeds; a variant uses the same
sampler and trial seeds, so where it behaves like today's defaults it draws the same trials, and a
difference comes from the setting changed.

The rule, written before the runs: per seed, the variant's best dev accuracy minus the baseline's,
with a sign test; a variant replaces today's setting when all its seeds are in and it is better in
most of them and worse in none. Today's settings adopted by principle (issue 26: the sampler
learning from every bracket, start-up sized to the budget, the portfolio) stand against their
former selves by the same rule: if the former default or "no portfolio" qualifies, the change is
reverted. The setting a change replaces stays as a variant, its runs kept. A placebo row (today's
settings, another sampler seed) is held to no rule: its differences are what chance alone gives.

`python -m benchmarks.pilot [--only NAME]... [--seeds N] [--seed S]... [--hours H] [--jobs J] [--quick]`; runs
are saved under benchmarks/results/pilot-runs/ and reused, as benchmark 1's are.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from typing import Any

from benchmarks.harness import parallel
from benchmarks import search_efficiency as se
from benchmarks.harness import search_stats as stats
from benchmarks.harness.common import QUICK_RESULTS, RESULTS, log, write_result

# What `hpsearch launch` builds today with no flags (search.core.spec.make_sampler / make_pruner);
# a test keeps these equal to what those functions build. TPE's start-up trials, unless a variant
# sets them, are search.core.sampling.startup_trials of the plan's --trials; "hyperband" is
# hpsearch's WholeStudyHyperband (the sampler sees every bracket), "optuna-hyperband" Optuna's own.
TODAY_SAMPLER: dict[str, Any] = {"multivariate": True, "constant_liar": True}
TODAY_PRUNER: dict[str, Any] = {"name": "hyperband", "min_resource": 1, "reduction_factor": 3}
TODAY_PORTFOLIO = True  # the space's proven recipes queued first (search.service.studies.queue_portfolio)

# Seeds benchmark 1 does not use (it reports 0-4).
PILOT_SEEDS = [100, 101, 102, 103, 104]

# The default before this pilot chose Hyperband; its runs are the rows' old baseline, kept as a variant.
FORMER_DEFAULT = "median pruner (n_startup 3, warm-up 2; the default until this pilot)"
# The default before issue 26, adopted there by principle (the sampler should learn from every
# trial) with no pilot run yet: kept as a variant so that the pilot measures the change.
PER_BRACKET = "TPE per Hyperband bracket, 10 start-up trials (the default before issue 26)"

# The placebo: today's settings with the sampler's seed moved by one, the data, trainer and trial
# seeds unchanged. Runs pinned to one thread repeat themselves bit for bit, so a rerun of today's
# defaults would differ by nothing; a change that alters one trial's fate sends TPE down another
# path, and how far that alone moves the best dev accuracy is what this row measures. It is the
# yardstick for the other rows' differences, and never replaces a setting.
PLACEBO = "today's defaults, the sampler's seed moved by one (placebo)"

# One change each. Benchmark 1's budget buys about 30 full-length configurations: TPE's default
# 10 random start-up trials are a third of them; a warm-up of 1 lets the median pruner judge after
# the first of 3 epochs; no pruning spends every epoch on full-length trials.
VARIANTS: dict[str, dict[str, Any]] = {
    PLACEBO: {"sampler_seed_offset": 1},
    FORMER_DEFAULT: {"pruner": {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 2}},
    PER_BRACKET: {"sampler": {"n_startup_trials": 10}, "pruner": {"name": "optuna-hyperband", "min_resource": 1,
                                                                  "reduction_factor": 3}},
    "TPE with 5 start-up trials": {"sampler": {"n_startup_trials": 5}},
    "no portfolio": {"portfolio": False},
    "median pruner, warm-up 1": {"pruner": {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 1}},
    "no pruning": {"pruner": {"name": "none"}},
    # Issue 26's recipe knobs, each fixed in every trial (`launch --set`), values from their sources:
    # label smoothing 0.1 (Szegedy et al. 2016), Keras's default EMA momentum, random erasing at
    # p = 0.5 (Zhong et al. 2017). Whichever wins here becomes a space dimension or a default.
    # Issue 26's rung below an epoch (`launch --early-check`): the first verdict after a quarter or a
    # half of epoch 1 (5k training images: about 20 or 40 steps at batch 64), on 1,000 dev images.
    "early check after a quarter of epoch 1": {"early_check": 0.25},
    "early check after half of epoch 1": {"early_check": 0.5},
    "label smoothing 0.1 in every trial": {"fixed": {"training.label_smoothing": 0.1}},
    "weight averaging (EMA 0.99) in every trial": {"fixed": {"optimizer.ema_momentum": 0.99}},
    "random erasing 0.5 in every trial": {"fixed": {"augment.random_erasing": 0.5}},
}


def settings(variant: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Today's sampler and pruner settings with the variant's changes (a pruner of another name replaces today's)."""
    pruner = variant.get("pruner", {})
    if pruner.get("name", TODAY_PRUNER["name"]) != TODAY_PRUNER["name"]:
        merged_pruner = dict(pruner)
    else:
        merged_pruner = {**TODAY_PRUNER, **pruner}
    chosen = {"sampler": {**TODAY_SAMPLER, **variant.get("sampler", {})}, "pruner": merged_pruner,
              "portfolio": variant.get("portfolio", TODAY_PORTFOLIO)}
    if variant.get("fixed"):  # only where set: today's settings, and the runs saved under them, stay as they were
        chosen["fixed"] = dict(variant["fixed"])
    if variant.get("early_check"):
        chosen["early_check"] = variant["early_check"]
    if variant.get("sampler_seed_offset"):
        chosen["sampler_seed_offset"] = variant["sampler_seed_offset"]
    return chosen


def build(chosen: dict[str, dict[str, Any]], seed: int, max_epochs: int, trials: int):
    """The Optuna sampler and pruner for `settings(...)`, in a study whose --trials is `trials`."""
    import optuna

    from search.core.sampling import startup_trials

    sampler = optuna.samplers.TPESampler(seed=seed + chosen.get("sampler_seed_offset", 0),
                                         **{"n_startup_trials": startup_trials(trials), **chosen["sampler"]})
    pruner = _epoch_pruner(chosen["pruner"], max_epochs)
    if chosen.get("early_check"):  # as search.core.spec.make_pruner wraps it
        from search.core.early_check import EarlyCheckPruner

        pruner = EarlyCheckPruner(pruner, reduction_factor=chosen["pruner"].get("reduction_factor", 3))
    return sampler, pruner


def _epoch_pruner(settings: dict[str, Any], max_epochs: int):
    import optuna

    from search.core.sampling import WholeStudyHyperband

    options = dict(settings)
    name = options.pop("name")
    if name == "median":
        return optuna.pruners.MedianPruner(**options)
    if name == "hyperband":
        return WholeStudyHyperband(max_resource=max_epochs, **options)
    if name == "optuna-hyperband":
        return optuna.pruners.HyperbandPruner(max_resource=max_epochs, **options)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}")


def run_variant(spec: dict[str, Any], seed: int, budget: int, data, narrowing: dict) -> dict[str, Any]:
    """One variant's run in benchmark 1's child process, seeded as search_efficiency.run_hpsearch seeds the baseline."""
    import optuna

    from search.service.studies import queue_portfolio

    study_spec = se.bench_spec(seed, budget, narrowing, portfolio=spec["portfolio"], fixed=spec.get("fixed", {}),
                               early_check=spec.get("early_check", 0.0))
    sampler, pruner = build(spec, seed, se.MAX_EPOCHS, study_spec.trials)
    study = optuna.create_study(study_name=se.study_name(seed), direction="maximize", sampler=sampler, pruner=pruner)
    queued = queue_portfolio(study, study_spec)
    run = {**se._ask_tell(study, study_spec, budget, data), "portfolio": queued}
    run["settings"] = {k: spec[k] for k in ("sampler", "pruner", "portfolio", "fixed", "early_check", "sampler_seed_offset")
                       if k in spec}
    return run


def runs_dir(plan: dict[str, Any], quick: bool) -> str:
    return os.path.join(QUICK_RESULTS if quick else RESULTS, "pilot-runs", se.plan_key(plan))


def summarise(variants: dict[str, dict[str, Any]], baseline: dict[str, Any], plan: dict[str, Any]) -> dict[str, Any]:
    """Per variant: its runs against the baseline's, paired by seed."""
    base = {seed: stats.analyse_run(run) for seed, run in baseline.items()}
    rows = {}
    for name, runs in variants.items():
        mine = {seed: stats.analyse_run(run) for seed, run in runs.items()}
        rows[name] = {
            "settings": settings(VARIANTS[name]),
            "runs": len(runs),
            "best_dev_accuracy": stats.quartiles([r["best_dev_accuracy"] for r in mine.values()]),
            "epochs_to_near_best": stats.quartiles([r["epochs_to_near_best"] for r in mine.values()]),
            "paired": stats.paired({s: r["best_dev_accuracy"] for s, r in base.items()},
                                   {s: r["best_dev_accuracy"] for s, r in mine.items()}),
        }
    return {
        "settings": {"budget_epochs": plan["budget"], "max_epochs_per_configuration": plan["max_epochs"],
                     "train_images": plan["train_images"], "seeds": plan["seeds"], "jobs": plan.get("jobs", 1),
                     "today": {"sampler": TODAY_SAMPLER, "pruner": TODAY_PRUNER, "portfolio": TODAY_PORTFOLIO},
                     "trainer": plan.get("trainer")},
        "baseline": {"name": se.HPSEARCH, "runs": len(base),
                     "best_dev_accuracy": stats.quartiles([r["best_dev_accuracy"] for r in base.values()]),
                     "epochs_to_near_best": stats.quartiles([r["epochs_to_near_best"] for r in base.values()])},
        "variants": rows,
        "not_run": [name for name in VARIANTS if name not in variants],
        "former_default": FORMER_DEFAULT,
        "placebo": PLACEBO,
        "runs_planned": len(plan["seeds"]),
        "runs_wall_seconds": round(sum(r.get("wall_seconds", 0.0) for runs in variants.values() for r in runs.values()), 1),
        "runs_elapsed_seconds": se.elapsed([r.get("span") for runs in variants.values() for r in runs.values()]),
    }


def saved_variant(folder: str, name: str, seed: int) -> dict[str, Any] | None:
    """A variant's saved run, or None: none saved, or run with other settings (today's defaults moved since)."""
    path = se.run_path(folder, name, seed)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    return run if run.get("settings") == settings(VARIANTS[name]) and not se.unpaired(run, seed) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="a variant to run, by its whole name (repeatable; names hold commas); the report reads every saved run")
    parser.add_argument("--hours", type=float, help="start no new run after this many hours (saved runs are kept)")
    parser.add_argument("--jobs", type=int, default=parallel.JOBS,
                        help=f"runs at a time, one TensorFlow thread each (default {parallel.JOBS})")
    parser.add_argument("--trainer", help="module:function of a stand-in trainer (benchmarks.gpu.keras_trainer:train "
                                          "on a GPU machine without TensorFlow); its runs, the baseline's too, are kept apart")
    parser.add_argument("--seeds", type=int, help=f"how many of the pilot's seeds {PILOT_SEEDS} (default all)")
    parser.add_argument("--seed", type=int, action="append", choices=PILOT_SEEDS, metavar="SEED",
                        help="run only this one of the pilot's seeds (repeatable); the report reads every saved run")
    parser.add_argument("--out", help="where to write the JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    plan = dict(se.QUICK if args.quick else se.FULL, jobs=args.jobs)
    plan["seeds"] = PILOT_SEEDS[: args.seeds or (1 if args.quick else len(PILOT_SEEDS))]
    if args.trainer:
        plan["trainer"] = args.trainer
    chosen = args.only or list(VARIANTS)
    unknown = [n for n in chosen if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    folder = runs_dir(plan, args.quick)
    os.makedirs(folder, exist_ok=True)
    base_folder = folder  # today's defaults on the pilot's own seeds, beside the variants
    running = [seed for seed in plan["seeds"] if not args.seed or seed in args.seed]
    todo = [(seed, name) for seed in running for name in chosen if saved_variant(folder, name, seed) is None]
    todo += [(seed, se.HPSEARCH) for seed in running
             if se.saved_run(base_folder, se.HPSEARCH, seed, plan["max_epochs"], plan["budget"]) is None]

    def start(key, threads):
        seed, name = key
        if name == se.HPSEARCH:
            return se.run_one(name, seed, plan, se.run_path(base_folder, name, seed))
        spec = {"kind": "pilot", **settings(VARIANTS[name])}
        return se.run_one(name, seed, plan, se.run_path(folder, name, seed), spec=spec)

    def done(key, run):
        seed, name = key
        log(f"pilot: {name} seed {seed}: best dev {stats.analyse_run(run)['best_dev_accuracy']:.4f}")

    deadline = started + args.hours * 3600 if args.hours is not None else math.inf
    os.makedirs(base_folder, exist_ok=True)
    if not parallel.run_parallel(todo, start, done, jobs=args.jobs, deadline=deadline, label="pilot"):
        return 1
    baseline = {str(s): r for s in plan["seeds"] if (r := se.saved_run(base_folder, se.HPSEARCH, s, plan["max_epochs"], plan["budget"]))}
    variants = {}
    for name in VARIANTS:
        runs = {str(s): r for s in plan["seeds"] if (r := saved_variant(folder, name, s))}
        if runs:
            variants[name] = runs
    ran = sum((se.saved_run(base_folder, name, seed, plan["max_epochs"], plan["budget"]) if name == se.HPSEARCH
                else saved_variant(folder, name, seed)) is not None for seed, name in todo)  # before the deadline
    path = write_result("pilot", args.quick, summarise(variants, baseline, plan), started=started, path=args.out, ran=ran)
    log(f"pilot: wrote {path}")
    return 0

