"""One trial process for `benchmarks.data`: load a dataset, train the small CNN, time its first step.

`python -m benchmarks.data.trial --loader new|legacy --dataset D [--image-size N] --started T`
(or `--standby`: as a worker's standby trial process, import the trainer and warm up for a trial
like this one, then read T on stdin; `--warm-same`: warm up by training this very configuration
too; `--prepared`: as a standby handed its trial while the previous one still trains, also load
the data, build the model and rehearse its first step, then read T, as `trainers.train.train`'s
`on_ready` lets a trial process do) prints one JSON line: seconds from T (when the trial was
handed over, or its turn came) to the end of the first training step, the steady time of one
step, the start-up (everything before the first step's own compute), and the share of step time
spent waiting for input over the next steps. The parent reads
this process's peak resident memory from the kernel (wait4).

The new loader's first step is timed inside the real trainer (`trainers.train.train`, the
`first_step_seconds` it records), on a short epoch of the loaded splits. Today's loader (before
issue 10) ran under the trainer of its day, which had no such record: its first step is a compiled
`train_on_batch`, as before.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

EPOCH_BATCHES = 4  # the short epoch whose first step is timed (then evaluated on as few images)


def head_splits(data, train: int, others: int):
    """The first `train` training images and the first `others` of each other split: a short run of the same data."""
    from trainers.data.splits import Splits

    return Splits(data.train.head(train), *(getattr(data, s).head(others) for s in ("train_dev", "dev", "test")),
                  data.num_classes, data.class_names, data.name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loader", choices=("new", "legacy"), required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--image-size", type=int)
    parser.add_argument("--started", type=float, help="when the parent handed this trial over (time.time())")
    parser.add_argument("--standby", action="store_true",
                        help="as a worker's standby process: import and warm up, print 'ready', read the start time on stdin")
    parser.add_argument("--warm-same", action="store_true",
                        help="with --standby: also train this trial's own configuration on a few images before the "
                             "trial starts (what a standby could do at best without knowing the trial in advance)")
    parser.add_argument("--prepared", action="store_true",
                        help="with --standby: get the trial before its turn, load and prepare it, then wait "
                             "(a worker hands its standby the next trial while the current one trains)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    from trainers.config import TrainConfig

    config = TrainConfig().replace(
        data={"dataset": args.dataset, "image_size": args.image_size},
        model={"backbone": "small_cnn", "depth": 2, "width": 16},
        training={"batch_size": args.batch_size, "seed": 0, "epochs": 1, "train_eval_examples": 32},
    )
    if args.standby:
        import trainers.train  # what search.service.trial_process.standby_main imports, then warms up with

        trainers.train.warm_up(config)  # the worker's previous trial had this study's data too
        if args.warm_same:
            from trainers.data import preload

            seen = preload(config.data)  # kept for the trial's own load_splits, as warm_up's is
            trainers.train.train(config, head_splits(seen, 16, 8), measure_latency=False)

    def wait_for_turn() -> None:
        print("ready", flush=True)
        args.started = float(sys.stdin.readline())

    if args.standby and not args.prepared:
        wait_for_turn()

    import keras

    if args.loader == "legacy":
        from benchmarks.data.legacy_loader import load_splits, pipeline
    else:
        from trainers.data import load_splits, pipeline
    t_load = time.time()
    data = load_splits(config.data)
    loaded = time.time()
    if args.loader == "legacy":
        from trainers.model import build_model

        keras.utils.set_random_seed(0)
        model = build_model(config, data.image_shape, data.num_classes).model
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.CategoricalCrossentropy(),
                      metrics=["accuracy"])
        x, y = next(iter(pipeline(data.train, data.num_classes, args.batch_size, training=True, seed=0)))
        model.train_on_batch(x, y)
        first_step = time.time() - args.started
    else:
        from trainers.train import train

        turn = {}

        def on_ready() -> None:
            wait_for_turn()
            turn["at"] = time.time()

        result = train(config, head_splits(data, EPOCH_BATCHES * args.batch_size, args.batch_size), measure_latency=False,
                       on_ready=on_ready if args.prepared else None)
        # Prepared: the trainer's clock starts when the trial's turn came; else when it was called.
        began = turn["at"] if args.prepared else loaded
        first_step = began - args.started + result.history[0]["first_step_seconds"]
        model = result.model
    batches = iter(pipeline(data.train, data.num_classes, args.batch_size, training=True, seed=0).repeat())
    waited = stepped = first_batch = 0.0
    for k in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        x, y = next(batches)
        t1 = time.perf_counter()
        if k == 0:
            first_batch = t1 - t0  # the whole training split's shuffle buffer filling: the short epoch's was smaller
        model.train_on_batch(x, y)  # returns the metrics as numbers: the step has finished
        t2 = time.perf_counter()
        if k >= args.warmup:
            waited += t1 - t0
            stepped += t2 - t1
    step = stepped / args.steps
    print(json.dumps({
        "seconds_to_first_step": first_step,
        # Start-up: all but the first step's own compute (first step less a steady step), plus the
        # first batch of the whole training split, which a real trial waits for and the short epoch did not.
        "startup_seconds": max(0.0, first_step - step) + (first_batch if args.loader == "new" else 0.0),
        "first_batch_seconds": first_batch,
        "seconds_to_start_loading": 0.0 if args.prepared else t_load - args.started,  # what the trial did before loading (imports, unless standby)
        "seconds_loading_data": 0.0 if args.prepared else loaded - t_load,  # prepared: before its turn
        "input_wait_share": waited / (waited + stepped),
        "step_seconds": step,
        "sizes": data.sizes(),
        "image_shape": list(data.image_shape),
        "streamed": getattr(data, "notes", {}).get("streamed", ""),
    }), flush=True)


if __name__ == "__main__":
    main()
