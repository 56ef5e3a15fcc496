"""Benchmark 7, coarse to fine and confirmation: `launch --zoom` and `hpsearch confirm`, measured.

Benchmark 1's task and plan (Fashion-MNIST subset, space `small`, hpsearch's default sampler and
pruner, the same epochs per configuration), per seed:

- **Zoom.** A study given half the epoch budget, then a follow-up zoomed into its top 5 trials
  (search.analysis.zoom with the default slack), warm-started with its finished trials inside the
  new space and its top configurations queued first, exactly as `launch --zoom` builds it, for the
  other half. Against: one study with the whole budget, which is benchmark 1's "hpsearch
  (defaults)" run for that seed (reused from its saved runs when the plans match). Figure: the
  epochs each arm needs to reach the single study's final median best.
- **Confirm.** The pair's top 3 configurations (by their single runs) are re-trained under
  REEVAL fresh seeds each: the configuration with the best mean is "truly best". The single-run
  pick is the top-1 by its one run; the confirm pick is the best mean over its run plus CONFIRM
  confirmation seeds (disjoint from the re-evaluation seeds), as `hpsearch confirm --top 3
  --seeds 2` then `export` would pick. Figure: how often each pick is the truly best.

Each seed's runs are saved under benchmarks/results/zoom_confirm-runs/ and reused, as in benchmark 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from typing import Any

from benchmarks.harness import parallel
from benchmarks import search_efficiency as se
from benchmarks.harness import search_stats as stats
from benchmarks.harness.common import QUICK_RESULTS, REPO, RESULTS, log, write_result

TOP = 5  # `launch --zoom`'s default --top
CONFIRM_TOP = 3
CONFIRM = 2  # confirmation seeds per configuration (`hpsearch confirm --seeds 2`)
REEVAL = 5  # fresh seeds per configuration that decide which one is truly best
REEVAL_QUICK = 2


def run_pair(seed: int, budget: int, data, narrowing: dict) -> dict[str, Any]:
    """A study for half the budget, then its zoomed follow-up for the rest (one child process)."""
    import optuna

    from search.analysis.zoom import DEFAULT_SLACK, zoom_narrowing
    from search.core.ranking import ranked_trials
    from search.core.spec import make_pruner, make_sampler
    from search.service.zoom import warm_start
    from spaces import get_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = se.bench_spec(seed, budget, narrowing)
    first_study = optuna.create_study(direction="maximize", sampler=make_sampler(spec, seed=seed), pruner=make_pruner(spec))
    first = se._ask_tell(first_study, spec, budget // 2, data)
    used = first["events"][-1]["epochs_used"] if first["events"] else 0
    best = ranked_trials(first_study, spec)[:TOP]
    zoomed = zoom_narrowing(get_space("small", narrowing).dimensions, [t.params for t in best], DEFAULT_SLACK)
    next_spec = dataclasses.replace(spec, narrowing={**narrowing, **zoomed}, seed=seed * 1000 + 500)
    dims = get_space("small", next_spec.narrowing).dimensions
    second_study = optuna.create_study(direction="maximize", sampler=make_sampler(next_spec, seed=seed + 7919),
                                       pruner=make_pruner(next_spec))
    warm, _ = warm_start(second_study, first_study.trials, best, dims, "first")
    second = se._ask_tell(second_study, next_spec, budget - used, data)
    offset_s = first["seconds"]
    events = first["events"] + [dict(e, epochs_used=e["epochs_used"] + used, seconds=e["seconds"] + offset_s,
                                     trial=f"z{e['trial']}") for e in second["events"]]
    trials = {**first["trials"], **{f"z{k}": v for k, v in second["trials"].items()}}
    return {"events": events, "trials": trials, "seconds": first["seconds"] + second["seconds"],
            "zoom": {"narrowing": zoomed, "warm_start_trials": warm, "first_epochs": used}}


def run_confirm(seed: int, trials: dict[str, Any], data, narrowing: dict, reeval: int) -> dict[str, Any]:
    """Re-train the top 3 configurations: CONFIRM confirmation seeds, then `reeval` fresh seeds each."""
    import keras
    import optuna

    from search.core.spec import StudySpec
    from spaces import get_space
    from trainers.train import train

    complete = sorted(((k, t) for k, t in trials.items() if t.get("state") == "complete" and t.get("params")),
                      key=lambda kt: -kt[1]["dev_accuracy"])[:CONFIRM_TOP]
    spec = StudySpec(space="small", narrowing=narrowing, epochs=se.MAX_EPOCHS, seed=seed * 1000)
    space = get_space("small", narrowing)

    class Quiet:
        def report(self, epoch, metrics):
            pass

        def should_stop(self):
            return False

    out = []
    for rank, (key, info) in enumerate(complete):
        runs = {"confirm": [], "reeval": []}
        for kind, count, base in (("confirm", CONFIRM, 100_000), ("reeval", reeval, 200_000)):
            for k in range(count):
                config = space.suggest(optuna.trial.FixedTrial(info["params"]), spec.base_config(0))
                config = config.replace(training={"seed": base + seed * 100 + rank * 10 + k})
                keras.backend.clear_session()
                result = train(config, data, Quiet(), measure_latency=False)
                runs[kind].append(result.metrics.get("dev_accuracy"))
        out.append({"trial": key, "single": info["dev_accuracy"], **runs})
    return {"configurations": out}


def child(seed: int, plan: dict[str, Any], out: str, single_path: str | None) -> None:
    from benchmarks.harness import fashion_subset

    se.MAX_EPOCHS = plan["max_epochs"]
    data = fashion_subset.load(plan["train_images"])
    narrowing = plan.get("narrowing") or {}
    result: dict[str, Any] = {"seed": seed}
    saved = None
    if single_path and os.path.exists(single_path):
        with open(single_path, encoding="utf-8") as f:
            saved = json.load(f)
        if se.outdated(saved, se.HPSEARCH, plan["max_epochs"], plan["budget"]):
            saved = None  # benchmark 1's run of other defaults than today's
    if saved is not None:
        result["single"] = saved
        result["single_reused"] = os.path.relpath(single_path, REPO)
    else:
        result["single"] = se.run_hpsearch("defaults", "defaults", seed, plan["budget"], data, narrowing)
    result["pair"] = run_pair(seed, plan["budget"], data, narrowing)
    reeval = REEVAL_QUICK if plan.get("quick") else REEVAL
    result["confirm"] = run_confirm(seed, result["pair"]["trials"], data, narrowing, reeval)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)


def picks(configurations: list[dict[str, Any]]) -> dict[str, Any]:
    """Which configuration the single run, the confirmation and the re-evaluation each call best."""
    def mean(values):
        known = [v for v in values if v is not None and math.isfinite(v)]
        return statistics.fmean(known) if known else -math.inf

    truly = max(range(len(configurations)), key=lambda i: mean(configurations[i]["reeval"]))
    single = max(range(len(configurations)), key=lambda i: configurations[i]["single"])
    confirmed = max(range(len(configurations)), key=lambda i: mean([configurations[i]["single"], *configurations[i]["confirm"]]))
    return {"truly_best": truly, "single_pick": single, "confirm_pick": confirmed,
            "single_right": single == truly, "confirm_right": confirmed == truly}


def summarise(runs: dict[str, dict[str, Any]], plan: dict[str, Any]) -> dict[str, Any]:
    budget = plan["budget"]
    single_curves = [stats.best_at_each_epoch(r["single"]["events"], budget) for r in runs.values()]
    pair_curves = [stats.best_at_each_epoch(r["pair"]["events"], budget) for r in runs.values()]
    single_median, pair_median = stats.median_curve(single_curves), stats.median_curve(pair_curves)
    target = single_median[-1]["median"] if single_median else None
    reach = stats.first_epoch_at(pair_median, target)
    choice = {seed: picks(r["confirm"]["configurations"]) for seed, r in runs.items() if len(r["confirm"]["configurations"]) > 1}
    single_hits = sum(p["single_right"] for p in choice.values())
    confirm_hits = sum(p["confirm_right"] for p in choice.values())
    whole = len(runs) == len(plan["seeds"])
    return {
        "settings": {**{k: plan[k] for k in ("budget", "max_epochs", "train_images", "seeds")},
                     "narrowing": plan.get("narrowing") or None, "top": TOP, "confirm_top": CONFIRM_TOP,
                     "confirm_seeds": CONFIRM, "reeval_seeds": REEVAL_QUICK if plan.get("quick") else REEVAL,
                     "jobs": plan.get("jobs", 1)},
        "runs_done": len(runs),
        "runs_wall_seconds": round(sum(r.get("wall_seconds", 0.0) for r in runs.values()), 1),
        "runs_elapsed_seconds": se.elapsed([r.get("span") for r in runs.values()]),
        "per_seed": {seed: {"single_best": stats.analyse_run(r["single"])["best_dev_accuracy"],
                            "pair_best": stats.analyse_run(r["pair"])["best_dev_accuracy"],
                            "zoom": r["pair"]["zoom"], "single_reused": r.get("single_reused"),
                            "confirm": r["confirm"]["configurations"], "picks": choice.get(seed)}
                     for seed, r in runs.items()},
        "curves": {"one study": single_median, "study + zoomed follow-up": pair_median},
        "targets": {
            "zoom_reaches_single_best": {
                "target": "the zoomed pair reaches the single study's final median best within 70% of the epochs",
                "single_final_median": target, "epochs": reach, "fraction": reach / budget if reach else None,
                "met": (reach is not None and reach <= 0.7 * budget) if whole else None},
            "confirm_picks_truly_best_more_often": {
                "target": "confirm picks the truly best of the top 3 more often than the single-run pick",
                "single_hits": single_hits, "confirm_hits": confirm_hits, "seeds": len(choice),
                "met": (confirm_hits > single_hits) if whole else None}},
    }


def run_seed(seed: int, plan: dict[str, Any], folder: str, quick: bool, threads: int | None) -> dict[str, Any]:
    """One seed's study, zoomed pair and confirmation in a child process; saved whole or not at all."""
    path = os.path.join(folder, f"seed{seed}.json")
    single = se.run_path(se.runs_dir(plan, quick), se.HPSEARCH, seed)
    cmd = [sys.executable, "-m", "benchmarks.zoom_confirm", "--child", str(seed), "--plan", json.dumps(plan),
           "--single", single, "--out", path + ".part"]
    return parallel.run_child(cmd, path, threads, f"seed {seed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--hours", type=float, help="start no new seed after this many hours (saved seeds are kept)")
    parser.add_argument("--jobs", type=int, default=parallel.JOBS,
                        help=f"seeds at a time, one TensorFlow thread each (default {parallel.JOBS})")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    parser.add_argument("--single", help=argparse.SUPPRESS)
    parser.add_argument("--out", help="where to write the JSON (child: the seed's runs)")
    args = parser.parse_args(argv)
    if args.child is not None:
        child(args.child, json.loads(args.plan), args.out, args.single)
        return 0
    started = time.monotonic()
    plan = dict(se.QUICK if args.quick else se.FULL, quick=args.quick, jobs=args.jobs)
    folder = os.path.join(QUICK_RESULTS if args.quick else RESULTS, "zoom_confirm-runs", se.plan_key(plan))
    os.makedirs(folder, exist_ok=True)
    deadline = started + args.hours * 3600 if args.hours is not None else math.inf
    todo = [seed for seed in plan["seeds"] if not os.path.exists(os.path.join(folder, f"seed{seed}.json"))]
    if not parallel.run_parallel(todo, lambda seed, threads: run_seed(seed, plan, folder, args.quick, threads),
                                 lambda seed, run: log(f"zoom_confirm: seed {seed} done"),
                                 jobs=args.jobs, deadline=deadline, label="zoom_confirm"):
        return 1
    runs = {}
    for seed in plan["seeds"]:
        path = os.path.join(folder, f"seed{seed}.json")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                runs[str(seed)] = json.load(f)
    body = summarise(runs, plan)
    ran = sum(os.path.exists(os.path.join(folder, f"seed{seed}.json")) for seed in todo)  # before the deadline
    out = write_result("zoom_confirm", args.quick, body, started=started, path=args.out, ran=ran)
    log(f"zoom_confirm: wrote {out}")
    return 0

