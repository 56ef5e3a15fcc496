"""What a trainer returns and how it reports: light types, no TensorFlow.

Test doubles and the trial process use these without importing Keras.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol


class Reporter(Protocol):
    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Called after every epoch (numbered from 1) with that epoch's metrics."""

    def should_stop(self) -> bool:
        """Asked after every report: True ends training now (pruning, shutdown)."""

    # Optional: `check(fraction, metrics)`, told the early check's dev estimate part-way through the
    # first epoch (trainers.early_check), then asked should_stop(); a reporter without it gets no check.


class _NoReporter:
    def report(self, epoch: int, metrics: Mapping[str, float]) -> None:
        pass

    def should_stop(self) -> bool:
        return False


NO_REPORTER: Reporter = _NoReporter()

# Why a run ended.
COMPLETED = "completed"
STOPPED = "stopped by reporter"
EARLY_STOPPING = "early stopping"
NAN_LOSS = "nan loss"


@dataclass
class TrainResult:
    epochs_run: int
    stop_reason: str
    history: list[dict[str, float]]
    metrics: dict[str, float]  # final: errors per split, accuracies, latency, size
    params: int
    seconds: float
    model: Any = field(default=None, repr=False)  # the trained keras.Model (not serialised)
    mistakes: Any = field(default=None, repr=False)  # trainers.mistakes.Mistakes of a completed run, on dev
    predictions: Any = field(default=None, repr=False)  # trainers.predictions.Predictions of a completed run

    def to_dict(self) -> dict[str, Any]:
        return {
            "epochs_run": self.epochs_run,
            "stop_reason": self.stop_reason,
            "history": self.history,
            "metrics": self.metrics,
            "params": self.params,
            "seconds": self.seconds,
            **({"mistakes": self.mistakes.to_dict()} if self.mistakes is not None else {}),
        }
