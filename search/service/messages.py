"""What a worker and its trial process say to each other over their pipe: one type per message.

The child (search.service.trial_process) sends `Started` or `Ready`, then for each epoch an
`Epoch` (and, with --early-check, one `Check` inside the first epoch), each answered with GO or
STOP; `Checkpoint` and `Resumed` as they happen; and last a `Result` or an `Error`. The worker
(search.service.trial_runner) hands a standby process its trial with a `Handover`. Plain
dataclasses: they pickle across the pipe, and the worker matches on them by type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The worker's answer to an Epoch, a Check or a Ready: go on, or stop now (pruned, shut down).
GO, STOP = "go", "stop"


@dataclass(frozen=True)
class Started:
    """The trial began training: start-up seconds, package versions, what preparing ahead took."""

    info: dict[str, Any]


@dataclass(frozen=True)
class Ready:
    """A trial handed over ahead of its turn is prepared; it starts on GO."""

    prepared_seconds: float


@dataclass(frozen=True)
class Epoch:
    """An epoch's metrics (epochs numbered from 1); answered GO or STOP."""

    epoch: int
    metrics: dict[str, float]


@dataclass(frozen=True)
class Check:
    """The early check's dev estimate, `fraction` into the first epoch; answered GO or STOP."""

    fraction: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class Checkpoint:
    """The run's state after `epoch` is in the file `path`, for the worker to keep."""

    epoch: int
    path: str
    seconds: float
    nbytes: int


@dataclass(frozen=True)
class Resumed:
    """The run continues after `epoch` of the trial it retries, whose epochs were `history`."""

    epoch: int
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    """The run ended: trainers.result.TrainResult.to_dict(), plus the files it wrote."""

    result: dict[str, Any]


@dataclass(frozen=True)
class Error:
    """The run raised: a reason a person can read, and the traceback."""

    reason: str
    traceback: str


@dataclass(frozen=True)
class Handover:
    """The worker gives a standby process its trial: now, or ahead of its turn (then it waits for GO)."""

    ahead: bool
    trainer: str
    config_json: str
    handed_at: float
    outputs: dict | None
