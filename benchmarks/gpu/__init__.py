"""Benchmark 4, GPU: training throughput and utilisation per model and precision, and one short study.

Backend-agnostic on purpose: it runs with TensorFlow where it is installed, and with
KERAS_BACKEND=jax (or torch) where it is not (the project's lent GPU machines have JAX and
PyTorch but no TensorFlow). Only Keras layers, synthetic numpy data and `train_on_batch` are used.
`python -m benchmarks.gpu` runs both parts; without a GPU it says so and exits.
"""

from __future__ import annotations

import importlib.util
import os


def select_backend() -> str:
    """Keep KERAS_BACKEND if set; else TensorFlow if importable, else JAX, else PyTorch. Call before importing keras."""
    if not os.environ.get("KERAS_BACKEND"):
        for backend, module in (("tensorflow", "tensorflow"), ("jax", "jax"), ("torch", "torch")):
            if importlib.util.find_spec(module):
                os.environ["KERAS_BACKEND"] = backend
                break
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def gpu_present() -> bool:
    """Whether the Keras backend sees a GPU (imports the backend)."""
    backend = select_backend()
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))
