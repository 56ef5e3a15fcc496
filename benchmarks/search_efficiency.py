"""Benchmark 1, search efficiency: hpsearch against KerasTuner at the same budget of training epochs.

Contenders, each on the hard digits variant (benchmarks.digits_hard) with at most MAX_EPOCHS
epochs per configuration and the same total budget of epochs:
- hpsearch: a real Optuna study with hpsearch's own sampler and pruner factories
  (search.core.spec.make_sampler / make_pruner), the real `small` space, the real trainers.train.train
  with its per-epoch inference-mode evaluation, reporting each epoch's dev accuracy through
  trial.report / should_prune exactly as the worker's supervisor does. Trials run in-process
  (not one process per trial): the process-per-trial cost is measured in benchmark 3, and
  here it would only add the same few seconds of TensorFlow import to every hpsearch trial.
- KerasTuner Hyperband and RandomSearch over the *same* space: spaces' build functions take any
  object with suggest_float/int/categorical, so an adapter over KerasTuner's `hp` samples the
  identical dimensions (learning rate on a log scale, optimizer, momentum through r, schedule,
  batch size, dropout, batch-norm placement, augmentation policy and magnitude, depth, width).
  The model (trainers.model.build_model), optimizer and schedule, tf.data pipelines and batch
  size are hpsearch's own; KerasTuner measures dev accuracy with fit's `validation_data`
  (inference mode too).

Every epoch any contender runs is counted against the budget; a trial still running when the
budget is spent is cut there. Each (contender, seed) runs in its own child process, one after
another, contenders interleaved per seed so that drift in the machine's load spreads evenly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from types import SimpleNamespace
from typing import Any

from benchmarks.common import child_env, log, summary, write_result

MAX_EPOCHS = 9  # the most any configuration trains (KerasTuner's max_epochs, hpsearch's --epochs); set per run
FACTOR = 3  # KerasTuner Hyperband's reduction factor (hpsearch's SHA/Hyperband pruners use 3 too)
NEAR = 0.005  # "within 0.5 points"
# The pruner "hpsearch with pruning" uses: the best of median / sha / hyperband in a pilot on
# this task (see BENCHMARKS.md); `--pruners` runs the others too.
BEST_PRUNER = "median"

# 75 epochs at 9 per configuration is one full KerasTuner Hyperband iteration (factor 3: brackets of
# 9x1 -> 3x3 -> 1x9, 5x3 -> 2x9 and 3x9 epochs); 11 epochs at 3 per configuration is one at max 3.
FULL = {"budget": 75, "max_epochs": 9, "seeds": [0, 1, 2]}
QUICK = {"budget": 11, "max_epochs": 3, "seeds": [0, 1, 2]}
# A pilot on this task (budget 75, seeds 0 and 1, best dev accuracy): median 0.879 / 0.774,
# sha 0.833 / 0.801, hyperband 0.714 / 0.848, no pruning 0.714 / 0.809. Median had the best mean.
PILOT = "pilot (budget 75, seeds 0 and 1), best dev accuracy: median 0.879/0.774, sha 0.833/0.801, hyperband 0.714/0.848"


def contenders(pruners: list[str], quick: bool) -> dict[str, dict[str, str]]:
    out = {f"hpsearch TPE + {p} pruner": {"kind": "hpsearch", "sampler": "tpe", "pruner": p} for p in pruners}
    out["hpsearch TPE, no pruning"] = {"kind": "hpsearch", "sampler": "tpe", "pruner": "none"}
    if not quick:
        out["hpsearch random, no pruning"] = {"kind": "hpsearch", "sampler": "random", "pruner": "none"}
    out["KerasTuner Hyperband"] = {"kind": "kerastuner", "tuner": "hyperband"}
    if not quick:
        out["KerasTuner RandomSearch"] = {"kind": "kerastuner", "tuner": "random"}
    return out


# ---- one run (in a child process) ----------------------------------------------------------
class Tracker:
    """Every epoch-end measurement of one run, in order, against the shared budget of epochs."""

    def __init__(self, budget: int):
        self.budget, self.used = budget, 0
        self.events: list[dict[str, Any]] = []
        self.trials: dict[str, dict[str, Any]] = {}
        self.t0 = time.perf_counter()

    @property
    def exhausted(self) -> bool:
        return self.used >= self.budget

    def epoch(self, trial: str, epoch: int, dev_accuracy: float | None) -> None:
        self.used += 1
        self.events.append({"trial": trial, "epoch": epoch, "dev_accuracy": dev_accuracy,
                            "epochs_used": self.used, "seconds": round(time.perf_counter() - self.t0, 3)})
        self.trials.setdefault(trial, {"epochs": 0})["epochs"] += 1


def run_hpsearch(sampler: str, pruner: str, seed: int, budget: int, data, warmup: int | None = None) -> dict[str, Any]:
    import keras
    import optuna
    from optuna.trial import TrialState

    from search.core.spec import StudySpec, make_pruner, make_sampler
    from spaces import get_space
    from trainers.train import COMPLETED, EARLY_STOPPING, train

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = StudySpec(space="small", epochs=MAX_EPOCHS, pruner=pruner, sampler=sampler, seed=seed * 1000, trials=10**6)
    pruner_obj = make_pruner(spec)
    if warmup is not None:  # a variant of hpsearch's median pruner, to test a fix to its warm-up
        pruner_obj = optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warmup)
    study = optuna.create_study(direction="maximize", sampler=make_sampler(spec, seed=seed), pruner=pruner_obj)
    space = get_space(spec.space)
    tracker = Tracker(budget)

    class StudyReporter:  # what search.service.trial_runner.supervise does with each epoch, minus the pipe
        def __init__(self, trial):
            self.trial, self.pruned, self.cut, self.epoch = trial, False, False, 0

        def report(self, epoch, metrics):
            self.epoch = epoch
            value = metrics.get(spec.objective)
            tracker.epoch(str(self.trial.number), epoch, value)
            if value is not None and math.isfinite(value):
                self.trial.report(value, epoch)
                self.pruned = self.trial.should_prune()

        def should_stop(self):
            self.cut = not self.pruned and tracker.exhausted and self.epoch < MAX_EPOCHS
            return self.pruned or self.cut

    while not tracker.exhausted:
        trial = study.ask()
        config = space.suggest(trial, spec.base_config(trial.number))
        reporter = StudyReporter(trial)
        keras.backend.clear_session()
        result = train(config, data, reporter, measure_latency=False)
        info = tracker.trials.setdefault(str(trial.number), {"epochs": 0})
        if reporter.pruned:
            study.tell(trial, state=TrialState.PRUNED)
            info["state"] = "pruned"
        elif result.stop_reason in (COMPLETED, EARLY_STOPPING):
            study.tell(trial, result.metrics["dev_accuracy"])
            info.update(state="complete", dev_accuracy=result.metrics["dev_accuracy"],
                        test_accuracy=result.metrics.get("test_accuracy"))
        else:  # cut by the budget, or diverged (NaN)
            study.tell(trial, state=TrialState.FAIL)
            info["state"] = "cut by budget" if reporter.cut else "failed"
    best = study.best_trial if any(t.state == TrialState.COMPLETE for t in study.trials) else None
    pick = None
    if best is not None:
        info = tracker.trials[str(best.number)]
        pick = {"trial": str(best.number), "dev_accuracy": info["dev_accuracy"], "test_accuracy": info["test_accuracy"],
                "rule": "hpsearch: the complete trial with the highest final-epoch dev accuracy"}
    return {"events": tracker.events, "trials": tracker.trials, "pick": pick,
            "seconds": round(time.perf_counter() - tracker.t0, 2), "pruner": describe_pruner(pruner_obj)}


def describe_pruner(pruner) -> dict[str, Any]:
    """The pruner's class and settings as the run used them, so the report reads them instead of assuming."""
    out: dict[str, Any] = {"class": type(pruner).__name__}
    for name in ("n_startup_trials", "n_warmup_steps", "interval_steps", "min_resource", "reduction_factor"):
        value = getattr(pruner, f"_{name}", None)
        if isinstance(value, (int, float, str)):
            out[name] = value
    return out


class KerasTunerTrial:
    """spaces' duck-typed trial over KerasTuner's `hp`: the same dimensions, ranges and scales."""

    def __init__(self, hp):
        self.hp = hp

    def suggest_float(self, name, low, high, *, log=False):
        return self.hp.Float(name, low, high, sampling="log" if log else "linear")

    def suggest_int(self, name, low, high, *, log=False):
        return self.hp.Int(name, low, high, sampling="log" if log else "linear")

    def suggest_categorical(self, name, choices):
        return self.hp.Choice(name, list(choices))


def run_kerastuner(kind: str, seed: int, budget: int, data) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from spaces import get_space
    from trainers.augment import label_mixing_layer
    from trainers.config import TrainConfig
    from trainers.data import pipeline
    from trainers.model import build_model
    from trainers.train import EVAL_BATCH, _Loop

    space = get_space("small")
    tracker = Tracker(budget)
    n = data.num_classes

    class SpaceHyperModel(kt.HyperModel):
        trial = None  # the KerasTuner trial being run (set by the tuner below)

        def config(self, hp) -> TrainConfig:
            adapter = KerasTunerTrial(hp)
            # Declare every dimension up front: KerasTuner has no conditional sampling without
            # conditional scopes, so unused ones (momentum under Adam) are drawn and ignored.
            for name, dim in space.dimensions.items():
                dim.suggest(adapter, name)
            values = {k: v for k, v in hp.values.items() if not k.startswith("tuner/")}
            run_seed = seed * 1000 + zlib.crc32(json.dumps(values, sort_keys=True).encode()) % 1000
            return space.suggest(adapter, TrainConfig().replace(training={"epochs": MAX_EPOCHS, "seed": run_seed}))

        def build(self, hp):
            config = self.config(hp)
            keras.utils.set_random_seed(config.training.seed)
            model = build_model(config, data.image_shape, n).model
            steps = math.ceil(len(data.train) / config.training.batch_size)
            # hpsearch's own optimizer and schedule (the same function trainers.train calls).
            optimizer = _Loop._optimizer(SimpleNamespace(config=config, steps_per_epoch=steps),
                                         config.optimizer.learning_rate, config.training.epochs)
            model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"],
                          jit_compile=False)
            return model

        def fit(self, hp, model, *args, callbacks=(), **kwargs):
            config = self.config(hp)
            t = config.training
            mixing = label_mixing_layer(config.augment, t.seed)
            train_ds = pipeline(data.train, n, t.batch_size, training=True, seed=t.seed, batch_transform=mixing)
            dev_ds = pipeline(data.dev, n, EVAL_BATCH)
            trial_id = self.trial.trial_id
            tracker.trials[trial_id] = {"epochs": 0, "parent": hp.values.get("tuner/trial_id"),
                                        "until_epoch": kwargs.get("epochs"), "state": "complete"}
            trace = _TraceCallback(trial_id, kwargs.get("epochs", MAX_EPOCHS))
            return model.fit(train_ds, validation_data=dev_ds, callbacks=[*callbacks, trace], **kwargs)

    class _TraceCallback(keras.callbacks.Callback):
        def __init__(self, trial_id, until_epoch):
            super().__init__()
            self.trial_id, self.until_epoch = trial_id, until_epoch

        def on_epoch_end(self, epoch, logs=None):
            tracker.epoch(self.trial_id, epoch + 1, float((logs or {}).get("val_accuracy", math.nan)))
            if tracker.exhausted and epoch + 1 < self.until_epoch:
                self.model.stop_training = True
                tracker.trials[self.trial_id]["state"] = "cut by budget"

    class Traced:
        def run_trial(self, trial, *args, **kwargs):
            self.hypermodel.trial = trial
            return super().run_trial(trial, *args, **kwargs)

    class TracedHyperband(Traced, kt.Hyperband):
        pass

    class TracedRandomSearch(Traced, kt.RandomSearch):
        pass

    hypermodel = SpaceHyperModel()
    folder = tempfile.mkdtemp(prefix="hpsearch-bench-kt-")
    common = {"objective": "val_accuracy", "seed": seed, "directory": folder, "project_name": kind, "overwrite": True}
    if kind == "hyperband":
        tuner = TracedHyperband(hypermodel, max_epochs=MAX_EPOCHS, factor=FACTOR, hyperband_iterations=1000, **common)
    else:
        tuner = TracedRandomSearch(hypermodel, max_trials=10**6, **common)
    # The budget of epochs ends the search: the oracle is told to stop once it is spent.
    populate = tuner.oracle.populate_space
    tuner.oracle.populate_space = lambda trial_id: (
        {"status": "STOPPED", "values": None} if tracker.exhausted else populate(trial_id))
    tracker.t0 = time.perf_counter()
    tuner.search(epochs=MAX_EPOCHS, verbose=0)
    seconds = round(time.perf_counter() - tracker.t0, 2)

    best = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models(1)[0]  # the best trial's best epoch (KerasTuner's checkpoint)
    test = model.evaluate(pipeline(data.test, n, EVAL_BATCH), verbose=0, return_dict=True)["accuracy"]
    pick = {"trial": best.trial_id, "dev_accuracy": float(best.score), "test_accuracy": float(test),
            "rule": "KerasTuner: the trial with the highest val_accuracy at any of its epochs (its best checkpoint)"}
    _mark_pruned_lineages(tracker.trials)
    return {"events": tracker.events, "trials": tracker.trials, "pick": pick, "seconds": seconds}


def _mark_pruned_lineages(trials: dict[str, dict[str, Any]]) -> None:
    """KerasTuner Hyperband continues a promoted trial as a new trial; a line never promoted to
    MAX_EPOCHS was, in effect, pruned: mark its trials so."""
    reached = {tid for tid, t in trials.items() if t.get("until_epoch") == MAX_EPOCHS}
    for tid in list(reached):
        parent = trials[tid].get("parent")
        while parent is not None and parent in trials:
            reached.add(parent)
            parent = trials[parent].get("parent")
    for tid, t in trials.items():
        if tid not in reached and t.get("state") == "complete":
            t["state"] = "pruned"


def child(name: str, spec: dict[str, str], seed: int, budget: int, max_epochs: int) -> dict[str, Any]:
    global MAX_EPOCHS
    from benchmarks import digits_hard

    MAX_EPOCHS = max_epochs
    data = digits_hard.load()
    if spec["kind"] == "hpsearch":
        return run_hpsearch(spec["sampler"], spec["pruner"], seed, budget, data, spec.get("warmup"))
    return run_kerastuner(spec["tuner"], seed, budget, data)


# ---- analysis --------------------------------------------------------------------------------
def running_best(events: list[dict[str, Any]]):
    best = -math.inf
    for e in events:
        value = e["dev_accuracy"]
        if value is not None and math.isfinite(value) and value > best:
            best = value
        yield best, e


def first_reaching(events, target: float) -> dict[str, Any] | None:
    for best, e in running_best(events):
        if best >= target - 1e-12:
            return e
    return None


def analyse_run(run: dict[str, Any], budget: int) -> dict[str, Any]:
    events = run["events"]
    values = [e["dev_accuracy"] for e in events if e["dev_accuracy"] is not None and math.isfinite(e["dev_accuracy"])]
    best = max(values) if values else None
    near = first_reaching(events, best - NEAR) if best is not None else None
    pruned = sum(t["epochs"] for t in run["trials"].values() if t.get("state") == "pruned")
    used = events[-1]["epochs_used"] if events else 0
    return {
        "best_dev_accuracy": best,
        "pick_dev_accuracy": run["pick"]["dev_accuracy"] if run["pick"] else None,
        "pick_test_accuracy": run["pick"]["test_accuracy"] if run["pick"] else None,
        "epochs_to_near_best": near["epochs_used"] if near else None,
        "seconds_to_near_best": near["seconds"] if near else None,
        "epochs_used": used,
        "seconds": run["seconds"],
        "pruned_epoch_fraction": pruned / used if used else None,
        "trials": len(run["trials"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pruners", default=BEST_PRUNER, help="comma-separated pruners for hpsearch TPE contenders")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 3)")
    parser.add_argument("--budget", type=int, help="total epochs per contender")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--max-epochs", type=int, help="most epochs per configuration")
    parser.add_argument("--out", help="where to write the JSON (child: the run's raw trace)")
    args = parser.parse_args(argv)

    if args.child:
        result = child(args.child, json.loads(args.spec), args.seed, args.budget, args.max_epochs)
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f)
        return 0

    started = time.monotonic()
    plan = dict(QUICK if args.quick else FULL)
    if args.budget:
        plan["budget"] = args.budget
    if args.seeds:
        plan["seeds"] = list(range(args.seeds))
    if args.max_epochs:
        plan["max_epochs"] = args.max_epochs
    pruners = [p.strip() for p in args.pruners.split(",") if p.strip()]
    entrants = contenders(pruners, args.quick)
    names = list(entrants)
    raw: dict[str, dict[str, Any]] = {name: {} for name in names}
    with tempfile.TemporaryDirectory(prefix="hpsearch-bench-se-") as tmp:
        for seed in plan["seeds"]:
            order = names[seed % len(names):] + names[: seed % len(names)]  # rotate: no contender always first
            for name in order:
                out = os.path.join(tmp, f"{seed}-{len(raw[name])}-{abs(hash(name))}.json")
                cmd = [sys.executable, "-m", "benchmarks.search_efficiency", "--child", name, "--spec",
                       json.dumps(entrants[name]), "--seed", str(seed), "--budget", str(plan["budget"]),
                       "--max-epochs", str(plan["max_epochs"]), "--out", out]
                t0 = time.monotonic()
                proc = subprocess.run(cmd, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if proc.returncode != 0:
                    log(f"search_efficiency: {name} seed {seed} failed:\n{proc.stderr[-3000:]}")
                    raise SystemExit(1)
                with open(out, encoding="utf-8") as f:
                    raw[name][str(seed)] = json.load(f)
                row = analyse_run(raw[name][str(seed)], plan["budget"])
                log(f"search_efficiency: {name} seed {seed}: best dev {row['best_dev_accuracy']:.4f}, "
                    f"{row['trials']} trials, {row['seconds']:.0f} s search ({time.monotonic() - t0:.0f} s with start-up)")

    per_run = {name: {seed: analyse_run(run, plan["budget"]) for seed, run in runs.items()} for name, runs in raw.items()}
    table = {name: {key: summary([r[key] for r in runs.values()]) for key in next(iter(runs.values()))}
             for name, runs in per_run.items()}
    targets = evaluate_targets(raw, per_run, pruners, plan["budget"])
    from benchmarks import digits_hard

    body = {
        "settings": {"budget_epochs": plan["budget"], "max_epochs_per_configuration": plan["max_epochs"], "factor": FACTOR,
                     "seeds": plan["seeds"], "dataset": digits_hard.DESCRIPTION, "space": "small",
                     "hpsearch_trials": "in-process (process-per-trial cost: see coordination)",
                     "best_pruner": pruners[0], "pruner_pilot": PILOT},
        "contenders": entrants,
        "table": table,
        "per_run": per_run,
        "targets": targets,
        "traces": {name: {seed: {"events": run["events"], "trials": run["trials"], "pick": run["pick"],
                                 "pruner": run.get("pruner")}
                          for seed, run in runs.items()} for name, runs in raw.items()},
    }
    path = write_result("search_efficiency", args.quick, body, started=started, path=args.out)
    log(f"search_efficiency: wrote {path}")
    return 0


def evaluate_targets(raw, per_run, pruners: list[str], budget: int) -> dict[str, Any]:
    pruned_name = f"hpsearch TPE + {pruners[0]} pruner"
    plain = raw["hpsearch TPE, no pruning"]
    fractions = []
    for seed, run in raw[pruned_name].items():
        goal = per_run["hpsearch TPE, no pruning"][seed]["best_dev_accuracy"] - NEAR
        hit = first_reaching(run["events"], goal)
        fractions.append(hit["epochs_used"] / budget if hit else None)
    reach = summary(fractions)
    # A seed whose pruned run never came within 0.5 points counts as infinitely late.
    reach_median = statistics.median([f if f is not None else math.inf for f in fractions]) if fractions else math.inf
    ours = summary([r["best_dev_accuracy"] for r in per_run[pruned_name].values()])["median"]
    theirs = summary([r["best_dev_accuracy"] for r in per_run["KerasTuner Hyperband"].values()])["median"]
    return {
        "pruning_reaches_unpruned_best": {
            "target": "with pruning, hpsearch comes within 0.5 points of the no-pruning best using at most 40% of the epochs",
            "fraction_of_budget": reach, "median_counting_misses_as_never": None if math.isinf(reach_median) else reach_median,
            "met": reach_median <= 0.40, "seeds_compared": sorted(plain)},
        "best_vs_kerastuner_hyperband": {
            "target": "at equal budget, hpsearch's median best dev accuracy is at least KerasTuner Hyperband's",
            "hpsearch": ours, "kerastuner_hyperband": theirs, "met": ours is not None and theirs is not None and ours >= theirs},
    }


if __name__ == "__main__":
    raise SystemExit(main())
