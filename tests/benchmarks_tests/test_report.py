"""BENCHMARKS.md says only what its data say: each conditional sentence follows the numbers it describes.

The committed results are the base; each test changes the one figure a sentence depends on.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from benchmarks import report
from benchmarks.common import RESULTS


def result(name: str) -> dict:
    with open(os.path.join(RESULTS, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def text(lines: list[str]) -> str:
    return "\n".join(lines)


@pytest.mark.parametrize("warmup, says_no_warmup", [(1, True), (2, False)])
def test_the_warm_up_sentence_follows_the_recorded_pruner(warmup, says_no_warmup):
    doc = copy.deepcopy(result("search_efficiency"))
    name = "hpsearch TPE + median pruner"
    for run in doc["traces"][name].values():
        run["pruner"] = {"class": "MedianPruner", "n_startup_trials": 3, "n_warmup_steps": warmup}
    out = text(report.search_efficiency(doc))
    assert f"`MedianPruner(n_startup_trials=3, n_warmup_steps={warmup})`" in out
    assert ("no warm-up" in out) is says_no_warmup


def test_an_unrecorded_pruner_is_said_to_be_unrecorded_not_guessed():
    doc = copy.deepcopy(result("search_efficiency"))
    for run in doc["traces"]["hpsearch TPE + median pruner"].values():
        run.pop("pruner", None)
    out = text(report.search_efficiency(doc))
    assert "settings were not recorded" in out and "n_warmup_steps" not in out


def test_pruned_at_first_epoch_is_counted_from_the_traces():
    doc = copy.deepcopy(result("search_efficiency"))
    runs = doc["traces"]["hpsearch TPE + median pruner"].values()
    pruned = [t for run in runs for t in run["trials"].values() if t.get("state") == "pruned"]
    for t in pruned:
        t["epochs"] = 3
    out = text(report.search_efficiency(doc))
    assert f"Of the {len(pruned)} trials hpsearch TPE + median pruner pruned, 0 (0%) were stopped at their first epoch" in out


@pytest.mark.parametrize("ratios, verdict", [([0.97, 0.99, 1.02], "meets"), ([0.80, 0.85, 0.90], "misses")])
def test_throughput_verdict_follows_the_ratio(ratios, verdict):
    doc = copy.deepcopy(result("trainer_overhead"))
    r = next(iter(doc["datasets"].values()))
    r["train_throughput_ratio"].update(values=ratios, median=ratios[1], min=ratios[0], max=ratios[-1])
    line = report.overhead_facts(r)
    assert f"{verdict} the 0.95 target" in line
    assert "noise" not in text(report.trainer_overhead(doc))
    if verdict == "misses":  # spread 0.10 against a shortfall of 0.10: not "more than the miss"
        assert "spread of 0.10 against a shortfall of 0.10" in line


@pytest.mark.parametrize("steady, phrase", [(1.0, "within 10%"), (0.7, "more than 10% slower")])
def test_steady_state_sentence_follows_the_steady_ratio(steady, phrase):
    doc = copy.deepcopy(result("coordination"))
    for rows in doc["storages"].values():
        for row in rows.values():
            row["steady_ratio"] = steady
    assert phrase in text(report.coordination(doc))


def test_start_up_cause_is_named_only_when_measured():
    doc = copy.deepcopy(result("coordination"))
    doc["with_tensorflow"].pop("import_seconds", None)
    assert "Importing `trainers.train` alone" not in text(report.coordination(doc))
    doc["with_tensorflow"]["import_seconds"] = {"n": 3, "median": 1.5, "min": 1.4, "max": 1.6, "values": [1.4, 1.5, 1.6]}
    assert "Importing `trainers.train` alone in a fresh interpreter took 1.50 (1.40–1.60) s" in text(report.coordination(doc))


@pytest.mark.parametrize("trainer, stand_in", [("benchmarks.gpu.keras_trainer:train", True), ("trainers.train:train", False)])
def test_gpu_study_says_which_trainer_ran(trainer, stand_in):
    doc = copy.deepcopy(result("gpu"))
    doc["study"]["trainer"] = trainer
    out = text(report.gpu(doc))
    assert ("not hpsearch's own `trainers.train`" in out) is stand_in
    assert "from memory" not in out and "H100 range" not in out  # no reference figure quoted from memory


def test_gpu_trial_timings_come_from_the_worker_log():
    log = ("09:00:00 INFO [study=s trial=4] started: small_cnn\n"
           "09:00:30 INFO [study=s trial=4] epoch 1/3 dev_accuracy=0.5\n"
           "09:00:40 INFO [study=s trial=4] epoch 3/3 dev_accuracy=0.9\n")
    assert report.trial_timings(log) == {4: {"to_first_epoch": 30, "rest": 10, "epochs": 3}}


@pytest.mark.parametrize("load, busy", [(5.0, True), (0.5, False)])
def test_noise_sentence_follows_the_recorded_load(load, busy):
    doc = copy.deepcopy(result("coordination"))
    doc["machine"]["load_average_at_start"] = [load, load, load]
    out = text(report.noise({"coordination": doc}))
    assert f"3. coordination {load:.2f} on {doc['machine']['cores_usable']} cores" in out
    assert ("other processes were competing" in out) is busy


def test_the_reach_figure_is_the_median_the_verdict_rests_on():
    doc = copy.deepcopy(result("search_efficiency"))
    t = doc["targets"]["pruning_reaches_unpruned_best"]
    t["fraction_of_budget"] = {"n": 3, "values": [0.1, 0.3, None], "median": 0.2, "min": 0.1, "max": 0.3, "missing": 1}
    t["median_counting_misses_as_never"] = 0.3
    line = report.reach_text(t)
    assert line.startswith("median 30.0%, counting the 1 of 3 seeds that never got there as never")
    assert "20.0%" not in line  # the median of the seeds that got there is not the verdict's figure
