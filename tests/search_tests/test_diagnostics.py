"""The error decomposition and the dominant-problem rule, on hand-computed cases; the advice it leads to."""

from __future__ import annotations

import pytest

from search.analysis import advice
from search.analysis.diagnostics import DEFAULT_TOLERANCE, decompose, diagnose_trial, measured
from search.analysis.report import TrialView, _most_common, suggest_narrowing
from search.core.spec import SpecError, StudySpec
from trainers.config import TrainConfig


def config(**sections) -> dict:
    return TrainConfig().replace(**sections).to_dict()


# ---- the decomposition --------------------------------------------------------------------
def test_every_gap_by_hand():
    # human 1%, train 3%, train-dev 9.1%, dev 10%, test 10.5%
    d = decompose(0.01, 0.03, 0.10, 0.091, 0.105)
    assert d.avoidable_bias == pytest.approx(0.02)
    assert d.variance == pytest.approx(0.061)
    assert d.data_mismatch == pytest.approx(0.009)
    assert d.dev_overfitting == pytest.approx(0.005)
    assert d.dominant == "variance"
    assert not d.below_human


@pytest.mark.parametrize(
    "errors, dominant",
    [
        ((0.0, 0.08, 0.10, 0.09, 0.10), "bias"),  # bias 8, variance 1, mismatch 1
        ((0.0, 0.02, 0.12, 0.03, 0.12), "data mismatch"),  # bias 2, variance 1, mismatch 9
        ((0.0, 0.02, 0.03, 0.025, 0.09), "dev overfitting"),  # bias 2, overfitting 6
        ((0.02, 0.025, 0.03, 0.027, 0.031), "none"),  # every gap under one point
        ((0.02, 0.03, 0.04, 0.03, None), "none"),  # gaps of exactly the tolerance are noise
    ],
)
def test_dominant_problem(errors, dominant):
    human, train, dev, train_dev, test = errors
    assert decompose(human, train, dev, train_dev, test).dominant == dominant


@pytest.mark.parametrize(
    "errors, dominant",
    [
        ((0.02, 0.07, 0.15, 0.12, None), "bias"),  # bias 5 == variance 5 (in floating point, nearly)
        ((0.0, 0.005, 0.105, 0.055, None), "variance"),  # variance 5 == mismatch 5
        ((0.0, 0.005, 0.06, 0.01, 0.11), "data mismatch"),  # mismatch 5 == dev overfitting 5
    ],
)
def test_ties_go_to_the_earlier_problem(errors, dominant):
    human, train, dev, train_dev, test = errors
    d = decompose(human, train, dev, train_dev, test)
    gaps = sorted((g for g in d.gaps().values() if g is not None), reverse=True)
    assert gaps[0] == pytest.approx(gaps[1])  # really a tie
    assert d.dominant == dominant


def test_without_train_dev_variance_is_dev_minus_train():
    d = decompose(0.01, 0.02, 0.09)
    assert d.train_dev_error is None
    assert d.variance == pytest.approx(0.07)
    assert d.data_mismatch is None and d.dev_overfitting is None
    assert d.dominant == "variance"
    rows = advice.decomposition_rows(d)
    assert [r[0] for r in rows] == ["human-level", "train", "dev"]
    assert "no train-dev" in rows[-1][2]


def test_training_error_below_human_level_is_reported_never_blamed():
    d = decompose(0.05, 0.02, 0.025, 0.022)
    assert d.avoidable_bias == pytest.approx(-0.03)
    assert d.below_human
    assert d.dominant == "none"
    text = advice.verdict(d)
    assert "below human-level error 5.0%" in text and "-3.0" in text and "not a problem" in text
    assert "human-level" in advice.next_steps(d)[0]
    # Another problem is still found: negative bias never hides it.
    d2 = decompose(0.05, 0.02, 0.10, 0.08)
    assert d2.below_human and d2.dominant == "variance"


def test_errors_are_fractions_and_percentages_are_refused_with_a_hint():
    fractions = decompose(0.02, 0.05, 0.08)
    assert fractions.dominant == "bias" and fractions.avoidable_bias == pytest.approx(0.03)
    with pytest.raises(SpecError, match=r"train error is an error rate in \[0, 1\], got 5 \(it looks like a percentage: use 0.05\)"):
        decompose(0.02, 5, 0.08)
    with pytest.raises(SpecError, match=r"human-level error .* use 0.02"):
        decompose(2, 0.05, 0.08)
    with pytest.raises(SpecError, match="got 150$"):  # not a percentage either: no hint
        decompose(0.0, 0.05, 150)
    with pytest.raises(SpecError, match="got -0.1$"):
        decompose(0.0, 0.05, 0.1, test_error=-0.1)


def test_trial_attrs_from_measured_errors():
    spec = StudySpec(human_error=0.01)
    attrs = diagnose_trial(spec, {"train_error": 0.03, "train_dev_error": 0.091, "dev_error": 0.10, "test_error": 0.105})
    assert attrs["dominant_problem"] == "variance"
    assert attrs["avoidable_bias"] == pytest.approx(0.02)
    assert attrs["variance"] == pytest.approx(0.061)
    assert attrs["below_human_level"] is False
    # A trial that measured nothing (e.g. NaN loss in epoch 1) gets no decomposition.
    assert diagnose_trial(spec, {"loss": float("nan")}) == {}
    assert measured(0.0, {"train_error": float("nan"), "dev_error": 0.1}) is None


# ---- the advice -----------------------------------------------------------------------------
def test_variance_advice_names_the_trials_own_values():
    d = decompose(0.01, 0.03, 0.10, 0.091)
    steps = advice.next_steps(d, config(model={"dropout": 0.05}, augment={"policy": "none"}))
    assert "dropout is 0.05 and variance is 6.1 points: try dropout ≥ 0.3 or the occlusion policy" in steps
    assert any("more training data" in s for s in steps)
    assert any("weight decay is 0" in s for s in steps)
    pretrained = advice.next_steps(d, config(model={"backbone": "mobilenet_v2"}, transfer={"fine_tune_fraction": 0.4}))
    assert any("fine_tune_fraction is 0.40: fine-tune fewer backbone layers (≤ 0.20)" in s for s in pretrained)


def test_bias_advice_names_network_optimizer_and_regularization():
    d = decompose(0.0, 0.08, 0.09, 0.085)
    cfg = config(model={"depth": 2, "width": 32, "dropout": 0.4}, optimizer={"name": "adam", "learning_rate": 2e-5}, training={"epochs": 5})
    text = "\n".join(advice.next_steps(d, cfg, curves={"train_error": [0.3, 0.2, 0.1]}))
    assert "depth 2 and width 32 and avoidable bias is 8.0 points: try a bigger network (depth 3+, width 64+)" in text
    assert "still falling" in text and "--epochs 10" in text
    assert "Adam's learning rate is 2.0e-05" in text
    assert "dropout is 0.40 (try ≤ 0.1)" in text
    generic = advice.next_steps(d)  # `hpsearch diagnose`: no config, still concrete
    assert any("bigger network" in s for s in generic) and any("less regularization" in s for s in generic)


def test_mismatch_and_dev_overfitting_advice():
    mismatch = advice.next_steps(decompose(0.0, 0.02, 0.12, 0.03), config())
    assert "error analysis" in mismatch[0] and any("closer to the target" in s for s in mismatch)
    assert any("synthesize" in s for s in mismatch)
    overfit = advice.next_steps(decompose(0.0, 0.02, 0.03, 0.025, 0.09), config(data={"dev_fraction": 0.15}))
    assert "bigger dev set (data.dev_fraction is 0.15: try 0.30)" in overfit[0]


def test_trial_note_has_table_problem_steps_and_infeasible_mark():
    d = decompose(0.01, 0.03, 0.10, 0.091, 0.105)
    note = advice.trial_note(
        7, "complete", decomposition=d, config=config(model={"dropout": 0.05}),
        constraints={"latency_ms": 8.4}, limits={"latency_ms": 15.0}, epochs_run=3,
    )
    assert note.startswith("## Trial 7: variance — INFEASIBLE")
    assert "**INFEASIBLE**" in note and "latency (ms, batch 1) is 23.4, above the limit 15 (by 8.4)" in note
    assert "| train-dev | 9.1% | variance | +6.1 |" in note
    assert "### Next steps" in note and "dropout is 0.05" in note
    feasible = advice.trial_note(7, "complete", decomposition=d, constraints={"latency_ms": -1.0}, limits={"latency_ms": 15.0})
    assert "INFEASIBLE" not in feasible
    pruned = advice.trial_note(3, "pruned", decomposition=d, reason="pruned at epoch 2", epochs_run=2)
    assert "from epoch 2, where it stopped" in pruned


# ---- across a study ------------------------------------------------------------------------------
def test_study_dominant_problem_ties_go_to_the_earlier_problem():
    assert _most_common(["variance", "bias", "variance", "bias"]) == "bias"
    assert _most_common(["none", "none", "data mismatch"]) == "none"
    assert _most_common([]) == "none"


def view(number: int, d, cfg: dict) -> TrialView:
    return TrialView(number, "complete", [1 - d.dev_error], d, True, cfg, {}, {})


def test_suggested_narrowing_moves_toward_the_fix_and_stays_valid():
    from spaces import get_space

    spec = StudySpec(space="small", narrowing={"optimizer": "adam"})
    high_variance = decompose(0.0, 0.01, 0.10, 0.09)
    views = [
        view(0, high_variance, config(model={"dropout": 0.05}, augment={"policy": "none"})),
        view(1, decompose(0.0, 0.01, 0.05, 0.04), config(model={"dropout": 0.3}, augment={"policy": "occlusion"})),
        view(2, decompose(0.0, 0.01, 0.04, 0.03), config(model={"dropout": 0.35}, augment={"policy": "geometric"})),
        view(3, high_variance, config(model={"dropout": 0.1}, augment={"policy": "mixup"})),
    ]
    narrowing = suggest_narrowing(spec, views, views[:2], "variance")
    assert narrowing["optimizer"] == "adam"  # the study's own narrowing is kept
    assert narrowing["dropout"] == {"low": 0.2, "high": 0.5}
    assert set(narrowing["augment_policy"]) == {"occlusion", "geometric"}
    get_space("small", narrowing)  # a valid --narrow file
    bias = suggest_narrowing(StudySpec(space="small"), views, views[:1], "bias")
    assert bias["dropout"] == {"low": 0.0, "high": 0.2} and bias["depth"]["low"] == 2
    assert suggest_narrowing(spec, views, views, "data mismatch") == {}


def test_a_gap_counts_only_above_the_tolerance():
    # Variance 0.9 points is noise on a typical dev set; 1.5 points is a problem; a looser tolerance hides it.
    assert decompose(0.0, 0.005, 0.014, 0.014).dominant == "none"
    assert decompose(0.0, 0.005, 0.020, 0.020).dominant == "variance"
    assert decompose(0.0, 0.005, 0.020, 0.020, tolerance=2 * DEFAULT_TOLERANCE).dominant == "none"


def test_impossible_error_rates_from_a_trainer_leave_the_trial_undecomposed_instead_of_failing():
    assert measured(0.0, {"train_error": -0.02, "dev_error": 0.10}) is None
    assert measured(0.0, {"train_error": 0.02, "dev_error": 0.10, "test_error": 1.5}) is None
    assert measured(0.0, {"train_error": 0.02, "dev_error": 0.10}).dominant == "variance"
