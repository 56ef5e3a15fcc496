"""Benchmark 1, search efficiency: hpsearch against its peers on Fashion-MNIST at one budget of epochs.

Task (benchmarks.harness.fashion_subset): real Fashion-MNIST, 28x28, a stratified training subset, dev
and train-dev held out of the official training split, and the official 10,000-image test split
for the test accuracy of each contender's pick. Every contender searches the real `small` space
with the real trainer (trainers.train.train, or for KerasTuner hpsearch's own model, optimizer,
schedule and input pipeline under KerasTuner's fit), at most MAX_EPOCHS epochs per
configuration and the same total budget of epochs:

- hpsearch with its defaults: the sampler and pruner that `hpsearch launch` builds with no flags
  (search.core.spec.make_sampler / make_pruner), each epoch's dev accuracy reported through
  trial.report / should_prune as the worker's supervisor does (never asked after the last epoch). Trials run in-process: the
  process-per-trial cost is measured in benchmark 3.
- raw Optuna as its documentation shows it: `study.optimize` with TPESampler() and
  HyperbandPruner(min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=3). Optuna 5's
  TPESampler() is multivariate with a constant liar by default, as hpsearch's is: one trial at a
  time and seeded alike, the two draw the same configurations until their pruners part them, so
  this pair measures the pruner and the loop more than the sampler.
- random search without pruning (hpsearch's RandomSampler, NopPruner): the baseline.
- KerasTuner Hyperband and BayesianOptimization over the same dimensions: spaces' build
  functions take any object with suggest_float/int/categorical, so an adapter over KerasTuner's
  `hp` samples them with the same ranges and scales.

Every epoch any contender runs is counted against the budget; a trial still running when it is
spent is cut there. Each (contender, seed) runs in its own child process; contenders are rotated
per seed so that drift in the machine's load spreads evenly. Each finished run is saved at once
under benchmarks/results/search_efficiency-runs/ and reused by the next invocation with the same
plan (`--fresh` discards them): a full run takes longer than one sitting on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import zlib
from types import SimpleNamespace
from typing import Any

from benchmarks.harness import parallel
from benchmarks.harness import search_stats as stats
from benchmarks.harness.common import QUICK_RESULTS, REPO, RESULTS, log, write_result

MAX_EPOCHS = 3  # the most any configuration trains (KerasTuner's max_epochs, hpsearch's --epochs); set per run
# "module:function" of a trainer standing in for trainers.train.train (None: the real one), set per run:
# the pilot's runs on a GPU machine without TensorFlow use benchmarks.gpu.keras_trainer:train.
TRAINER: str | None = None
FACTOR = 3  # KerasTuner Hyperband's reduction factor (Optuna's HyperbandPruner and hpsearch's SHA use 3 too)

# `small` narrowed to its CPU-cheap corner. Measured on these 2 cores (5,000 images, one epoch's fit):
# 1-2 blocks from 16-32 filters take 2-6 s; 3 blocks from 32 filters 11 s, 2 blocks from 64 filters
# 15 s, and the space's widest (4 blocks from 128) over a minute. At full range the 25 runs below
# would take 60-90 hours; narrowed, about 3 hours by the clock (BENCHMARKS.md: not yet the 90
# minutes, the per-epoch evaluation costs as much again). Every contender gets the same.
CPU_CHEAP = {"depth": {"low": 1, "high": 2}, "width": {"low": 16, "high": 32}}
CPU_CHEAP_WHY = ("its CPU-cheap corner: one epoch on 5,000 images takes 2-6 s there, against 11-15 s for 3 blocks "
                 "from 32 filters or 2 from 64 and over a minute for the widest, where the plan would take 60-90 hours "
                 "on these 2 cores (probe of 2026-11-24)")
# Full: 30 full-length configurations' worth of epochs per contender and seed (three epochs each:
# one KerasTuner Hyperband bracket of 1 -> 3 at factor 3), 5 seeds: 25 runs, two at a time.
FULL = {"budget": 90, "max_epochs": 3, "seeds": [0, 1, 2, 3, 4], "train_images": 5000, "narrowing": CPU_CHEAP}
# Quick: the machinery end to end (every contender, one seed, two short configurations): a smoke test.
QUICK = {"budget": 4, "max_epochs": 2, "seeds": [0], "train_images": 1000, "narrowing": CPU_CHEAP}

# TensorFlow threads of every search run (run_one): one, so a run repeats bit for bit.
SEARCH_THREADS = 1

HPSEARCH = "hpsearch (defaults)"
RANDOM = "random search, no pruning"
CONTENDERS = {
    HPSEARCH: {"kind": "hpsearch", "sampler": "defaults", "pruner": "defaults"},
    "raw Optuna (TPE + Hyperband)": {"kind": "optuna"},
    RANDOM: {"kind": "hpsearch", "sampler": "random", "pruner": "none"},
    "KerasTuner Hyperband": {"kind": "kerastuner", "tuner": "hyperband"},
    "KerasTuner BayesianOptimization": {"kind": "kerastuner", "tuner": "bayesian"},
}


def study_name(seed: int) -> str:
    """The name of every Optuna study of one seed, whichever contender or pilot row runs it.

    Optuna's Hyperband puts a trial in a bracket by crc32 of the study's name and the trial's number
    (optuna/pruners/_hyperband.py, `_get_bracket_id`): an unnamed study gets a random name, so the
    same trial lands in another bracket, is judged against other trials and pruned or kept
    differently on every run. Named alike, a rerun repeats its run and a pilot row that changes
    nothing a trial sees draws the same trials as today's defaults.
    """
    return f"benchmark-seed-{seed}"


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
        info = self.trials.setdefault(trial, {"epochs": 0})
        # An epoch 1 that had an early check: its first share is already counted (check()).
        share = 1.0 - info["checked"] if epoch == 1 and "checked" in info else 1.0
        self.used = round(self.used + share, 6)
        self.events.append({"trial": trial, "epoch": epoch, "dev_accuracy": dev_accuracy,
                            "epochs_used": self.used, "seconds": round(time.perf_counter() - self.t0, 3)})
        info["epochs"] = round(info["epochs"] + share, 6)

    def check(self, trial: str, fraction: float) -> None:
        """The early check (`--early-check`) after `fraction` of the trial's first epoch: that share is spent."""
        info = self.trials.setdefault(trial, {"epochs": 0})
        info["checked"] = fraction
        self.used = round(self.used + fraction, 6)
        info["epochs"] = round(info["epochs"] + fraction, 6)


def bench_spec(seed: int, budget: int, narrowing: dict, max_epochs: int | None = None, **fields):
    """The StudySpec of one run: the small space narrowed, at most `max_epochs` (MAX_EPOCHS) per configuration,
    and the --trials a user gives for this budget of epochs: the full-length configurations it buys
    (hpsearch sizes TPE's random start-up by it)."""
    from search.core.spec import StudySpec

    epochs = max_epochs or MAX_EPOCHS
    return StudySpec(space="small", narrowing=narrowing, epochs=epochs, trials=max(1, budget // epochs),
                     seed=seed * 1000, **fields)


def run_hpsearch(sampler: str, pruner: str, seed: int, budget: int, data, narrowing: dict) -> dict[str, Any]:
    """hpsearch's own sampler and pruner ('defaults': what `hpsearch launch` builds with no flags, the
    space's portfolio of proven recipes queued first as launch queues it; random search runs none)."""
    import optuna

    from search.core.spec import StudySpec, make_pruner, make_sampler
    from search.service.studies import queue_portfolio

    defaults = StudySpec()
    spec = bench_spec(seed, budget, narrowing, sampler=defaults.sampler if sampler == "defaults" else sampler,
                      pruner=defaults.pruner if pruner == "defaults" else pruner,
                      portfolio=defaults.portfolio and sampler == "defaults")
    study = optuna.create_study(study_name=study_name(seed), direction="maximize", sampler=make_sampler(spec, seed=seed),
                                pruner=make_pruner(spec))
    queued = queue_portfolio(study, spec)  # first: launch queues them before any trial is asked for
    return {**_ask_tell(study, spec, budget, data), "portfolio": queued}


def run_raw_optuna(seed: int, budget: int, data, narrowing: dict) -> dict[str, Any]:
    """What Optuna's documentation shows: study.optimize, TPE with its defaults, Hyperband pruning."""
    import optuna

    spec = bench_spec(seed, budget, narrowing)
    study = optuna.create_study(
        study_name=study_name(seed), direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_EPOCHS, reduction_factor=FACTOR))
    return _optimize(study, spec, budget, data)


class BudgetSpent(Exception):
    """Raised from an objective whose training the budget of epochs cut short."""


def _reporter(trial, tracker: "Tracker", objective: str, prune_last_epoch: bool):
    """prune_last_epoch: raw Optuna's documented loop asks the pruner after every epoch, the last too
    (a trial pruned there loses a finished result); hpsearch's supervisor never asks after the last."""

    class StudyReporter:  # what search.service.trial_runner.supervise does with each epoch, minus the pipe
        def __init__(self):
            self.pruned, self.cut, self.epoch = False, False, 0

        def report(self, epoch, metrics):
            self.epoch = epoch
            value = metrics.get(objective)
            tracker.epoch(str(trial.number), epoch, value)
            if value is not None and math.isfinite(value):
                trial.report(value, epoch)
                self.pruned = (prune_last_epoch or epoch < MAX_EPOCHS) and trial.should_prune()

        def check(self, fraction, metrics):  # the early check, as supervise's _judge_check handles it
            from search.core.early_check import CHECK_STEP, EARLY_CHECK_ATTR, record

            tracker.check(str(trial.number), fraction)
            value = metrics.get(objective)
            if value is not None and math.isfinite(value):
                trial.set_user_attr(EARLY_CHECK_ATTR, record(fraction, metrics, value))
                trial.report(value, CHECK_STEP)
                self.pruned = trial.should_prune()

        def should_stop(self):
            self.cut = not self.pruned and tracker.exhausted and self.epoch < MAX_EPOCHS
            return self.pruned or self.cut

    return StudyReporter()


def _train_trial(trial, spec, data, tracker: "Tracker", prune_last_epoch: bool = False):
    import keras

    from spaces import get_space

    config = get_space(spec.space, spec.narrowing).suggest(trial, spec.base_config(trial.number))
    reporter = _reporter(trial, tracker, spec.objective, prune_last_epoch)
    keras.backend.clear_session()
    if TRAINER:
        from search.service.trial_process import resolve_trainer

        return reporter, resolve_trainer(TRAINER)(config, data, reporter)
    from trainers.train import train

    return reporter, train(config, data, reporter, measure_latency=False)


def _ask_tell(study, spec, budget: int, data) -> dict[str, Any]:
    from optuna.trial import TrialState

    from trainers.result import COMPLETED, EARLY_STOPPING

    tracker = Tracker(budget)
    while not tracker.exhausted:
        trial = study.ask()
        reporter, result = _train_trial(trial, spec, data, tracker)
        info = tracker.trials.setdefault(str(trial.number), {"epochs": 0})
        if reporter.pruned:
            study.tell(trial, state=TrialState.PRUNED)
            info["state"] = "pruned"
        elif result.stop_reason in (COMPLETED, EARLY_STOPPING):
            study.tell(trial, result.metrics["dev_accuracy"])
            info.update(state="complete", dev_accuracy=result.metrics["dev_accuracy"],
                        test_accuracy=result.metrics.get("test_accuracy"), params=dict(trial.params))
        else:  # cut by the budget, or diverged (NaN)
            study.tell(trial, state=TrialState.FAIL)
            info["state"] = "cut by budget" if reporter.cut else "failed"
    return _finish(study, tracker, "the complete trial with the highest final-epoch dev accuracy")


def _optimize(study, spec, budget: int, data) -> dict[str, Any]:
    import optuna

    from trainers.result import COMPLETED, EARLY_STOPPING

    tracker = Tracker(budget)

    def objective(trial):
        reporter, result = _train_trial(trial, spec, data, tracker, prune_last_epoch=True)
        info = tracker.trials.setdefault(str(trial.number), {"epochs": 0})
        if reporter.pruned:
            info["state"] = "pruned"
            raise optuna.TrialPruned()
        if result.stop_reason not in (COMPLETED, EARLY_STOPPING):
            info["state"] = "cut by budget" if reporter.cut else "failed"
            raise BudgetSpent(result.stop_reason)
        info.update(state="complete", dev_accuracy=result.metrics["dev_accuracy"],
                    test_accuracy=result.metrics.get("test_accuracy"), params=dict(trial.params))
        return result.metrics["dev_accuracy"]

    def stop_when_spent(study, trial):
        if tracker.exhausted:
            study.stop()

    study.optimize(objective, callbacks=[stop_when_spent], catch=(BudgetSpent,))
    return _finish(study, tracker, "study.best_trial: the complete trial with the highest reported value")


def _finish(study, tracker: "Tracker", rule: str) -> dict[str, Any]:
    from optuna.trial import TrialState

    # The study's own trials only (a zoomed study also holds the warm-start trials it was given).
    own = [t for t in study.trials if t.state == TrialState.COMPLETE and str(t.number) in tracker.trials]
    best = max(own, key=lambda t: (t.value, -t.number)) if own else None
    pick = None
    if best is not None:
        info = tracker.trials[str(best.number)]
        pick = {"trial": str(best.number), "dev_accuracy": info["dev_accuracy"], "test_accuracy": info["test_accuracy"],
                "rule": rule}
    return {"events": tracker.events, "trials": tracker.trials, "pick": pick,
            "seconds": round(time.perf_counter() - tracker.t0, 2), "study_name": study.study_name,
            "pruner": describe_pruner(study.pruner),
            "sampler": type(study.sampler).__name__, "sampler_settings": describe_sampler(study.sampler)}


def describe_pruner(pruner) -> dict[str, Any]:
    """The pruner's class and settings as the run used them, so the report reads them instead of assuming."""
    out: dict[str, Any] = {"class": type(pruner).__name__}
    for name in ("n_startup_trials", "n_warmup_steps", "interval_steps", "min_resource", "reduction_factor"):
        value = getattr(pruner, f"_{name}", None)
        if isinstance(value, (int, float, str)):
            out[name] = value
    return out


def describe_sampler(sampler) -> dict[str, Any]:
    """The sampler's settings that hpsearch's defaults choose (TPE's start-up trials, multivariate, liar)."""
    out: dict[str, Any] = {}
    for name in ("n_startup_trials", "multivariate", "constant_liar"):
        value = getattr(sampler, f"_{name}", None)
        if isinstance(value, (bool, int, float, str)):
            out[name] = value
    return out


def today_settings(max_epochs: int, budget: int) -> dict[str, Any]:
    """The sampler and pruner `hpsearch launch` builds with no flags today, as a run of this plan records them,
    and the recipes its portfolio queues (in the whole small space: benchmark 1's narrowing, the CPU-cheap
    corner, keeps every recipe, numbers clamped)."""
    from search.core.spec import make_pruner, make_sampler

    spec = bench_spec(0, budget, {}, max_epochs)
    sampler = make_sampler(spec, seed=0)
    return {"pruner": describe_pruner(make_pruner(spec)), "sampler": type(sampler).__name__,
            "sampler_settings": describe_sampler(sampler),
            "portfolio": [recipe.name for recipe, _ in spec.portfolio_trials()]}


def unpaired(run: dict[str, Any], seed: int) -> bool:
    """Whether a saved run's Optuna study had another name than study_name(seed) (before runs were
    named: its Hyperband brackets were a random draw no other run shares)."""
    return run.get("study_name") != study_name(seed)


def outdated(run: dict[str, Any], name: str, max_epochs: int, budget: int) -> bool:
    """Whether a saved run of hpsearch's defaults ran other defaults than today's (it then measures those, not ours).

    Runs saved before the sampler's settings were recorded are judged by the pruner and sampler class.
    """
    if CONTENDERS.get(name, {}).get("sampler") != "defaults":
        return False
    now = today_settings(max_epochs, budget)
    recorded = run.get("sampler_settings") or {}
    return (run.get("pruner") != now["pruner"] or run.get("sampler") != now["sampler"]
            or run.get("portfolio", []) != now["portfolio"]
            or any(now["sampler_settings"].get(k) != v for k, v in recorded.items()))


def saved_run(folder: str, name: str, seed: int, max_epochs: int, budget: int) -> dict[str, Any] | None:
    """The saved run to reuse, or None: none saved, one of hpsearch's defaults of another day, or unnamed (`unpaired`).

    An outdated run is moved aside (`.outdated` beside it), not overwritten: its figures stay readable.
    """
    path = run_path(folder, name, seed)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        run = json.load(f)
    optuna_study = CONTENDERS.get(name, {}).get("kind") in ("hpsearch", "optuna")  # KerasTuner's runs have no study
    if outdated(run, name, max_epochs, budget) or (optuna_study and unpaired(run, seed)):
        os.replace(path, path + ".outdated")
        log(f"search_efficiency: {os.path.basename(path)} ran other defaults than today's or an unnamed study; moved aside, to be run again")
        return None
    return run


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


def run_kerastuner(kind: str, seed: int, budget: int, data, narrowing: dict) -> dict[str, Any]:
    import keras
    import keras_tuner as kt

    from spaces import get_space
    from trainers.model.augment import label_mixing_layer
    from trainers.config import TrainConfig
    from trainers.data import pipeline
    from trainers.model import build_model
    from trainers.train import EVAL_BATCH, _Loop

    space = get_space("small", narrowing)
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

    class TracedBayesian(Traced, kt.BayesianOptimization):
        pass

    hypermodel = SpaceHyperModel()
    folder = tempfile.mkdtemp(prefix="hpsearch-bench-kt-")
    common = {"objective": "val_accuracy", "seed": seed, "directory": folder, "project_name": kind, "overwrite": True}
    if kind == "hyperband":
        tuner = TracedHyperband(hypermodel, max_epochs=MAX_EPOCHS, factor=FACTOR, hyperband_iterations=1000, **common)
    else:
        tuner = TracedBayesian(hypermodel, max_trials=10**6, **common)
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


def configure_run(max_epochs: int, trainer: str | None) -> None:
    """Set this process's epochs per configuration and trainer (a run's child process, benchmarks.search_child)."""
    global MAX_EPOCHS, TRAINER
    MAX_EPOCHS, TRAINER = max_epochs, trainer


# ---- the parent: plan, saved runs, analysis ---------------------------------------------------
def plan_key(plan: dict[str, Any]) -> str:
    """Saved runs are reused only under the same plan (budget, epochs per configuration, images, trainer)."""
    from spaces import get_space

    narrowed = "-narrowed" if plan.get("narrowing") else ""
    # The space's dimensions too: a run saved before a space changed measures another search problem.
    table = json.dumps(get_space("small", plan.get("narrowing") or {}).table(), default=str)
    key = f"b{plan['budget']}-e{plan['max_epochs']}-n{plan['train_images']}{narrowed}-{hashlib.sha1(table.encode()).hexdigest()[:8]}"
    # Runs under a stand-in trainer (another backend, no MixUp/CutMix) are another measurement.
    return key + (f"-trainer-{hashlib.sha1(plan['trainer'].encode()).hexdigest()[:6]}" if plan.get("trainer") else "")


def runs_dir(plan: dict[str, Any], quick: bool) -> str:
    return os.path.join(QUICK_RESULTS if quick else RESULTS, "search_efficiency-runs", plan_key(plan))


def run_path(folder: str, name: str, seed: int) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    return os.path.join(folder, f"{slug}-{hashlib.sha1(name.encode()).hexdigest()[:6]}-seed{seed}.json")


def run_one(name: str, seed: int, plan: dict[str, Any], out: str, spec: dict[str, Any] | None = None) -> dict[str, Any]:
    """One (contender, seed) run in a child process; `spec` defaults to the contender's (the pilot passes its own).

    Pinned to one TensorFlow thread however many runs share the machine: on two threads
    TensorFlow's kernels sum in another order, so an unpinned run does not repeat a saved one, and
    a pilot row would be paired with a baseline it cannot reproduce (trial 0 of seed 101, the same
    configuration and seed: dev accuracy 0.5883 on one thread, 0.5933 on two).
    """
    spec = spec or CONTENDERS[name]
    cmd = [sys.executable, "-m", "benchmarks.search_child", "--name", name, "--spec", json.dumps(spec),
           "--seed", str(seed), "--budget", str(plan["budget"]), "--max-epochs", str(plan["max_epochs"]),
           "--train-images", str(plan["train_images"]), "--narrowing", json.dumps(plan.get("narrowing", {})),
           "--out", out + ".part"] + (["--trainer", plan["trainer"]] if plan.get("trainer") else [])
    return parallel.run_child(cmd, out, SEARCH_THREADS, f"{name} seed {seed}")


def run_all(todo: list[tuple[int, str]], plan: dict[str, Any], folder: str, deadline: float, jobs: int) -> bool:
    """Run the missing (seed, contender) runs, `jobs` at a time; none starts after the deadline."""

    def start(key: tuple[int, str], threads: int | None) -> dict[str, Any]:  # pinned by run_one, whatever jobs gives
        seed, name = key
        return run_one(name, seed, plan, run_path(folder, name, seed))

    def done(key: tuple[int, str], run: dict[str, Any]) -> None:
        seed, name = key
        row = stats.analyse_run(run)
        log(f"search_efficiency: {name} seed {seed}: best dev {row['best_dev_accuracy']:.4f}, "
            f"pick test {row['pick_test_accuracy'] or float('nan'):.4f}, {row['trials']} trials, "
            f"{row['seconds']:.0f} s search")

    return parallel.run_parallel(todo, start, done, jobs=jobs, deadline=deadline, label="search_efficiency")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 5; quick 2)")
    parser.add_argument("--budget", type=int, help="total epochs per contender and seed")
    parser.add_argument("--max-epochs", type=int, help="most epochs per configuration")
    parser.add_argument("--train-images", type=int, help="training images of the Fashion-MNIST subset")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="a contender to run, by its whole name (repeatable; names hold commas); the report reads every saved run")
    parser.add_argument("--hours", type=float, help="start no new run after this many hours (saved runs are kept)")
    parser.add_argument("--fresh", action="store_true", help="discard saved runs of this plan first")
    parser.add_argument("--jobs", type=int, default=parallel.JOBS,
                        help=f"runs at a time, one TensorFlow thread each (default {parallel.JOBS})")
    parser.add_argument("--out", help="where to write the JSON")
    args = parser.parse_args(argv)

    started = time.monotonic()
    plan = dict(QUICK if args.quick else FULL)
    for key in ("budget", "max_epochs", "train_images"):
        if getattr(args, key):
            plan[key] = getattr(args, key)
    if args.seeds:
        plan["seeds"] = list(range(args.seeds))
    plan["jobs"] = args.jobs
    names = list(CONTENDERS)
    chosen = args.only or names
    unknown = [n for n in chosen if n not in CONTENDERS]
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {names}")
    folder = runs_dir(plan, args.quick)
    os.makedirs(folder, exist_ok=True)
    if args.fresh:
        for f in os.listdir(folder):
            os.unlink(os.path.join(folder, f))
    deadline = started + args.hours * 3600 if args.hours is not None else math.inf
    todo = [(seed, name) for seed in plan["seeds"]
            for name in names[seed % len(names):] + names[: seed % len(names)]]  # rotate: no contender always first
    todo = [(seed, name) for seed, name in todo if name in chosen and saved_run(folder, name, seed, plan["max_epochs"], plan["budget"]) is None]
    if not run_all(todo, plan, folder, deadline, args.jobs):
        return 1

    raw: dict[str, dict[str, Any]] = {}
    for name in names:
        for seed in plan["seeds"]:
            run = saved_run(folder, name, seed, plan["max_epochs"], plan["budget"])
            if run is not None:
                raw.setdefault(name, {})[str(seed)] = run
    body = summarise(raw, plan, args.quick)
    ran = sum(saved_run(folder, name, seed, plan["max_epochs"], plan["budget"]) is not None for seed, name in todo)  # before the deadline
    path = write_result("search_efficiency", args.quick, body, started=started, path=args.out, ran=ran)
    log(f"search_efficiency: wrote {path}")
    return 0


def summarise(raw: dict[str, dict[str, Any]], plan: dict[str, Any], quick: bool, figure: str | None = None) -> dict[str, Any]:
    from benchmarks.harness import fashion_subset

    per_run = {name: {seed: stats.analyse_run(run) for seed, run in runs.items()} for name, runs in raw.items()}
    table = {name: {key: stats.quartiles([r[key] for r in runs.values()]) for key in next(iter(runs.values()))}
             for name, runs in per_run.items()}
    curves = {name: stats.median_curve([stats.best_at_each_epoch(run["events"], plan["budget"]) for run in runs.values()])
              for name, runs in raw.items()}
    comparisons = {}
    if HPSEARCH in per_run:
        for key in ("best_dev_accuracy", "pick_test_accuracy"):
            ours = {seed: r[key] for seed, r in per_run[HPSEARCH].items()}
            comparisons[key] = {name: stats.paired(ours, {seed: r[key] for seed, r in runs.items()})
                                for name, runs in per_run.items() if name != HPSEARCH}
    figure = figure or os.path.join(QUICK_RESULTS if quick else RESULTS, "search_efficiency.png")
    if curves:
        space = "space small" + (" (narrowed)" if plan.get("narrowing") else "")
        stats.plot_anytime(curves, figure, f"Fashion-MNIST ({plan['train_images']} training images), {space}, "
                                           f"budget {plan['budget']} epochs, at most {plan['max_epochs']} per configuration")
    complete = {name: len(runs) for name, runs in raw.items()}
    return {
        "settings": {"budget_epochs": plan["budget"], "max_epochs_per_configuration": plan["max_epochs"],
                     "factor": FACTOR, "seeds": plan["seeds"], "jobs": plan.get("jobs", 1), "train_images": plan["train_images"],
                     "dataset": fashion_subset.describe(plan["train_images"]), "space": "small",
                     "narrowing": plan.get("narrowing") or None,
                     "narrowing_why": CPU_CHEAP_WHY if plan.get("narrowing") == CPU_CHEAP else None,
                     "hpsearch_trials": "in-process (process-per-trial cost: see coordination)",
                     "runs_folder": os.path.relpath(runs_dir(plan, quick), REPO)},
        "contenders": CONTENDERS,
        "runs_done": complete,
        "runs_wall_seconds": round(sum(run.get("wall_seconds", 0.0) for runs in raw.values() for run in runs.values()), 1),
        "runs_elapsed_seconds": elapsed([run.get("span") for runs in raw.values() for run in runs.values()]),
        "runs_load_average": {name: {seed: run.get("load_average") for seed, run in runs.items()} for name, runs in raw.items()},
        "runs_planned": len(plan["seeds"]),
        "table": table,
        "per_run": per_run,
        "paired": comparisons,
        "hidden_layer": hidden_layer_evidence(raw),
        "shared_configurations": {name: {seed: shared_configurations(raw[HPSEARCH][seed], run)
                                         for seed, run in runs.items() if seed in raw.get(HPSEARCH, {})}
                                  for name, runs in raw.items() if name != HPSEARCH},
        "curves": curves,
        "figure": os.path.relpath(figure, REPO) if curves else None,
        "targets": evaluate_targets(table, curves, plan, complete),
        "pruned_at_epoch": {name: [[t["epochs"] for t in run["trials"].values() if t.get("state") == "pruned"]
                                   for run in runs.values()] for name, runs in raw.items()},
        "settings_used": {name: {seed: {"pruner": run.get("pruner"), "sampler": run.get("sampler"),
                                        "portfolio": run.get("portfolio", [])}
                                 for seed, run in runs.items()} for name, runs in raw.items()},
    }


def hidden_layer_evidence(raw: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What the runs say of the hidden layer before the softmax (`model.head_units`, issue 11 item 6).

    Random search draws it independently of every other dimension, so its completed trials compare
    configurations with and without it fairly; the picks say how often a search chose one.
    """
    final = {True: [], False: []}
    for run in raw.get(RANDOM, {}).values():
        for t in run["trials"].values():
            params = t.get("params") or {}
            if t.get("state") == "complete" and "hidden_layer" in params:
                final[bool(params["hidden_layer"])].append(t["dev_accuracy"])
    picks = {}
    for name, runs in raw.items():
        chosen = [(run["trials"].get(str((run.get("pick") or {}).get("trial")), {}).get("params") or {}).get("hidden_layer")
                  for run in runs.values()]
        known = [bool(c) for c in chosen if c is not None]
        if known:
            picks[name] = {"with": sum(known), "runs": len(known)}
    return {"random_with": stats.quartiles(final[True]), "random_without": stats.quartiles(final[False]), "picks": picks}


def shared_configurations(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, int]:
    """Of the trials both runs completed, how many had the very same configuration.

    Same-seeded random draws (TPE's random start-up trials, the random contender) give the same
    configurations: a paired difference then carries luck both sides share.
    """
    both = [(a, theirs["trials"][k]) for k, a in ours["trials"].items()
            if a.get("params") and theirs["trials"].get(k, {}).get("params")]
    return {"both_complete": len(both), "identical": sum(a["params"] == b["params"] for a, b in both)}


def elapsed(spans: list[list[float] | None]) -> float | None:
    """Seconds the clock ran while any run did (runs overlap when several run at a time)."""
    known = sorted(s for s in spans if s)
    if not known or len(known) < len(spans):
        return None  # a run saved before spans were recorded: unknown
    total, (start, end) = 0.0, known[0]
    for a, b in known[1:]:
        if a > end:
            total, start, end = total + end - start, a, b
        else:
            end = max(end, b)
    return round(total + end - start, 1)


def evaluate_targets(table, curves, plan, complete) -> dict[str, Any]:
    """The issue's two search targets; None (not measured) until every planned run is in."""
    whole = all(complete.get(name) == len(plan["seeds"]) for name in CONTENDERS)
    ours = table.get(HPSEARCH, {}).get("best_dev_accuracy", {}).get("median")
    peers = {name: row["best_dev_accuracy"]["median"] for name, row in table.items() if name != HPSEARCH}
    kt = peers.get("KerasTuner Hyperband")
    reach = stats.first_epoch_at(curves.get(HPSEARCH, []), kt)
    return {
        "best_vs_every_peer": {
            "target": "at equal epoch budget, hpsearch's median best dev accuracy is at least every peer's",
            "hpsearch": ours, "peers": peers,
            "met": (ours is not None and all(v is not None and ours >= v for v in peers.values())) if whole else None},
        "reaches_kerastuner_hyperband": {
            "target": "hpsearch's median best-so-far reaches KerasTuner Hyperband's final median best within 50% of the budget",
            "kerastuner_hyperband_final": kt, "epochs": reach,
            "fraction_of_budget": reach / plan["budget"] if reach else None,
            "met": (reach is not None and reach <= 0.5 * plan["budget"]) if whole else None},
        "complete": whole,
    }

