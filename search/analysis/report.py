"""The study-level error analysis: one computation behind the dashboard's study note and `hpsearch report`.

Per trial, the decomposition comes from the errors stored in its user attrs (recording.record).
Across the study, the dominant problem is the one most of the best trials share; the next steps
say what to change in the search space (a `--narrow` YAML for the next study) and beyond it.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from search.analysis import advice
from search.analysis.diagnostics import PROBLEMS, Decomposition, decompose, measured
from search.analysis.ensemble import ENSEMBLE_ATTR
from search.analysis.ensemble import describe as describe_ensemble
from search.core import confirmations
from search.core.ranking import is_feasible, ranked_trials
from search.core.spec import StudySpec, read_spec

TOP = 5  # "the best trials": enough to see a pattern, few enough to be the ones that matter
NOTE_MARKER = "<!-- hpsearch rewrites everything above this line after each trial; your own notes below it are kept -->"


@dataclass
class TrialView:
    """What the analysis needs of one finished trial."""

    number: int
    state: str  # "complete" or "pruned"
    values: list[float] | None
    decomposition: Decomposition
    feasible: bool
    config: Mapping[str, Any] | None
    curves: Mapping[str, Sequence[float | None]]
    attrs: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"#{self.number}"


def trial_view(trial: FrozenTrial, human_error: float) -> TrialView | None:
    """None for a trial that did not finish or measured no errors."""
    if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
        return None
    attrs = trial.user_attrs
    d = measured(attrs.get("human_error", human_error), attrs)
    if d is None:
        return None

    return TrialView(
        number=trial.number,
        state=trial.state.name.lower(),
        values=list(trial.values) if trial.values else None,
        decomposition=d,
        feasible=is_feasible(trial),
        config=attrs.get("config"),
        curves=attrs.get("curves") or {},
        attrs=attrs,
    )


@dataclass
class StudyAnalysis:
    study: str
    objectives: list[str]
    human_error: float
    views: list[TrialView]  # every finished trial with measured errors, by number
    best: list[TrialView]  # the best complete feasible trials, best first
    counts: dict[str, int]  # dominant problem -> trials, over `views`
    infeasible: int
    dominant: str  # across the best trials (or every trial when none completed)
    summary: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    narrowing: dict[str, Any] = field(default_factory=dict)
    limits: dict[str, float] = field(default_factory=dict)
    confirmations: list[dict[str, Any]] = field(default_factory=list)  # re-measured configurations, best mean first
    ensemble: dict[str, Any] | None = None  # the last `export --ensemble` (search.analysis.ensemble)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "objectives": self.objectives,
            "human_error": self.human_error,
            "trials_measured": len(self.views),
            "dominant_problem_counts": self.counts,
            "infeasible": self.infeasible,
            "dominant_problem": self.dominant,
            "best": [
                {"trial": v.number, "values": v.values, "feasible": v.feasible, **v.decomposition.to_dict()} for v in self.best
            ],
            "summary": self.summary,
            "next_steps": self.next_steps,
            "narrowing": self.narrowing,
            "confirmations": self.confirmations,
            "ensemble": self.ensemble,
        }


def analyse(study: optuna.Study, spec: StudySpec | None = None, *, top: int = TOP, trials=None) -> StudyAnalysis:
    """The error analysis of a whole study (any state: it is refreshed as trials finish).

    `trials`: the study's trials if already read, possibly light ones without their curves
    (search.core.trial_index): the best trials' curves are then read whole, alone.
    """

    spec = spec or read_spec(study) or StudySpec()
    light = trials is not None
    trials = study.get_trials(deepcopy=False) if trials is None else trials
    views = [v for v in (trial_view(t, spec.human_error) for t in trials) if v is not None]
    by_number = {v.number: v for v in views}
    best = [by_number[t.number] for t in ranked_trials(study, spec, trials) if t.number in by_number][:top]
    if light:
        ids = {t.number: t._trial_id for t in trials}
        for v in best:
            v.curves = study._storage.get_trial(ids[v.number]).user_attrs.get("curves") or {}
    counts = Counter(v.decomposition.dominant for v in views)
    infeasible = sum(1 for v in views if v.state == "complete" and not v.feasible)
    pool = best or views
    dominant = _most_common([v.decomposition.dominant for v in pool])
    analysis = StudyAnalysis(
        study=study.study_name,
        objectives=list(spec.objectives),
        human_error=spec.human_error,
        views=views,
        best=best,
        counts={p: counts[p] for p in (*PROBLEMS, "none") if counts[p]},
        infeasible=infeasible,
        dominant=dominant,
        limits=spec.limits,
    )
    analysis.summary = _summary(analysis, pool)
    analysis.confirmations = [g.to_dict() for g in confirmations.of_study(study, spec.objective, trials)]
    analysis.ensemble = study.user_attrs.get(ENSEMBLE_ATTR)
    if spec.zoomed_from:
        from search.analysis.zoom import describe_lineage

        analysis.summary.insert(0, f"This study was {describe_lineage(spec.zoomed_from, spec.warm_trials)}.")
    analysis.narrowing = suggest_narrowing(spec, views, best, dominant)
    analysis.next_steps = _next_steps(analysis, spec, pool)
    return analysis


def _most_common(problems: Sequence[str]) -> str:
    """The most frequent problem; a tie goes to the earlier one in PROBLEMS (bias before variance ...)."""
    if not problems:
        return "none"
    counts = Counter(problems)
    order = (*PROBLEMS, "none")
    return max(order, key=lambda p: (counts[p], -order.index(p)))


def median_gaps(views: Sequence[TrialView]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for problem in PROBLEMS:
        values = [g for v in views if (g := v.decomposition.gaps()[problem]) is not None]
        out[problem] = statistics.median(values) if values else None
    return out


def _summary(a: StudyAnalysis, pool: Sequence[TrialView]) -> list[str]:
    if not a.views:
        return ["No trial has finished with measured errors yet."]
    complete = sum(1 for v in a.views if v.state == "complete")
    per = ", ".join(f"{p} {n}" for p, n in a.counts.items())
    lines = [f"{len(a.views)} trials measured ({complete} complete, {len(a.views) - complete} pruned); dominant problem per trial: {per}."]
    which = f"the {len(a.best)} best trials" if a.best else "the measured trials"
    share = sum(1 for v in pool if v.decomposition.dominant == a.dominant)
    gaps = median_gaps(pool)
    gap_text = ", ".join(f"{advice.GAP_NAMES[p]} {advice.points(g)}" for p, g in gaps.items() if g is not None)
    if a.dominant == "none":
        lines.append(f"Across {which}, no problem dominates ({share} of {len(pool)} have every gap within tolerance); median gaps: {gap_text}.")
    else:
        lines.append(f"Across {which}, {a.dominant} dominates ({share} of {len(pool)}); median gaps: {gap_text}.")
    if a.best:
        b = a.best[0]
        value = ", ".join(f"{n} {v:.4g}" for n, v in zip(a.objectives, b.values or []))
        lines.append(f"Best trial {b.number}: {value}; dev error {advice.pct(b.decomposition.dev_error)}, human-level {advice.pct(a.human_error)}.")
    below = sum(1 for v in pool if v.decomposition.below_human)
    if below:
        lines.append(
            f"{below} of them train below human-level error ({advice.pct(a.human_error)}): negative avoidable bias is "
            "reported, never blamed; the human-level estimate may be too high."
        )
    if a.infeasible:
        lines.append(f"{a.infeasible} complete trials break a satisficing limit: marked INFEASIBLE, never exported as best.")
    return lines


def _next_steps(a: StudyAnalysis, spec: StudySpec, pool: Sequence[TrialView]) -> list[str]:
    if not pool:
        return ["Wait for trials to finish."]
    gaps = median_gaps(pool)
    gap = advice.points(gaps.get(a.dominant)) if a.dominant in gaps else ""
    narrow = (f" Zoom the next study into the YAML below, warm-started from this one's trials "
              f"(`hpsearch launch NAME --zoom {a.study} --narrow next.yaml`)." if a.narrowing else "")
    steps: list[str] = []
    if a.dominant == "bias":
        steps.append(
            f"The best trials underfit (median avoidable bias {gap}): search bigger networks trained longer "
            f"(--epochs {2 * spec.epochs}), with less regularization.{narrow}"
        )
    elif a.dominant == "variance":
        steps.append(
            f"The best trials overfit the training data (median variance {gap}): more training data first; then "
            f"search stronger regularization.{narrow}"
        )
        evidence = _dropout_evidence(a.views)
        if evidence:
            steps.append(evidence)
    elif a.dominant == "data mismatch":
        steps.append(
            f"Dev error exceeds train-dev error (median data mismatch {gap}): the search space is not the lever. Do error "
            "analysis on the dev mistakes, bring training data closer to the target (--target-dir keeps dev and test on "
            "it), or synthesize the target's conditions."
        )
    elif a.dominant == "dev overfitting":
        steps.append(
            f"Test error exceeds dev error (median dev overfitting {gap}): more trials would overfit the dev set further. "
            "Use a bigger dev set (data.dev_fraction) before searching on."
        )
    else:
        steps.append(
            "Every gap of the best trials is within tolerance: they are near human-level error. Re-check --human-error, "
            "clean label errors, or get more data; more search will not help much."
        )
    if a.best:
        best = a.best[0]
        steps += [f"Best trial {best.number}: {s}" for s in advice.next_steps(best.decomposition, best.config, curves=best.curves)]
    return steps


def _dropout_evidence(views: Sequence[TrialView]) -> str | None:
    pairs = [(d, v.decomposition.variance) for v in views if (d := ((v.config or {}).get("model") or {}).get("dropout")) is not None]
    if len(pairs) < 4:
        return None
    cut = statistics.median(d for d, _ in pairs)
    high = [var for d, var in pairs if d > cut]
    low = [var for d, var in pairs if d <= cut]
    if not high or not low:
        return None
    return (
        f"Trials with dropout above {cut:.2f} had median variance {advice.points(statistics.median(high))}, "
        f"those at or below it {advice.points(statistics.median(low))} (see the 'Variance vs regularization' figure)."
    )


# ---- the next study's space -------------------------------------------------------------
def suggest_narrowing(spec: StudySpec, views: Sequence[TrialView], best: Sequence[TrialView], dominant: str) -> dict[str, Any]:
    """A `--narrow` mapping for the next study, moved toward the fix for the dominant problem.

    It starts from this study's narrowing and stays inside this study's ranges (a zoom never
    widens, so `launch --zoom` accepts it), and is dropped if the space refuses it.
    """
    if dominant not in ("bias", "variance") or not best:
        return {}
    from spaces import Categorical, Float, Int, SpaceError, get_space

    try:
        current = get_space(spec.space, spec.narrowing).dimensions
    except SpaceError:
        return {}
    def picked(section: str, key: str) -> list[Any]:  # the best trials' values, best first
        return [v.config[section][key] for v in best if v.config and key in v.config.get(section, {})]

    out: dict[str, Any] = {}

    def bound(name: str, low=None, high=None) -> None:
        dim = current.get(name)
        if not isinstance(dim, (Float, Int)):
            return
        # Inside this study's own ranges: `launch --zoom THIS --narrow next.yaml` takes it as it is.
        lo = dim.low if low is None else min(max(low, dim.low), dim.high)
        hi = dim.high if high is None else max(min(high, dim.high), lo)
        if (lo, hi) != (dim.low, dim.high):
            cast = int if isinstance(dim, Int) else (lambda x: round(float(x), 6))
            out[name] = {"low": cast(lo), "high": cast(hi)}

    if dominant == "bias":  # more capacity than the best trials had, less regularization, their learning rates
        for key in ("depth", "width"):
            if picked("model", key):
                bound(key, low=statistics.median_low(picked("model", key)))
        bound("dropout", high=0.2)
        if picked("transfer", "fine_tune_fraction"):
            bound("fine_tune_fraction", low=statistics.median(picked("transfer", "fine_tune_fraction")))
        lrs = picked("optimizer", "learning_rate")[:3]
        lr_dim = current.get("learning_rate")
        if lrs and isinstance(lr_dim, Float) and max(lrs) / min(lrs) * 9 < math.sqrt(lr_dim.high / lr_dim.low):
            bound("learning_rate", low=min(lrs) / 3, high=max(lrs) * 3)  # only when it halves the log range
    else:
        dropouts = picked("model", "dropout")
        bound("dropout", low=max(0.2, min(dropouts)) if dropouts else 0.2)
        if picked("transfer", "fine_tune_fraction"):
            bound("fine_tune_fraction", high=statistics.median(picked("transfer", "fine_tune_fraction")))
        policy = current.get("augment_policy")
        if isinstance(policy, Categorical):
            keep = _low_variance_choices(views, "augment", "policy", policy.choices)
            if keep and set(keep) != set(policy.choices):
                out["augment_policy"] = keep
    if not out:
        return {}
    narrowing = {**spec.narrowing, **out}
    try:
        get_space(spec.space, narrowing)
    except SpaceError:
        return {}
    return narrowing


def _low_variance_choices(views: Sequence[TrialView], section: str, key: str, choices: Sequence[Any]) -> list[Any]:
    """The choices whose trials' median variance is at or below the median over all trials (two at least)."""
    by_choice: dict[Any, list[float]] = {}
    for v in views:
        value = (v.config or {}).get(section, {}).get(key)
        if value in choices:
            by_choice.setdefault(value, []).append(v.decomposition.variance)
    if len(by_choice) < 2:
        return []
    overall = statistics.median(x for xs in by_choice.values() for x in xs)
    ranked = sorted(by_choice, key=lambda c: statistics.median(by_choice[c]))
    keep = [c for c in ranked if statistics.median(by_choice[c]) <= overall]
    if len(keep) < 2:
        keep = ranked[:2]
    return [c for c in choices if c in keep]


# ---- as markdown (the study note) -------------------------------------------------------------
def mean_std(s: dict[str, Any], missing: str = "—") -> str:
    """A confirmed configuration's figure: 'mean ± std' over its runs ('mean' for one run)."""
    if s.get("mean") is None:
        return missing
    return f"{s['mean']:.4f} ± {s['std']:.4f}" if s.get("std") is not None else f"{s['mean']:.4f}"


def study_note(a: StudyAnalysis) -> str:
    import yaml

    parts = [f"## Error analysis of {a.study}: {a.dominant if a.views else 'no measured trial yet'}"]
    parts.append("\n".join(f"- {line}" for line in a.summary))
    if a.best:
        lines = ["| trial | " + " | ".join(a.objectives) + " | train | train-dev | dev | test | avoidable bias | variance | data mismatch | dev overfitting | problem |",
                 "|---" * (len(a.objectives) + 10) + "|"]
        for v in a.best:
            lines.append("| " + " | ".join(decomposition_cells(v, a.objectives)) + " |")
        parts.append("### The best trials\n\n" + "\n".join(lines))
    if a.confirmations:
        objective = a.objectives[0]
        lines = [f"| trial | runs done/queued | {objective} | dev accuracy | test accuracy |", "|---|---|---|---|---|"]
        for g in a.confirmations:
            lines.append(f"| {g['trial']} | {len(g['runs']) - 1}/{g['confirmations_queued']} | "
                         + " | ".join(mean_std(g[k]) for k in (objective, "dev_accuracy", "test_accuracy")) + " |")
        parts.append("### Confirmed configurations (mean ± std over the original and its confirmation runs)\n\n"
                     + "\n".join(lines))
    if a.ensemble:
        parts.append("### Ensemble of the kept models\n\n" + "\n".join(f"- {line}" for line in describe_ensemble(a.ensemble)))
    parts.append("### Where to look next\n\n" + "\n".join(f"- {s}" for s in a.next_steps))
    if a.narrowing:
        parts.append("```yaml\n# next.yaml\n" + yaml.safe_dump(a.narrowing, sort_keys=False) + "```")
    parts.append(
        "Figures on this page: the error decomposition of the best trials, avoidable bias vs variance for every trial, "
        "learning curves of the best trials, variance vs each regularization hyperparameter"
        + (", and the objective against the satisficing limits." if a.limits else ".")
    )
    return "\n\n".join(parts) + "\n"


def with_user_notes(generated: str, previous: str) -> str:
    """The generated note, keeping what a person wrote below the marker in the previous one."""
    kept = previous.split(NOTE_MARKER, 1)[1] if NOTE_MARKER in previous else ""
    return f"{generated}\n{NOTE_MARKER}\n{kept.lstrip(chr(10))}"


def decomposition_cells(v: TrialView, objectives: Sequence[str]) -> list[str]:
    d = v.decomposition
    return [
        str(v.number),
        *(f"{x:.4g}" for x in (v.values or [])),
        advice.pct(d.train_error),
        advice.pct(d.train_dev_error),
        advice.pct(d.dev_error),
        advice.pct(d.test_error),
        advice.signed_points(d.avoidable_bias),
        advice.signed_points(d.variance),
        advice.signed_points(d.data_mismatch),
        advice.signed_points(d.dev_overfitting),
        d.dominant,
    ]


def diagnose_numbers(
    human_error: float,
    train_error: float,
    dev_error: float,
    train_dev_error: float | None = None,
    test_error: float | None = None,
) -> dict[str, Any]:
    """`hpsearch diagnose`: the same decomposition and rules as the dashboard, on numbers a user brings."""
    d = decompose(human_error, train_error, dev_error, train_dev_error, test_error)
    return {**d.to_dict(), "verdict": advice.verdict(d), "next_steps": advice.next_steps(d)}
