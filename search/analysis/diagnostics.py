"""Where a model's error comes from: pure functions over measured error rates.

  avoidable bias  = train error     - human-level error
  variance        = train-dev error - train error      (dev - train when there is no train-dev)
  data mismatch   = dev error       - train-dev error
  dev overfitting = test error      - dev error

The dominant problem is the largest positive gap above a tolerance; a training error already
below human level gives a negative avoidable bias, which is reported but never blamed. Ties go
to the earlier problem in that list: fix bias before variance, variance before mismatch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

from search.core.spec import check_error_rate

PROBLEMS = ("bias", "variance", "data mismatch", "dev overfitting")
DEFAULT_TOLERANCE = 0.01  # gaps under one point are noise on typical dev sets


@dataclass(frozen=True)
class Decomposition:
    human_error: float
    train_error: float
    train_dev_error: float | None
    dev_error: float
    test_error: float | None
    avoidable_bias: float
    variance: float
    data_mismatch: float | None
    dev_overfitting: float | None
    dominant: str
    below_human: bool

    def gaps(self) -> dict[str, float | None]:
        return {
            "bias": self.avoidable_bias,
            "variance": self.variance,
            "data mismatch": self.data_mismatch,
            "dev overfitting": self.dev_overfitting,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decompose(
    human_error: float,
    train_error: float,
    dev_error: float,
    train_dev_error: float | None = None,
    test_error: float | None = None,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Decomposition:
    """Split the dev (and test) error into its sources; every rate must be a fraction in [0, 1]."""
    for name, value in (
        ("human-level error", human_error),
        ("train error", train_error),
        ("train-dev error", train_dev_error),
        ("dev error", dev_error),
        ("test error", test_error),
    ):
        if value is not None:
            check_error_rate(name, value)
    bias = train_error - human_error
    if train_dev_error is None:
        variance, mismatch = dev_error - train_error, None
    else:
        variance, mismatch = train_dev_error - train_error, dev_error - train_dev_error
    overfit = None if test_error is None else test_error - dev_error
    gaps = {"bias": bias, "variance": variance, "data mismatch": mismatch, "dev overfitting": overfit}
    worst, worst_gap = "none", tolerance
    for problem in PROBLEMS:  # strict '>' keeps the earlier problem on a tie
        gap = gaps[problem]
        if gap is not None and gap > worst_gap + 1e-12:
            worst, worst_gap = problem, gap
    return Decomposition(
        human_error=human_error,
        train_error=train_error,
        train_dev_error=train_dev_error,
        dev_error=dev_error,
        test_error=test_error,
        avoidable_bias=bias,
        variance=variance,
        data_mismatch=mismatch,
        dev_overfitting=overfit,
        dominant=worst,
        below_human=bias < 0,
    )


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def measured(human_error: float, metrics: Mapping[str, Any]) -> Decomposition | None:
    """The decomposition of one trial's final (or last-epoch) errors (or its user attrs); None if unmeasured."""
    train, dev = _finite(metrics.get("train_error")), _finite(metrics.get("dev_error"))
    if train is None or dev is None:
        return None
    rates = [v for v in (train, dev, _finite(metrics.get("train_dev_error")), _finite(metrics.get("test_error"))) if v is not None]
    if any(not 0.0 <= v <= 1.0 for v in rates):
        # A trainer (a user's `--trainer`) that reports impossible error rates: the trial is recorded
        # without a decomposition, rather than the worker or the report failing on it.
        return None
    return decompose(
        human_error,
        train,
        dev,
        _finite(metrics.get("train_dev_error")),
        _finite(metrics.get("test_error")),
    )


def diagnose_trial(spec, metrics: Mapping[str, float], history: Sequence[Mapping[str, float]] = ()) -> dict[str, Any]:
    """The decomposition attrs of one trial, from its final (or last-epoch) errors; {} if unmeasured."""
    return trial_attrs(measured(spec.human_error, metrics))


def trial_attrs(d: Decomposition | None) -> dict[str, Any]:
    """The user attrs a decomposition leaves on a trial; {} for none."""
    if d is None:
        return {}
    return {
        "avoidable_bias": d.avoidable_bias,
        "variance": d.variance,
        "data_mismatch": d.data_mismatch,
        "dev_overfitting": d.dev_overfitting,
        "dominant_problem": d.dominant,
        "below_human_level": d.below_human,
    }
