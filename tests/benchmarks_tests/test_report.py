"""BENCHMARKS.md says only what its data say: each conditional sentence follows the numbers it describes.

The committed results are the base; each test changes the one figure a sentence depends on.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from benchmarks import report
from benchmarks.coordination import report as coordination_report
from benchmarks.gpu import report as gpu_report
from benchmarks.harness.report_format import provenance
from benchmarks.scale import report as scale_report
from benchmarks.trainer_overhead import report as overhead_report
from benchmarks.harness.common import RESULTS


def result(name: str) -> dict:
    with open(os.path.join(RESULTS, f"{name}.json"), encoding="utf-8") as f:
        return json.load(f)


def text(lines: list[str]) -> str:
    return "\n".join(lines)


@pytest.mark.parametrize("ratios, verdict", [([0.97, 0.99, 1.02], "meets"), ([0.80, 0.85, 0.90], "misses")])
def test_throughput_verdict_follows_the_ratio(ratios, verdict):
    doc = copy.deepcopy(result("trainer_overhead"))
    r = next(iter(doc["datasets"].values()))
    r["train_throughput_ratio"].update(values=ratios, median=ratios[1], min=ratios[0], max=ratios[-1])
    line = overhead_report.overhead_facts(r)
    assert f"{verdict} the 0.95 target" in line
    assert "noise" not in text(overhead_report.section(doc))
    if verdict == "misses":  # spread 0.10 against a shortfall of 0.10: not "more than the miss"
        assert "spread of 0.10 against a shortfall of 0.10" in line


@pytest.mark.parametrize("steady, phrase", [(1.0, "within 10%"), (0.7, "more than 10% slower")])
def test_steady_state_sentence_follows_the_steady_ratio(steady, phrase):
    doc = copy.deepcopy(result("coordination"))
    for rows in doc["storages"].values():
        for row in rows.values():
            row["steady_ratio"] = steady
    assert phrase in text(coordination_report.section(doc))


def test_start_up_cause_is_named_only_when_measured():
    doc = copy.deepcopy(result("coordination"))
    doc["with_tensorflow"].pop("import_seconds", None)
    assert "Importing `trainers.train` alone" not in text(coordination_report.section(doc))
    doc["with_tensorflow"]["import_seconds"] = {"n": 3, "median": 1.5, "min": 1.4, "max": 1.6, "values": [1.4, 1.5, 1.6]}
    assert "Importing `trainers.train` alone in a fresh interpreter took 1.50 (1.40–1.60) s" in text(coordination_report.section(doc))


@pytest.mark.parametrize("trainer, stand_in", [("benchmarks.gpu.keras_trainer:train", True), ("trainers.train:train", False)])
def test_gpu_study_says_which_trainer_ran(trainer, stand_in):
    doc = copy.deepcopy(result("gpu"))
    doc["study"]["trainer"] = trainer
    out = text(gpu_report.section(doc))
    assert ("not hpsearch's own `trainers.train`" in out) is stand_in
    assert "from memory" not in out and "H100 range" not in out  # no reference figure quoted from memory


def test_gpu_trial_timings_come_from_the_worker_log():
    log = ("09:00:00 INFO [study=s trial=4] started: small_cnn\n"
           "09:00:30 INFO [study=s trial=4] epoch 1/3 dev_accuracy=0.5\n"
           "09:00:40 INFO [study=s trial=4] epoch 3/3 dev_accuracy=0.9\n")
    assert gpu_report.trial_timings(log) == {4: {"to_first_epoch": 30, "rest": 10, "epochs": 3}}


@pytest.mark.parametrize("load, busy", [(5.0, True), (0.5, False)])
def test_noise_sentence_follows_the_recorded_load(load, busy):
    doc = copy.deepcopy(result("coordination"))
    doc["machine"]["load_average_at_start"] = [load, load, load]
    doc["machine"].pop("load_during", None)  # a record of the load at start only (the sampled one is tested below)
    out = text(report.noise({"coordination": doc}))
    assert f"3. coordination {load:.2f} on {doc['machine']['cores_usable']} cores" in out
    assert ("other processes were competing" in out) is busy


def test_the_load_is_tracked_from_the_invocations_start_and_through_its_runs_and_older_records_say_when_theirs_was_taken():
    from benchmarks.harness.common import machine

    m = machine()
    assert m["load_during"]["samples"] >= 1 and m["load_during"]["every_seconds"] == 30
    assert m["load_during"]["min"] <= m["load_during"]["median"] <= m["load_during"]["max"]
    doc = copy.deepcopy(result("coordination"))
    doc["machine"].pop("load_during", None)
    doc["machine"]["load_average_at_start"] = [3.0, 2.0, 1.0]
    assert "load average when the results were written 3.0, 2.0, 1.0" in text(provenance(doc))
    assert "3. coordination 3.00 on 2 cores (when its results were written)" in text(report.noise({"coordination": doc}))
    doc["machine"]["load_during"] = {"every_seconds": 30.0, "samples": 9, "min": 0.5, "median": 2.5, "max": 4.0}
    assert "load average at start 3.0, 2.0, 1.0, through the runs 2.50 median, 4.00 max" in text(provenance(doc))
    assert "3. coordination 2.50 on 2 cores (median through its runs)" in text(report.noise({"coordination": doc}))


# ---- 5. scale: a small synthetic result (no committed scale.json yet) ---------------------------------------
def _dist(p50, p99=None):
    p99 = p50 if p99 is None else p99
    return {"n": 4, "p50": p50, "p99": p99, "mean": p50, "median": p50, "min": p50, "max": p99}


def _scale_row(overhead, hold, *, capped=False, ratio=0.95, in_trial=0.105):
    hpsearch = {"trials": 12, "budgeted": 12, "failed": 0, "capped": capped, "steady_trials_per_hour": 1000 * ratio,
                "trials_per_hour": 900.0, "overhead_per_trial_seconds": _dist(overhead),
                "budget_lock": {"hold_seconds": _dist(hold, 2 * hold), "wait_seconds": _dist(0.0), "holds_seen": 12,
                                "sample_interval_seconds": 0.006},
                "figures_lock": {"hold_seconds": _dist(0.2), "wait_seconds": _dist(0.0), "holds_seen": 12}}
    raw = {"trials": 12, "budgeted": 12, "failed": 0, "capped": False, "steady_trials_per_hour": 1000.0,
           "trials_per_hour": 950.0, "overhead_per_trial_seconds": _dist(0.03), "in_trial_seconds": _dist(0.1)}
    hpsearch["in_trial_seconds"] = _dist(in_trial)
    return {"hpsearch": hpsearch, "raw_optuna": raw, "ratio": 0.9, "steady_ratio": ratio}


def scale_doc(*, big=10000, overhead_small=0.05, overhead_big=0.06, hold_big=0.01, capped=False, memory=(100.0, 104.0),
              reached=True, in_trial=0.105):
    from benchmarks.scale import FLAT_FACTOR, targets

    results = {"0": {"4": _scale_row(overhead_small, 0.005, in_trial=in_trial)}, str(big): {"4": _scale_row(overhead_big, hold_big, capped=capped)}}
    warm, last = memory
    mem = {"prefill": big, "trials_asked": 100, "trials_run": 100 if reached else 30, "step": 10, "capped": not reached,
           "samples": [{"trials": 0, "rss_mib": 90.0}, {"trials": 10, "rss_mib": warm}, {"trials": 100 if reached else 30, "rss_mib": last}],
           "warm_rss_mib": warm, "last_rss_mib": last, "flat": last <= warm * FLAT_FACTOR, "reached": reached}
    plan = {"prefills": [0, big]}
    return {
        "benchmark": "scale", "quick": True, "date": "2026-11-24T01:00:00+00:00", "command": "python -m benchmarks.scale --quick",
        "seconds": 300.0,
        "machine": {"cpu": "test cpu", "cores_usable": 2, "memory_gib": 8.0, "load_average_at_start": [1.0, 1.0, 1.0],
                    "python": "3.11", "versions": {}},
        "settings": {"storage": "PostgreSQL", "prefills": [0, big], "counts": [4], "prefill_trials": "shaped",
                     "prefill_method": {"sample_trials": 100, "seconds_per_trial": {"bulk": 0.01, "add_trials": 0.1}, "chosen": "bulk"},
                     "epochs": 2, "epoch_seconds": 0.05, "space": "small", "sampler": "tpe", "pruner": "none",
                     "trials_per_worker": 3, "cap_seconds": 150, "overhead": "the gap", "steady_trials_per_hour": "cycles",
                     "lock_method": "pg_locks"},
        "prefills": results, "memory": mem, "targets": targets(results, mem, plan),
    }


@pytest.mark.parametrize("overhead_big, phrase", [(0.055, "within 20%: independent of the history"), (2.0, "40.0× as much: it grows with the history")])
def test_scale_overhead_sentence_follows_the_growth(overhead_big, phrase):
    out = text(scale_report.section(scale_doc(overhead_small=0.05, overhead_big=overhead_big)))
    assert phrase in out


@pytest.mark.parametrize("hold, phrase", [(0.01, "most of it is spent outside the budget lock"), (1.5, "the budget lock's hold is most of it")])
def test_scale_lock_share_sentence_follows_the_hold(hold, phrase):
    out = text(scale_report.section(scale_doc(overhead_big=2.0, hold_big=hold)))
    assert phrase in out


@pytest.mark.parametrize("big, not_measured", [(1000, True), (10000, False)])
def test_scale_targets_at_ten_thousand_are_not_measured_below_it(big, not_measured):
    doc = scale_doc(big=big)
    out = text(scale_report.section(doc))
    assert ("not measured by this run: its largest prefill is 1,000" in out) is not_measured
    table = text(report.targets_table({"scale": doc}))
    assert ("**not measured**" in table) is not_measured
    assert ("**met**" in table.split("hold p99")[1].splitlines()[0]) is not not_measured  # 10 ms p50, 20 ms p99: met
    assert "(4 workers)" in table


@pytest.mark.parametrize("memory, reached, phrase", [
    ((100.0, 104.0), True, "(×1.04) on 10,000 prefilled trials: flat."),
    ((100.0, 150.0), True, "(×1.50) on 10,000 prefilled trials: not flat."),
    ((100.0, 104.0), False, "flat, but it ran only 30 of the 100 trials asked"),
])
def test_scale_memory_sentence_follows_the_samples(memory, reached, phrase):
    doc = scale_doc(memory=memory, reached=reached)
    assert phrase in text(scale_report.section(doc))
    assert doc["targets"]["memory_flat"]["met"] is (reached and memory[1] <= memory[0] * 1.1)


@pytest.mark.parametrize("capped", [True, False])
def test_scale_capped_runs_are_named_only_when_capped(capped):
    out = text(scale_report.section(scale_doc(capped=capped)))
    assert ("1 run (prefill/workers: 10,000/4) reached the 150 s cap" in out) is capped
    assert ("| 10,000 | 4 (capped) |" in out) is capped


@pytest.mark.parametrize("in_trial, phrase", [(0.105, "about 0.95 of raw Optuna's with trials this short."),
                                              (0.5, "about 0.20 of raw Optuna's with trials this short, below the 0.9 target.")])
def test_scale_names_the_ceiling_the_trial_process_sets(in_trial, phrase):
    assert phrase in text(scale_report.section(scale_doc(in_trial=in_trial)))


@pytest.mark.parametrize("peak, met", [(2000.0, True), (3000.0, False)])
def test_data_memory_target_follows_the_peaks(peak, met):
    from benchmarks.data.report import targets as data_targets

    doc = copy.deepcopy(result("data"))
    for r in doc["rows"]:
        for key in ("new_first", "new_later", "new_standby", "new_prepared"):
            if isinstance(r.get(key), dict):
                r[key]["peak_rss_mb"] = peak
    (memory,) = [row for row in data_targets(doc) if "peak resident memory" in row[1]]
    assert memory[3] is met and f"worst {peak:,.0f} MB" in memory[2]


def test_data_section_says_when_the_old_loader_was_not_run():
    from benchmarks.data.report import section as data_section

    doc = copy.deepcopy(result("data"))
    for r in doc["rows"]:
        r.pop("legacy", None)
    assert text(data_section(doc)).count("the old loader was not run here") == len(doc["rows"])


@pytest.mark.parametrize("same, phrase", [(1.70, "took off 4% of the start-up at best (one trial a row): no consistent gain, "
                                                   "so a standby that guessed the next configuration would not start it consistently faster"),
                                           (2.00, "took off none of the start-up and added 12% at worst (one trial a row): "
                                                  "no consistent gain"),
                                           (0.90, "took off 49% of the start-up at best (one trial a row): a standby that guessed")])
def test_data_section_says_how_much_of_the_start_up_a_standby_could_take_off(same, phrase):
    from benchmarks.data.report import section as data_section

    doc = copy.deepcopy(result("data"))
    for r in doc["rows"]:
        r["new_standby"] = {**r["new_standby"], "startup_seconds": 1.78}
        r["new_standby_same"] = {**r["new_standby"], "startup_seconds": same}
    out = text(data_section(doc))
    assert phrase in out and f"started training in {same:.2f} s, against 1.78 s" in out
    assert "a standby that has trained this very architecture" in out  # the table's row


def test_a_resummary_keeps_the_command_that_produced_the_runs(tmp_path, monkeypatch):
    """`--hours 0` (or a report change) re-summarises saved runs: BENCHMARKS.md must still show the command
    and duration of the invocation that ran them, not the seconds-long re-summary."""
    import time

    from benchmarks.harness.common import ENV_COMMAND, write_result

    path = str(tmp_path / "bench.json")
    monkeypatch.setenv(ENV_COMMAND, "python -m benchmarks.pilot --only x")
    write_result("bench", False, {"rows": 1}, started=time.monotonic() - 600, path=path, ran=5)
    with open(path, encoding="utf-8") as f:
        first = json.load(f)
    first["machine"]["load_average_at_start"] = [9.0, 9.0, 9.0]  # as if the runs had shared the machine
    first["date"] = "2026-01-01T00:00:00+00:00"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(first, f)
    monkeypatch.setenv(ENV_COMMAND, "python -m benchmarks.pilot --hours 0")
    write_result("bench", False, {"rows": 2}, started=time.monotonic(), path=path, ran=0)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["rows"] == 2  # the numbers are the new summary's
    assert doc["command"] == "python -m benchmarks.pilot --only x" and doc["seconds"] >= 600
    assert doc["date"] == first["date"] and doc["machine"] == first["machine"]  # the runs' load, not the re-summary's
    assert doc["resummarised"]["command"] == "python -m benchmarks.pilot --hours 0"
    # An invocation that ran something is its own provenance.
    write_result("bench", False, {"rows": 3}, started=time.monotonic(), path=path, ran=1)
    with open(path, encoding="utf-8") as f:
        assert json.load(f)["command"] == "python -m benchmarks.pilot --hours 0"


@pytest.mark.parametrize("prepared, met", [(0.06, True), (1.4, False), (None, False)])
def test_the_start_up_target_is_judged_on_trials_prepared_ahead_when_they_were_measured(prepared, met):
    """A worker's later trial is prepared ahead; a result from before that row judges the plain standby (1.78 s)."""
    from benchmarks.data.report import section as data_section, targets as data_targets

    doc = copy.deepcopy(result("data"))
    for r in doc["rows"]:
        r["new_standby"] = {**r["new_standby"], "startup_seconds": 1.78}
        if prepared is None:
            r.pop("new_prepared", None)
        else:
            r["new_prepared"] = {**r["new_standby"], "startup_seconds": prepared}
    (startup,) = [row for row in data_targets(doc) if "starts training within" in row[1]]
    assert startup[3] is met
    assert ("prepared ahead" in startup[1]) is (prepared is not None)
    assert f"{prepared if prepared is not None else 1.78:.2f} s" in startup[2]
    out = text(data_section(doc))
    assert ("a later trial its worker prepared ahead" in out) is (prepared is not None)  # the table's row
    if prepared is not None:
        assert f"started training {prepared:.2f} s after its turn came, against 1.78 s" in out


@pytest.mark.parametrize("standby, met", [(2.5, True), (3.3, False)])
def test_the_first_step_target_is_judged_on_the_slowest_way_a_worker_starts_a_later_trial(standby, met):
    """Not the best of the rows: the standby counts as much as the trial prepared ahead; a fresh process is shown beside."""
    from benchmarks.data.report import targets as data_targets

    doc = copy.deepcopy(result("data"))
    for r in doc["rows"]:
        r["new_standby"] = {**r["new_standby"], "seconds_to_first_step": standby}
        r["new_prepared"] = {**r["new_standby"], "seconds_to_first_step": 0.5}
        r["new_later"] = {**r["new_standby"], "seconds_to_first_step": 9.0}
    (first,) = [row for row in data_targets(doc) if "first training step within" in row[1]]
    assert first[3] is met
    assert f"standby {standby:.1f} s, prepared ahead 0.5 s, a fresh process 9.0 s" in first[2]
