"""How a trial ended, as the worker records it: what the trial runner, the recording and the repairs share.

Its own module so that recording a trial, or failing a dead worker's, does not import the process
supervisor (search.service.trial_runner) that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

COMPLETE, PRUNED, FAIL, INTERRUPTED = "complete", "pruned", "fail", "interrupted"


@dataclass
class Outcome:
    state: str  # one of the four above
    reason: str = ""
    result: dict[str, Any] = field(default_factory=dict)  # TrainResult.to_dict() when the child finished
    history: list[dict[str, float]] = field(default_factory=list)  # every epoch the worker saw
    info: dict[str, Any] = field(default_factory=dict)  # startup time, package versions
    pruned_at: int | None = None
    prune_reason: str = ""  # why, when not the pruner (a trial that would outlast the time budget)
