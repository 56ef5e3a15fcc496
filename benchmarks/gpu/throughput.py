"""Training images per second and GPU utilisation: model x precision x XLA, on synthetic data.

Models, as hpsearch builds them (trainers.model.build_model, every layer trainable as in a full
fine-tune; hpsearch keeps a pretrained backbone's BatchNormalization in inference mode):
the small CNN at 32x32, ResNet50 and EfficientNetB0 at 224x224 (weights none, 1000 classes).
Plus the stock keras.applications.ResNet50 (BatchNormalization training, 1000 classes), the
network NVIDIA's published ResNet-50 training numbers are for.

Modes: float32; mixed precision (mixed_float16) without XLA; mixed precision with XLA
(`jit_compile`). With JAX every step is compiled by XLA: "without XLA" does not exist there, so
float32 and mixed run with XLA and the row says so.

Each step is `train_on_batch` on one batch already on the GPU (synthetic data: the input
pipeline is not measured), after warm-up steps that include compilation; steps are timed for
about TARGET_SECONDS while utilisation is sampled.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np

from benchmarks.gpu import select_backend
from benchmarks.gpu.utilisation import Sampler

TARGET_SECONDS = 6.0
WARMUP_STEPS = 4

CASES = [  # name, side, batch, builder
    ("small CNN (hpsearch)", 32, 512, "small_cnn"),
    ("ResNet50 (hpsearch)", 224, 256, "resnet50"),
    ("EfficientNetB0 (hpsearch)", 224, 256, "efficientnet_b0"),
    ("ResNet50 (stock keras.applications)", 224, 256, "stock_resnet50"),
]


def modes(backend: str) -> list[tuple[str, str, bool]]:
    """(label, Keras dtype policy, jit_compile) for this backend."""
    if backend == "jax":
        return [("float32 (XLA: always on with JAX)", "float32", True), ("mixed precision + XLA", "mixed_float16", True)]
    return [("float32", "float32", False), ("mixed precision", "mixed_float16", False),
            ("mixed precision + XLA", "mixed_float16", True)]


def build(builder: str, side: int, classes: int):
    import keras

    if builder == "stock_resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=(side, side, 3), classes=classes)
    from trainers.config import TrainConfig
    from trainers.model import build_model, set_backbone_trainable

    config = TrainConfig().replace(model={"backbone": builder, "weights": "none"})
    built = build_model(config, (side, side, 3), classes)
    set_backbone_trainable(built, 1.0)
    return built.model


def on_device(array: np.ndarray):
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.device_put(array)
    if backend == "torch":
        import torch

        return torch.as_tensor(array, device="cuda" if torch.cuda.is_available() else "cpu")
    import tensorflow as tf

    with tf.device("/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"):
        return tf.identity(tf.convert_to_tensor(array))


def measure(builder: str, side: int, batch: int, policy: str, jit: bool, classes: int = 1000) -> dict[str, Any]:
    import keras

    keras.backend.clear_session()
    gc.collect()
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build(builder, side, classes if builder != "small_cnn" else 10)
        classes_out = model.output_shape[-1]
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
                      loss=keras.losses.CategoricalCrossentropy(), jit_compile=jit)
        rng = np.random.default_rng(0)
        x = on_device(rng.uniform(0, 255, (batch, side, side, 3)).astype("float32"))
        y = on_device(np.eye(classes_out, dtype="float32")[rng.integers(0, classes_out, batch)])
        t0 = time.perf_counter()
        model.train_on_batch(x, y)  # compiles
        compile_seconds = time.perf_counter() - t0
        times = []
        for _ in range(WARMUP_STEPS - 1):
            t0 = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - t0)
        steps = int(min(2000, max(3, TARGET_SECONDS / max(1e-4, min(times)))))
        with Sampler() as gpu:
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = model.train_on_batch(x, y)  # returns a host value: each step is synchronised
            elapsed = time.perf_counter() - t0
        return {"images_per_second": round(steps * batch / elapsed, 1), "step_ms": round(1000 * elapsed / steps, 2),
                "steps": steps, "batch": batch, "first_step_seconds": round(compile_seconds, 1),
                "loss_finite": bool(np.isfinite(np.asarray(loss)).all()), **gpu.result()}
    finally:
        keras.mixed_precision.set_global_policy("float32")


def run(quick: bool = False, log=print, smoke: bool = False, save=None, budget_seconds: float = 300.0) -> dict[str, Any]:
    """smoke: tiny inputs and batches, to check the script on a CPU; the numbers mean nothing.
    save(result) is called after every row, so a run cut short still leaves what it measured; cases
    left when `budget_seconds` have passed are skipped (compilation can take minutes per model)."""
    global TARGET_SECONDS
    backend = select_backend()
    started = time.monotonic()
    rows = []
    cases = CASES[:1] + CASES[3:] if quick else CASES
    if smoke:
        TARGET_SECONDS = 0.2
        cases = [(name, 32, 4, builder) for name, _, _, builder in cases]
    for name, side, batch, builder in cases:
        for label, policy, jit in modes(backend):
            if builder == "stock_resnet50" and policy == "float32":
                continue  # only for the comparison with NVIDIA's mixed-precision numbers
            if time.monotonic() - started > budget_seconds:
                rows.append({"model": name, "input": f"{side}x{side}", "mode": label, "error": "skipped: time budget spent"})
                continue
            try:
                row = measure(builder, side, batch, policy, jit)
            except Exception as exc:  # out of memory, an op missing on a backend: record, go on
                row = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"}
            row.update(model=name, input=f"{side}x{side}", mode=label, policy=policy, jit_compile=jit)
            rows.append(row)
            if save:
                save({"backend": backend, "rows": rows})
            log(f"gpu: {name} {label}: {row.get('images_per_second', row.get('error'))} img/s, "
                f"utilisation {row.get('utilisation_percent')}%")
    return {"backend": backend, "rows": rows}
