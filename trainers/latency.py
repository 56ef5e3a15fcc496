"""How long a model takes to answer: median inference latency after warm-up, alone or beside another.

Timed through one `tf.function` per model in inference mode, on random 0-255 pixels; the first
calls (tracing, allocation) are not counted.
"""

from __future__ import annotations

import time

import numpy as np

WARM_UP = 3


def _inference(model):
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def _images(batch: int, image_shape):
    import tensorflow as tf

    return tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, *image_shape)).astype("float32"))


def measure_latency_ms(model, image_shape, batch_size: int, repeats: int = 15) -> dict[str, float]:
    """Median inference latency at batch 1 and at the training batch size, after warm-up."""
    infer = _inference(model)
    out = {}
    for key, batch in (("latency_ms", 1), ("latency_ms_batch", batch_size)):
        x = _images(batch, image_shape)
        for _ in range(WARM_UP):
            infer(x).numpy()
        times = []
        for _ in range(repeats if batch == 1 else max(3, repeats // 3)):
            t0 = time.perf_counter()
            infer(x).numpy()
            times.append((time.perf_counter() - t0) * 1000.0)
        out[key] = float(np.median(times))
    return out


def compare_latency_ms(models: dict, image_shape, repeats: int = 15) -> dict:
    """Median latency at batch 1 of each of `models` (name -> model), timed in turns.

    One call of each per round, round after round, so that load from elsewhere on the host falls
    on all of them alike instead of on whichever happened to run while it lasted.
    """
    x = _images(1, image_shape)
    calls = {name: _inference(model) for name, model in models.items()}
    for infer in calls.values():
        for _ in range(WARM_UP):
            infer(x).numpy()
    times: dict = {name: [] for name in calls}
    for _ in range(repeats):
        for name, infer in calls.items():
            t0 = time.perf_counter()
            infer(x).numpy()
            times[name].append((time.perf_counter() - t0) * 1000.0)
    return {name: float(np.median(t)) for name, t in times.items()}
