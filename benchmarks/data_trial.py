"""One trial process for `benchmarks.data`: load a dataset, build the small CNN, train a few steps.

`python -m benchmarks.data_trial --loader new|legacy --dataset D [--image-size N] --started T`
(or `--standby`: import first, like a worker's standby trial process, then read T on stdin)
prints one JSON line: seconds from T (when the parent started this process) to the end of the
first training step, and the share of step time spent waiting for input over the next steps.
The parent reads this process's peak resident memory from the kernel (wait4).
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loader", choices=("new", "legacy"), required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--started", type=float, help="when the parent started this process (time.time())")
    parser.add_argument("--standby", action="store_true",
                        help="as a worker's standby process: import the trainer, print 'ready', read the start time on stdin")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    if args.standby:
        import sys

        import trainers.train  # noqa: F401  (what search.service.trial_process.standby_main imports)

        print("ready", flush=True)
        args.started = float(sys.stdin.readline())
    import keras

    from trainers.config import TrainConfig
    from trainers.model import build_model

    if args.loader == "legacy":
        from benchmarks.legacy_loader import load_splits, pipeline
    else:
        from trainers.data import load_splits, pipeline

    config = TrainConfig().replace(
        data={"dataset": args.dataset, "image_size": args.image_size},
        model={"backbone": "small_cnn", "depth": 2, "width": 16},
        training={"batch_size": args.batch_size, "seed": 0},
    )
    t_load = time.time()
    data = load_splits(config.data)
    loaded = time.time()
    keras.utils.set_random_seed(0)
    model = build_model(config, data.image_shape, data.num_classes).model
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(),
                  metrics=["accuracy"])
    ds = pipeline(data.train, data.num_classes, args.batch_size, training=True, seed=0).repeat()
    batches = iter(ds)
    x, y = next(batches)
    model.train_on_batch(x, y)
    first_step = time.time() - args.started
    waited = stepped = 0.0
    for k in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        x, y = next(batches)
        t1 = time.perf_counter()
        model.train_on_batch(x, y)  # returns the metrics as numbers: the step has finished
        t2 = time.perf_counter()
        if k >= args.warmup:
            waited += t1 - t0
            stepped += t2 - t1
    print(json.dumps({
        "seconds_to_first_step": first_step,
        "seconds_to_start_loading": t_load - args.started,  # interpreter, TensorFlow and Keras imports
        "seconds_loading_data": loaded - t_load,
        "input_wait_share": waited / (waited + stepped),
        "step_seconds": stepped / args.steps,
        "sizes": data.sizes(),
        "image_shape": list(data.image_shape),
        "streamed": getattr(data, "notes", {}).get("streamed", ""),
    }), flush=True)


if __name__ == "__main__":
    main()
