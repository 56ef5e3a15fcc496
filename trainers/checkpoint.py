"""A run's state at the end of an epoch, in one file, so that a run stopped later resumes there.

A checkpoint holds the model's weights, the optimizer's variables (its step count and moments),
and the loop's own state: the epoch, the phase (frozen or fine-tuning), the history so far and
the early-stopping counters. It is one uncompressed `.npz` (numpy only: no pickle, any host reads
it). A run resumed from it rebuilds the same model from the same configuration, compiles the
phase's optimizer, and then loads the saved values into both, so its numbering, curves and
learning-rate schedule continue where they stopped. Data order after a resume is drawn anew.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMAT = 1


@dataclass
class LoopState:
    epoch: int  # the last finished epoch (numbered from 1)
    phase: int  # index into the run's phases
    history: list[dict[str, float]] = field(default_factory=list)
    best_dev_error: float = float("inf")
    epochs_since_best: int = 0


def save(path: str, model, state: LoopState) -> int:
    """Write `model`'s weights, its optimizer's variables and `state` to `path` (atomically); its size in bytes."""
    arrays: dict[str, np.ndarray] = {}
    for i, w in enumerate(model.get_weights()):
        arrays[f"w{i}"] = np.asarray(w)
    for i, v in enumerate(model.optimizer.variables):
        arrays[f"o{i}"] = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
    meta = {"format": FORMAT, "weights": len(model.get_weights()), "optimizer": len(model.optimizer.variables),
            "state": state.__dict__}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return os.path.getsize(path)


def read_state(path: str) -> LoopState:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
    return LoopState(**meta["state"])


def restore(path: str, model, *, optimizer: bool = True) -> LoopState:
    """Load a checkpoint into `model` (built from the same configuration, compiled for the saved phase,
    its optimizer's variables created) and return the loop's state. `optimizer=False` loads the
    weights only: the checkpoint ended its phase, and the next phase starts a fresh optimizer."""
    with np.load(path) as z:
        meta: dict[str, Any] = json.loads(bytes(z["meta"]).decode())
        if meta.get("format") != FORMAT:
            raise ValueError(f"checkpoint {path} has format {meta.get('format')}, this trainer reads {FORMAT}")
        weights = [z[f"w{i}"] for i in range(meta["weights"])]
        slots = [z[f"o{i}"] for i in range(meta["optimizer"])]
    model.set_weights(weights)
    if not optimizer:
        return LoopState(**meta["state"])
    variables = model.optimizer.variables
    if len(variables) != len(slots):
        raise ValueError(f"checkpoint {path} holds {len(slots)} optimizer variables, the model's optimizer has "
                         f"{len(variables)}: it was made by another configuration")
    for variable, value in zip(variables, slots):
        variable.assign(value)
    return LoopState(**meta["state"])
