"""Benchmark 1's figures and sentences follow its traces: synthetic runs through the real summary and report."""

from __future__ import annotations

import pytest

from benchmarks import report
from benchmarks.harness import search_stats
from benchmarks.seed_lab import report as seed_lab_report
from benchmarks.search_efficiency import CONTENDERS, HPSEARCH, summarise

# What benchmarks.harness.common.write_result adds to every result.
PROVENANCE = {"machine": {"cpu": "x", "cores_usable": 2, "memory_gib": 1, "load_average_at_start": [0, 0, 0],
                          "python": "3", "versions": {}}, "command": "c", "date": "d", "seconds": 1.0}
PLAN = {"budget": 6, "max_epochs": 2, "seeds": [0, 1, 2, 3, 4], "train_images": 1000}


def _run(values: list[float], pruned_first: int = 0) -> dict:
    """A trace: one epoch per value, two epochs per trial; the first `pruned_first` trials pruned at epoch 1."""
    events, trials, used = [], {}, 0
    number = 0
    for k in range(pruned_first):
        used += 1
        events.append({"trial": str(number), "epoch": 1, "dev_accuracy": 0.1, "epochs_used": used, "seconds": used * 2.0})
        trials[str(number)] = {"epochs": 1, "state": "pruned"}
        number += 1
    for i in range(0, len(values) - pruned_first, 2):
        for epoch, v in enumerate(values[pruned_first + i: pruned_first + i + 2], start=1):
            used += 1
            events.append({"trial": str(number), "epoch": epoch, "dev_accuracy": v, "epochs_used": used, "seconds": used * 2.0})
        trials[str(number)] = {"epochs": 2, "state": "complete", "dev_accuracy": v, "test_accuracy": v - 0.01}
        number += 1
    best = max(trials.values(), key=lambda t: t.get("dev_accuracy", -1))
    return {"events": events, "trials": trials, "seconds": used * 2.0,
            "pick": {"trial": "0", "dev_accuracy": best["dev_accuracy"], "test_accuracy": best["test_accuracy"], "rule": "x"},
            "pruner": {"class": "MedianPruner", "n_startup_trials": 3, "n_warmup_steps": 2}, "sampler": "TPESampler"}


def _raw(ours: float, peer_delta: float, seeds=PLAN["seeds"]) -> dict:
    raw = {}
    for name in CONTENDERS:
        delta = 0.0 if name == HPSEARCH else peer_delta
        raw[name] = {str(s): _run([0.5, 0.6, 0.7, 0.75, ours + delta - 0.01, ours + delta], pruned_first=0)
                     for s in seeds}
    return raw


def _text(doc) -> str:
    return "\n".join(report.section("search_efficiency", doc))


def test_best_so_far_per_epoch_and_the_first_epoch_a_median_curve_reaches_a_target():
    events = [{"dev_accuracy": v, "epochs_used": i} for i, v in enumerate([0.2, None, 0.5, 0.4], start=1)]
    assert search_stats.best_at_each_epoch(events, 5) == [0.2, 0.2, 0.5, 0.5, 0.5]
    curve = search_stats.median_curve([[0.2, 0.5, 0.6], [0.4, 0.4, 0.8], [None, 0.3, 0.7]])
    assert [p["median"] for p in curve] == [None, 0.4, 0.7]
    assert search_stats.first_epoch_at(curve, 0.65) == 3 and search_stats.first_epoch_at(curve, 0.9) is None


def test_sign_test_is_exact():
    assert search_stats.sign_test([0.1] * 5) == pytest.approx(2 / 32)
    assert search_stats.sign_test([0.1, -0.1]) == pytest.approx(1.0)
    assert search_stats.sign_test([0.0, 0.0]) is None


@pytest.mark.parametrize("peer_delta, verdict", [(-0.02, "**met**"), (0.02, "**missed**")])
def test_the_verdict_and_the_paired_figures_follow_the_runs(tmp_path, peer_delta, verdict):
    doc = summarise(_raw(0.80, peer_delta), PLAN, quick=True, figure=str(tmp_path / "curves.png"))
    doc.update(PROVENANCE)
    out = _text(doc)
    assert f"hpsearch's median best dev accuracy is at least every peer's: {verdict}" in out
    assert (tmp_path / "curves.png").stat().st_size > 1000  # the anytime plot was drawn
    pair = doc["paired"]["best_dev_accuracy"]["KerasTuner Hyperband"]
    assert pair["differences"] == pytest.approx([peer_delta] * 5)
    assert pair["sign_test_p"] == pytest.approx(0.0625)
    sign = "+" if peer_delta > 0 else "-"
    assert f"| KerasTuner Hyperband | {', '.join([f'{sign}2.0'] * 5)} |" in out
    assert "Incomplete" not in out


def test_targets_are_not_judged_before_every_run_is_in(tmp_path):
    raw = _raw(0.80, -0.02)
    del raw["KerasTuner BayesianOptimization"]["4"]
    doc = summarise(raw, PLAN, quick=True, figure=str(tmp_path / "c.png"))
    doc.update(PROVENANCE)
    out = _text(doc)
    assert "**Incomplete:** 1 of 25 planned runs are not in yet (KerasTuner BayesianOptimization: 1 missing)" in out
    assert "**met**" not in out and "**missed**" not in out and "**not measured**" in out


def test_the_pruning_sentence_counts_the_traces(tmp_path):
    raw = _raw(0.80, -0.02)
    raw[HPSEARCH] = {str(s): _run([0.5, 0.6, 0.7, 0.75, 0.79, 0.8], pruned_first=2) for s in PLAN["seeds"]}
    doc = summarise(raw, PLAN, quick=True, figure=str(tmp_path / "c.png"))
    doc.update(PROVENANCE)
    out = _text(doc)
    assert "Of the 10 trials it pruned, 10 (100%) were stopped at their first epoch" in out
    assert "`MedianPruner(n_startup_trials=3, n_warmup_steps=2)`" in out


@pytest.mark.parametrize("test_accuracy, verdict, stretch", [(0.925, "**met**", "stretch 0.934 missed"),
                                                             (0.94, "**met**", "stretch 0.934 met"),
                                                             (0.91, "**missed**", "stretch 0.934 missed")])
def test_the_seed_lab_verdict_follows_the_retrained_test_accuracy(test_accuracy, verdict, stretch):
    doc = {
        "settings": {"command": "hpsearch launch lab ...", "time_budget": "60m"},
        "study": {"state": "done", "ended": "time budget of 1h spent"},
        "trials": [{"state": "COMPLETE"}, {"state": "PRUNED"}, {"state": "COMPLETE"},
                   {"state": "FAIL", "reason": "timed out after 1800 s (per-trial timeout)"}],
        "exported": {"trial": 2, "objectives": {"dev_accuracy": 0.93}, "metrics": {"params": 41962.0}, "config": {
            "model": {"backbone": "small_cnn", "depth": 2, "width": 19, "head_units": 342, "batch_norm": "after",
                      "dropout": 0.074}, "augment": {"policy": "mixup"},
            "optimizer": {"name": "adam", "learning_rate": 0.00148}, "training": {"batch_size": 128, "epochs": 10}}},
        "retrained": {"dev_accuracy": 0.931, "test_accuracy": test_accuracy},
        "search_seconds": 3600.0, "retrain_seconds": 600.0,
        "published": {"2 Conv+pooling+BN": 0.934},
        "targets": {"official_test_accuracy": {"target": "at least 0.92", "measured": test_accuracy,
                                               "met": test_accuracy >= 0.92, "stretch_met": test_accuracy >= 0.934}},
    }
    out = "\n".join(report.section("seed_lab", {**doc, **PROVENANCE}))
    assert f"official test accuracy {test_accuracy:.4f}" in out and "ended: time budget of 1h spent" in out
    assert "2 complete, 1 failed, 1 pruned" in out
    assert "Failed trials: 1 timed out after 1800 s (per-trial timeout)." in out
    assert ("(small_cnn of depth 2 from 19 filters, a hidden layer of 342 units, batch norm after, dropout 0.07, "
            "augmentation mixup, adam at learning rate 1.48e-03, batch 128, 10 epochs, 41,962 parameters)") in out
    assert f"at least 0.92: {verdict} — {test_accuracy:.4f}; {stretch}" in out


def test_the_seed_lab_lists_its_trials_and_counts_those_too_slow_for_the_budget():
    slow = "too slow for the time budget: 9 more epochs at 812 s each would end 1h40m past the 1h budget (15m allowed)"
    trials = [{"number": 0, "state": "COMPLETE", "epochs": 10, "dev_error": 0.0763, "reason": "completed"},
              {"number": 1, "state": "PRUNED", "epochs": 1, "dev_error": 0.12, "reason": slow},
              {"number": 2, "state": "PRUNED", "epochs": 2, "dev_error": 0.11, "reason": slow.replace("9 more", "8 more")},
              {"number": 3, "state": "PRUNED", "epochs": 1, "dev_error": 0.9, "reason": "pruned at epoch 1"}]
    out = "\n".join(seed_lab_report._trial_table(trials))
    assert "| 1 | pruned | 1 | 0.8800 | too slow for the time budget: 9 more epochs" in out
    assert "| 0 | complete | 10 | 0.9237 | completed |" in out
    assert "2 of 4 trials were stopped as too slow for the time budget, after 3 epochs between them." in out
    assert "too slow" not in "\n".join(seed_lab_report._trial_table(trials[:1]) + seed_lab_report._trial_table(trials[3:]))


def test_before_any_run_the_report_says_so(tmp_path):
    doc = {**summarise({}, PLAN, quick=True, figure=str(tmp_path / "c.png")), **PROVENANCE}
    out = _text(doc)
    assert "**Incomplete:** 25 of 25 planned runs are not in yet" in out and "| no runs yet |" in out
    assert out.count("**not measured** — no runs yet.") == 2 and not (tmp_path / "c.png").exists()


def test_runs_two_at_a_time_are_timed_by_the_clock_not_summed(tmp_path):
    raw = _raw(0.80, -0.02)
    for k, run in enumerate(r for runs in raw.values() for r in runs.values()):
        start = 1000.0 + 50.0 * (k // 2)  # two at a time, each 60 s: overlapping pairs, back to back
        run.update(span=[start, start + 60.0], wall_seconds=60.0)
    doc = summarise(raw, PLAN, quick=True, figure=str(tmp_path / "c.png"))
    doc.update(PROVENANCE)
    doc["settings"]["jobs"] = 2
    assert doc["runs_wall_seconds"] == 25 * 60.0
    assert doc["runs_elapsed_seconds"] == 50.0 * 12 + 60.0  # 13 pairs, each starting 50 s after the last
    assert "took 25 min of run time in all (11 min by the clock, 2 at a time, one TensorFlow thread each)" in _text(doc)
    del raw[HPSEARCH]["0"]["span"]  # a run saved before spans were recorded: elapsed unknown, not guessed
    assert summarise(raw, PLAN, quick=True, figure=str(tmp_path / "c.png"))["runs_elapsed_seconds"] is None


@pytest.mark.parametrize("prune_last_epoch, pruned_at", [(False, [False, False, False]), (True, [False, False, True])])
def test_hpsearch_is_never_pruned_after_its_last_epoch_raw_optunas_documented_loop_is(prune_last_epoch, pruned_at):
    import optuna

    from benchmarks import search_efficiency as se

    class PruneFromEpoch3(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return trial.last_step >= 3

    trial = optuna.create_study(pruner=PruneFromEpoch3()).ask()
    reporter = se._reporter(trial, se.Tracker(budget=10), "dev_accuracy", prune_last_epoch)
    seen = []
    for epoch in (1, 2, 3):  # MAX_EPOCHS is 3: epoch 3 is the last
        reporter.report(epoch, {"dev_accuracy": 0.5})
        seen.append(reporter.pruned)
    assert seen == pruned_at


def test_the_lowest_p_quoted_follows_the_seeds_paired_so_far_not_the_seeds_planned(tmp_path):
    doc = summarise(_raw(0.80, -0.02, seeds=[0, 1, 2]), PLAN, quick=True, figure=str(tmp_path / "c.png"))
    doc.update(PROVENANCE)
    assert "which with 3 paired seeds cannot go below 0.25" in _text(doc)


def test_peers_that_drew_hpsearchs_very_configurations_are_named(tmp_path):
    raw = _raw(0.80, -0.02)
    random_search = "random search, no pruning"
    for name, second in ((HPSEARCH, {"lr": 0.1}), (random_search, {"lr": 0.2})):
        trials = raw[name]["0"]["trials"]
        trials["0"]["params"], trials["1"]["params"] = {"lr": 0.01}, second
    doc = summarise(raw, PLAN, quick=True, figure=str(tmp_path / "c.png"))
    doc.update(PROVENANCE)
    out = _text(doc)
    assert (f"- {random_search} and {HPSEARCH} completed trials with the very same configuration: 1 of 2 (seed 0)"
            in out)
    assert "KerasTuner Hyperband and" not in out  # no configurations recorded alike: nothing claimed


def test_the_hidden_layer_sentence_counts_random_searchs_draws_and_the_picks(tmp_path):
    raw = _raw(0.80, -0.02)
    for seed, run in raw["random search, no pruning"].items():
        for number, t in run["trials"].items():
            t["params"] = {"hidden_layer": number == "0"}  # trial 0 (dev 0.6) with a hidden layer, the others without
    for run in raw[HPSEARCH].values():
        run["trials"][run["pick"]["trial"]]["params"] = {"hidden_layer": True}
    doc = summarise(raw, PLAN, quick=True, figure=str(tmp_path / "c.png"))
    doc.update(PROVENANCE)
    out = _text(doc)
    assert ("reached a final dev accuracy of 0.600 with one (n=5) and 0.765 [0.750–0.780] without (n=10)" in out)
    assert "The configurations the searches picked had one in: hpsearch (defaults) 5 of 5; random search, no pruning 5 of 5." in out


def test_benchmark_1s_hpsearch_row_runs_the_portfolio_first_and_random_search_none(monkeypatch):
    """Its row must be what `hpsearch launch` does with no flags: the recipes queued before any trial is asked for."""
    from benchmarks import search_efficiency as se
    from search.core.spec import StudySpec

    monkeypatch.setattr(se, "MAX_EPOCHS", 2)
    monkeypatch.setattr(se, "TRAINER", "testing.doubles:sized")
    # No pruning here, so that each recipe's trial completes and records its parameters.
    run = se.run_hpsearch("defaults", "none", seed=0, budget=12, data=None, narrowing=se.CPU_CHEAP)
    recipes = se.bench_spec(0, 12, se.CPU_CHEAP, portfolio=True).portfolio_trials()
    assert run["portfolio"] == [r.name for r, _ in recipes] and len(recipes) == 4
    complete = [run["trials"][str(k)] for k in range(len(recipes))]
    assert [t.get("params") for t in complete] == [p for _, p in recipes]
    assert StudySpec().portfolio  # what launch does with no flags
    random = se.run_hpsearch("random", "none", seed=0, budget=4, data=None, narrowing=se.CPU_CHEAP)
    assert random["portfolio"] == []


def test_a_row_of_older_defaults_says_so_and_one_of_todays_does_not():
    import copy
    import json

    from benchmarks.harness.common import RESULTS
    from benchmarks.search_efficiency.report import older_defaults
    from benchmarks.search_efficiency import today_settings

    with open(f"{RESULTS}/search_efficiency.json", encoding="utf-8") as f:
        doc = json.load(f)
    doc["settings_used"][HPSEARCH] = {"0": {"pruner": {"class": "HyperbandPruner", "min_resource": 1, "reduction_factor": 3},
                                            "sampler": "TPESampler"}}
    assert "**Older defaults:**" in older_defaults(doc)
    today = today_settings(doc["settings"]["max_epochs_per_configuration"], doc["settings"]["budget_epochs"])
    current = copy.deepcopy(doc)
    current["settings_used"][HPSEARCH] = {"0": {k: today[k] for k in ("pruner", "sampler", "portfolio")}}
    assert older_defaults(current) is None
