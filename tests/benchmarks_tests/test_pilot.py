"""The pilot changes one of today's defaults at a time and pairs each variant with benchmark 1's runs of today."""

from __future__ import annotations

import json
import os

import optuna
import pytest

from benchmarks import pilot, report
from search.core.sampling import WholeStudyHyperband
from search.core.spec import StudySpec, make_pruner, make_sampler
from tests.benchmarks_tests.test_search_report import PLAN, PROVENANCE, _run


def test_the_pilots_baseline_is_what_launch_builds_with_no_flags():
    """If `hpsearch launch`'s defaults change, the pilot's idea of today must change with them."""
    from benchmarks import search_efficiency as se

    spec = StudySpec(epochs=3, trials=30)
    sampler, pruner = make_sampler(spec, seed=0), make_pruner(spec)
    ours_sampler, ours_pruner = pilot.build(pilot.settings({}), seed=0, max_epochs=3, trials=30)
    assert type(sampler) is type(ours_sampler) is optuna.samplers.TPESampler
    for attr in ("_multivariate", "_constant_liar", "_n_startup_trials"):
        assert getattr(sampler, attr) == getattr(ours_sampler, attr)
    assert type(pruner) is type(ours_pruner)
    assert se.describe_pruner(pruner) == se.describe_pruner(ours_pruner)
    assert pruner._max_resource == ours_pruner._max_resource == 3


def test_each_variant_changes_one_setting_and_a_pruner_of_another_kind_replaces_todays():
    today = pilot.settings({})
    assert today["pruner"] == {"name": "hyperband", "min_resource": 1, "reduction_factor": 3}
    warm = pilot.settings(pilot.VARIANTS["median pruner, warm-up 1"])
    assert warm["pruner"] == {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 1}
    assert warm["sampler"] == pilot.TODAY_SAMPLER
    former = pilot.settings(pilot.VARIANTS[pilot.FORMER_DEFAULT])
    _, built = pilot.build(former, seed=0, max_epochs=3, trials=30)
    assert isinstance(built, optuna.pruners.MedianPruner)
    assert (built._n_startup_trials, built._n_warmup_steps) == (3, 2)
    startup = pilot.settings(pilot.VARIANTS["TPE with 5 start-up trials"])
    assert startup["pruner"] == today["pruner"]
    sampler, pruner = pilot.build(startup, seed=0, max_epochs=3, trials=30)
    assert sampler._n_startup_trials == 5 and sampler._multivariate
    assert isinstance(pruner, WholeStudyHyperband)
    # The default before issue 26: Optuna's own Hyperband (the sampler sees one bracket), 10 start-up trials.
    sampler, pruner = pilot.build(pilot.settings(pilot.VARIANTS[pilot.PER_BRACKET]), seed=0, max_epochs=3, trials=30)
    assert sampler._n_startup_trials == 10 and type(pruner) is optuna.pruners.HyperbandPruner
    # A knob fixed in every trial is one more setting beside today's; today's own settings have no such key.
    # The early check wraps today's pruner, as launch --early-check does; the sampler is today's.
    early = pilot.settings(pilot.VARIANTS["early check after a quarter of epoch 1"])
    assert early["early_check"] == 0.25 and early["sampler"] == today["sampler"] and early["pruner"] == today["pruner"]
    _, checked = pilot.build(early, seed=0, max_epochs=3, trials=30)
    assert type(checked) is type(make_pruner(StudySpec(epochs=3, early_check=0.25)))
    assert type(checked.inner) is WholeStudyHyperband
    smoothing = pilot.settings(pilot.VARIANTS["label smoothing 0.1 in every trial"])
    assert smoothing == {**today, "fixed": {"training.label_smoothing": 0.1}} and "fixed" not in today
    # The placebo: today's settings, the sampler seeded one further on (it draws as seed + 1 would).
    placebo = pilot.settings(pilot.VARIANTS[pilot.PLACEBO])
    assert placebo == {**today, "sampler_seed_offset": 1}
    moved, _ = pilot.build(placebo, seed=7, max_epochs=3, trials=30)
    plain, _ = pilot.build(today, seed=8, max_epochs=3, trials=30)
    draws = [optuna.create_study(sampler=s).ask().suggest_float("x", 0, 1) for s in (moved, plain)]
    assert draws[0] == draws[1]


def test_the_pilot_table_pairs_variants_with_todays_runs_by_seed():
    seeds = [str(s) for s in PLAN["seeds"]]
    baseline = {s: _run([0.5, 0.6, 0.7, 0.75, 0.79, 0.80]) for s in seeds}
    better = {s: _run([0.5, 0.6, 0.7, 0.75, 0.81, 0.82]) for s in seeds}
    same_but_one = {s: _run([0.5, 0.6, 0.7, 0.75, 0.79, 0.80 if s != "0" else 0.79]) for s in seeds[:3]}
    doc = {**pilot.summarise({"TPE with 5 start-up trials": better, "no pruning": same_but_one}, baseline,
                             {**PLAN, "jobs": 2}), **PROVENANCE}
    text = "\n".join(report.section("pilot", doc))
    assert "| today's defaults | 5 | 0.800 |" in text
    # Five seeds, each 2 points better: the smallest sign-test p five pairs allow, 2/32.
    assert "| TPE with 5 start-up trials | 5 | 0.820 | 6 | +2.0, +2.0, +2.0, +2.0, +2.0 | 5 / 0 / 0 | 0.0625 |" in text
    assert "| no pruning | 3 | 0.800 [0.795–0.800] | 6 | -1.0, +0.0, +0.0 | 0 / 1 / 2 | 1 |" in text
    assert (f"**Incomplete:** 5 runs planned per row; baseline 5; no pruning: 3; {pilot.PLACEBO}: 0; {pilot.FORMER_DEFAULT}: 0; "
            f"{pilot.PER_BRACKET}: 0; no portfolio: 0; median pruner, warm-up 1: 0; early check after a quarter of epoch 1: 0; "
            "early check after half of epoch 1: 0; label smoothing 0.1 in every trial: 0; "
            "weight averaging (EMA 0.99) in every trial: 0; random erasing 0.5 in every trial: 0." in text)
    assert ("TPE(multivariate=True, constant_liar=True); hyperband(min_resource=1, reduction_factor=3); "
            "the space's portfolio first" in text)
    # Better in all five seeds, worse in none: the report says the default should change.
    assert "**TPE with 5 start-up trials** qualifies, and the default should change." in text


def test_a_complete_pilot_claims_no_incompleteness():
    seeds = [str(s) for s in PLAN["seeds"]]
    runs = {s: _run([0.5, 0.6, 0.7, 0.75, 0.79, 0.80]) for s in seeds}
    doc = {**pilot.summarise({name: runs for name in pilot.VARIANTS}, runs, PLAN), **PROVENANCE}
    text = "\n".join(report.section("pilot", doc))
    assert "Incomplete" not in text and text.count("| 5 | 0.800 |") == len(pilot.VARIANTS) + 1
    assert "no row does, so today's defaults stand" in text and f'"{pilot.FORMER_DEFAULT}" is the setting' in text


@pytest.mark.parametrize("deltas, spread, chance_passes",
                         [([0.01, 0.01, -0.01, 0.0, 0.0], "1.0", False), ([0.02] * 5, "2.0", True)])
def test_the_placebo_row_is_the_yardstick_and_never_a_winner(deltas, spread, chance_passes):
    """Today's settings with another sampler seed: its spread is reported beside the rule, and it changes no default."""
    seeds = [str(s) for s in PLAN["seeds"]]
    baseline = {s: _run([0.5, 0.79, 0.80]) for s in seeds}
    placebo = {s: _run([0.5, 0.79, 0.80 + d]) for s, d in zip(seeds, deltas)}
    better = {s: _run([0.5, 0.79, 0.815]) for s in seeds}
    doc = {**pilot.summarise({pilot.PLACEBO: placebo, "no pruning": better}, baseline, PLAN), **PROVENANCE}
    text = "\n".join(report.section("pilot", doc))
    assert "**no pruning** qualifies" in text and f"**{pilot.PLACEBO}**" not in text
    assert f"differs from today's own runs by up to {spread} points on a seed (over 5 seeds)" in text
    assert ("The placebo itself passes the rule" in text) is chance_passes


def test_saved_runs_of_other_defaults_are_not_reused(tmp_path):
    """A default that changes must not leave benchmark 1 or the pilot reporting runs of the old one as today's."""
    from benchmarks import search_efficiency as se

    today = se.today_settings(max_epochs=3, budget=90)
    folder = str(tmp_path)
    current = {**_run([0.5, 0.6]), "pruner": today["pruner"], "sampler": today["sampler"],
               "sampler_settings": today["sampler_settings"], "portfolio": today["portfolio"]}
    older = {**current, "pruner": {**today["pruner"], "n_warmup_steps": 7}}
    before_settings_were_recorded = {k: v for k, v in current.items() if k != "sampler_settings"}
    other_startup = {**current, "sampler_settings": {**today["sampler_settings"], "n_startup_trials": 99}}
    no_portfolio = {**current, "portfolio": []}
    unnamed = dict(current)  # its Hyperband brackets were drawn from a random study name
    runs = [current, older, before_settings_were_recorded, other_startup, no_portfolio, unnamed]
    for seed, run in enumerate(runs):
        with open(se.run_path(folder, se.HPSEARCH, seed), "w") as f:
            json.dump({**run, "study_name": se.study_name(seed)} if run is not unnamed else run, f)
    reused = [se.saved_run(folder, se.HPSEARCH, seed, 3, 90) is not None for seed in range(len(runs))]
    assert reused == [True, False, True, False, False, False]
    assert today["portfolio"][0] == "keras-mnist-convnet"
    # The outdated ones are moved aside, not lost.
    assert os.path.exists(se.run_path(folder, se.HPSEARCH, 1) + ".outdated")
    # Other contenders' runs do not depend on hpsearch's defaults.
    with open(se.run_path(folder, "KerasTuner Hyperband", 0), "w") as f:
        json.dump(_run([0.5, 0.6]), f)
    assert se.saved_run(folder, "KerasTuner Hyperband", 0, 3, 90) is not None

    name = "no pruning"
    with open(se.run_path(folder, name, 0), "w") as f:
        json.dump({**_run([0.5]), "settings": pilot.settings(pilot.VARIANTS[name]), "study_name": se.study_name(0)}, f)
    with open(se.run_path(folder, name, 1), "w") as f:
        json.dump({**_run([0.5]), "settings": {"sampler": {"n_startup_trials": 99}, "pruner": {"name": "none"}},
                   "study_name": se.study_name(1)}, f)
    with open(se.run_path(folder, name, 2), "w") as f:
        json.dump({**_run([0.5]), "settings": pilot.settings(pilot.VARIANTS[name])}, f)
    assert [pilot.saved_variant(folder, name, seed) is not None for seed in range(3)] == [True, False, False]


def scripted_trainer(config, data, reporter):
    """A trainer double: dev accuracy grows with the epoch and falls with distance from lr 1e-3."""
    import math

    from trainers.result import COMPLETED, STOPPED, TrainResult

    quality = 0.9 - 0.05 * abs(math.log10(config.optimizer.learning_rate) + 3)
    history = []
    for epoch in range(1, config.training.epochs + 1):
        history.append({"dev_accuracy": quality - 0.1 / epoch})
        reporter.report(epoch, history[-1])
        if reporter.should_stop():
            return TrainResult(epoch, STOPPED, history, dict(history[-1]), 0, 0.0)
    return TrainResult(len(history), COMPLETED, history, {**history[-1], "test_accuracy": quality}, 0, 0.0)


def test_a_variant_runs_hpsearchs_loop_through_the_trainer_it_is_given(monkeypatch):
    """The pilot on a machine without TensorFlow swaps the trainer; its runs are kept apart from benchmark 1's."""
    from benchmarks import search_efficiency as se

    monkeypatch.setattr(se, "MAX_EPOCHS", 2)
    monkeypatch.setattr(se, "TRAINER", "tests.benchmarks_tests.test_pilot:scripted_trainer")
    spec = pilot.settings(pilot.VARIANTS["no pruning"])
    run = pilot.run_variant(spec, seed=0, budget=12, data=None, narrowing={})
    assert run["events"][-1]["epochs_used"] == 12 and len(run["trials"]) == 6
    assert all(t["state"] == "complete" for t in run["trials"].values())  # no pruning: every trial ran its 2 epochs
    assert run["pick"]["dev_accuracy"] == max(t["dev_accuracy"] for t in run["trials"].values())
    assert run["settings"] == spec and run["pruner"] == {"class": "NopPruner"}

    plan = dict(se.QUICK)
    assert se.plan_key({**plan, "trainer": se.TRAINER}) != se.plan_key(plan)


def test_a_run_repeats_itself_because_its_study_is_named_by_the_seed(monkeypatch):
    """Hyperband's brackets come from the study's name: named by the seed, a rerun prunes the same trials."""
    from benchmarks import search_efficiency as se

    monkeypatch.setattr(se, "TRAINER", "tests.benchmarks_tests.test_pilot:scripted_trainer")
    today = pilot.settings({})

    def states(run):
        return {n: t["state"] for n, t in run["trials"].items()}

    first, again = (pilot.run_variant(today, seed=0, budget=30, data=None, narrowing={}) for _ in range(2))
    assert first["study_name"] == again["study_name"] == se.study_name(0)
    assert first["trials"] == again["trials"] and "pruned" in states(first).values()
    # What the runs saved before this fix did: an unnamed study, a random name, other brackets on each run.
    monkeypatch.setattr(se, "study_name", lambda seed: None)
    unnamed = [states(pilot.run_variant(today, seed=0, budget=30, data=None, narrowing={})) for _ in range(3)]
    assert any(u != states(first) for u in unnamed)


def test_every_search_run_is_pinned_to_one_thread(monkeypatch, tmp_path):
    """A run at --jobs 1 must repeat a saved run made at --jobs 2: TensorFlow on two threads sums in another order."""
    from benchmarks import search_efficiency as se
    from benchmarks.harness import parallel

    seen = []
    monkeypatch.setattr(parallel, "run_child", lambda cmd, out, threads, what: seen.append(threads) or {})
    se.run_one(se.HPSEARCH, 100, PLAN, str(tmp_path / "run.json"))
    se.run_one("no pruning", 100, PLAN, str(tmp_path / "run.json"), spec={"kind": "pilot", **pilot.settings({})})
    assert seen == [1, 1] and parallel.thread_env(1) == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
