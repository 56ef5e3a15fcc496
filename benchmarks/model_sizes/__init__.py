"""How much disk a kept model takes: `python -m benchmarks.model_sizes`.

A study keeps its best `--keep-models` trained models (search.service.models), saved as the trial
process saves them (trial_process.save_outputs: layers and weights, no optimizer state), and the
same model saved with its Adam state, for comparison. Random weights: the size does not depend on
their values. Prints a table; writes nothing.
"""

from __future__ import annotations

import os
import tempfile

CASES = (("small_cnn", (28, 28, 1)), ("small_cnn", (224, 224, 3)), ("mobilenet_v2", (224, 224, 3)),
         ("efficientnet_b0", (224, 224, 3)), ("resnet50", (224, 224, 3)))


def main() -> int:
    import keras

    from trainers.config import TrainConfig
    from trainers.model import build_model

    print("| backbone | input | parameters | kept model (MiB) | with Adam's state (MiB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for backbone, shape in CASES:
            model = build_model(TrainConfig().replace(model={"backbone": backbone, "weights": "none"}), shape, 10).model
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy")
            model.optimizer.build(model.trainable_variables)
            kept, full = os.path.join(folder, "kept.keras"), os.path.join(folder, "full.keras")
            keras.Model(model.input, model.output, name=model.name).save(kept)
            model.save(full)
            print(f"| {backbone} | {shape[0]}×{shape[1]}×{shape[2]} | {model.count_params():,} | "
                  f"{os.path.getsize(kept) / 2**20:.1f} | {os.path.getsize(full) / 2**20:.1f} |")
    return 0

