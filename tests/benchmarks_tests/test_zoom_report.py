"""Benchmark 7's picks and verdicts follow its runs: synthetic runs through the real summary and report."""

from __future__ import annotations

from benchmarks import report
from benchmarks.zoom_confirm import picks, summarise
from tests.benchmarks_tests.test_search_report import PROVENANCE, _run

PLAN = {"budget": 6, "max_epochs": 2, "seeds": [0, 1], "train_images": 1000}


def test_the_truly_best_is_the_best_re_evaluated_mean_and_confirm_averages_out_a_lucky_run():
    configurations = [
        {"trial": "0", "single": 0.90, "confirm": [0.80, 0.81], "reeval": [0.80, 0.80, 0.81]},  # lucky once
        {"trial": "3", "single": 0.86, "confirm": [0.86, 0.85], "reeval": [0.86, 0.85, 0.86]},  # truly best
    ]
    p = picks(configurations)
    assert p == {"truly_best": 1, "single_pick": 0, "confirm_pick": 1, "single_right": False, "confirm_right": True}


def _seed_runs(single_values, pair_values, configurations):
    return {"single": _run(single_values), "pair": dict(_run(pair_values), zoom={"warm_start_trials": 4, "narrowing": {}}),
            "confirm": {"configurations": configurations}}


def test_the_zoom_and_confirm_verdicts(tmp_path):
    lucky = [{"trial": "0", "single": 0.90, "confirm": [0.80, 0.81], "reeval": [0.80, 0.81]},
             {"trial": "3", "single": 0.86, "confirm": [0.86, 0.85], "reeval": [0.86, 0.86]}]
    runs = {str(s): _seed_runs([0.5, 0.6, 0.7, 0.75, 0.79, 0.80], [0.5, 0.6, 0.7, 0.80, 0.81, 0.82], lucky) for s in PLAN["seeds"]}
    doc = {**summarise(runs, PLAN), **PROVENANCE}
    text = "\n".join(report.section("zoom_confirm", doc))
    # The pair's median best-so-far reaches the single study's final 0.80 at its 4th epoch of 6 (67%).
    assert "within 70% of the epochs: **met** — single study's final median 0.800; the pair reached it after 4 of 6 epochs (67%)" in text
    assert "more often than the single-run pick: **met** — truly best picked in 2 of 2 seeds with confirm, 0 of 2" in text

    assert "(2 done). Zoom" in text  # runs saved without their spans: no time claimed

    for i, run in enumerate(runs.values()):  # two seeds side by side, the second ending 10 min after the first
        run.update(span=[1000.0, 1000.0 + 600 * (i + 2)], wall_seconds=600.0 * (i + 2))
    doc = {**summarise(runs, {**PLAN, "jobs": 2}), **PROVENANCE}
    text = "\n".join(report.section("zoom_confirm", doc))
    assert "(2 done, taking 50 min of run time (30 min by the clock, 2 at a time, one TensorFlow thread each)). Zoom" in text

    del runs["1"]
    doc = {**summarise(runs, PLAN), **PROVENANCE}
    text = "\n".join(report.section("zoom_confirm", doc))
    assert "**met**" not in text and "**not measured**" in text  # not judged before every seed is in
