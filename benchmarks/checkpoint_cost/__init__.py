"""What a per-epoch checkpoint costs (issue 13): its size, and the seconds to write and to read it back.

`python -m benchmarks.checkpoint_cost [--backbones small_cnn mobilenet_v2 resnet50]` builds each model as a trial
would (Adam, so the optimizer holds two moments per weight), writes a checkpoint the way the trainer
does at the end of every epoch (`trainers.checkpoint.save`: weights, optimizer variables, loop state)
and restores it, 3 times each. It also trains the small CNN for one epoch of Fashion-MNIST (45,000
images) to put the cost next to an epoch's length. Prints a table and writes
benchmarks/results/checkpoint_cost.json. CPU only; the moving to the artifact store (a file copy
on a shared folder) comes on top.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from benchmarks.harness.common import log, write_result

SIDES = {"small_cnn": 28, "mobilenet_v2": 224, "resnet50": 224}


def measure(backbone: str, repeats: int = 3) -> dict:
    import keras

    from trainers import checkpoint
    from trainers.config import TrainConfig
    from trainers.model import build_model
    from trainers.train import _build_state

    side = SIDES[backbone]
    channels = 1 if backbone == "small_cnn" else 3
    config = TrainConfig().replace(model={"backbone": backbone, "weights": "none"})
    model = build_model(config, (side, side, channels), 10).model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])

    class Spec:  # what _build_state reads of a dataset: its element spec
        import tensorflow as tf

        element_spec = (tf.TensorSpec((None, side, side, channels), tf.uint8), tf.TensorSpec((None, 10), tf.float32))

    _build_state(model, Spec)
    state = checkpoint.LoopState(epoch=3, phase=0, history=[{"dev_error": 0.1}] * 3)
    writes, reads = [], []
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "epoch-3.npz")
        for _ in range(repeats):
            t0 = time.perf_counter()
            nbytes = checkpoint.save(path, model, state)
            writes.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            checkpoint.restore(path, model)
            reads.append(time.perf_counter() - t0)
    return {"backbone": backbone, "image_side": side, "params": int(model.count_params()), "mb": nbytes / 2**20,
            "write_seconds": statistics.median(writes), "read_seconds": statistics.median(reads)}


def small_cnn_epoch_seconds() -> float:
    """One epoch of the small CNN on Fashion-MNIST's 45,000 training images, as a trial trains it."""
    from trainers.config import TrainConfig
    from trainers.train import train

    config = TrainConfig().replace(data={"dataset": "fashion_mnist"}, training={"epochs": 1, "batch_size": 64})
    result = train(config, measure_latency=False)
    return result.history[0]["epoch_seconds"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="*", default=list(SIDES), choices=list(SIDES))
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = []
    for backbone in args.backbones:
        log(f"checkpoint cost: {backbone}")
        rows.append(measure(backbone))
    epoch = small_cnn_epoch_seconds() if "small_cnn" in args.backbones else None
    print("| backbone | image | parameters | checkpoint | write | read |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['backbone']} | {r['image_side']} px | {r['params']:,} | {r['mb']:.1f} MB | "
              f"{r['write_seconds']:.3f} s | {r['read_seconds']:.3f} s |")
    if epoch is not None:
        small = next(r for r in rows if r["backbone"] == "small_cnn")
        print(f"small CNN: one Fashion-MNIST epoch {epoch:.1f} s; its checkpoint adds {small['write_seconds']:.3f} s "
              f"({100 * small['write_seconds'] / epoch:.2f}%)")
    path = write_result("checkpoint_cost", False, {"rows": rows, "small_cnn_epoch_seconds": epoch}, started=started)
    log(f"wrote {path}")
    return 0

