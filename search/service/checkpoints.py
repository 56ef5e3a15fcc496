"""Checkpoints of running trials in the study's artifact store, so a retry resumes where its trial stopped.

The trial process writes a checkpoint at the end of each epoch (`trainers.checkpoint`); the worker
moves it to the store and records it in the trial's `checkpoint` attr (artifact id, epoch, the
seconds it took to write, its size), deleting the trial's previous one: a running trial holds one
checkpoint. A trial that ends (complete, pruned, failed) deletes it; an interrupted one keeps it,
and its retry (`orphans.requeue` copies the attr to `resume_from`) starts from it, inherits it,
and deletes it once it has its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from typing import Any, Mapping

import optuna

log = logging.getLogger("hpsearch.checkpoints")

ATTR = "checkpoint"


def keep(trial: optuna.Trial, store, epoch: int, path: str, seconds: float, nbytes: int) -> dict[str, Any]:
    """Move the checkpoint file at `path` to `store` as `trial`'s current checkpoint; its attr."""
    previous = trial.user_attrs.get(ATTR)
    artifact = str(uuid.uuid4())
    try:
        with open(path, "rb") as f:
            store.write(artifact, f)
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)
    entry = {"artifact": artifact, "epoch": int(epoch), "seconds": round(float(seconds), 4),
             "mb": round(nbytes / 2**20, 3)}
    trial.set_user_attr(ATTR, entry)
    if previous:
        discard(store, previous)
    return entry


def discard(store, entry: Mapping[str, Any] | None) -> None:
    """Delete a checkpoint (already gone is fine: the rule holds all the same)."""
    if store is not None and entry and entry.get("artifact"):
        with contextlib.suppress(Exception):
            store.remove(entry["artifact"])


def fetch(store, entry: Mapping[str, Any], folder: str) -> str:
    """Write the checkpoint `entry` names into `folder`; its path (the store's errors propagate)."""
    path = os.path.join(folder, f"resume-epoch-{entry['epoch']}.npz")
    with store.open_reader(entry["artifact"]) as reader, open(path, "wb") as out:
        while chunk := reader.read(1 << 20):
            out.write(chunk)
    return path
