"""Data at scale: today's loader (before issue 10) against the streamed, cached one, side by side.

For generated JPEG folders of 1k, 6k and 24k images (Fashion-MNIST training images upscaled to
160-400 px, tinted so they are colour, as most real folders are) at image_size 224, and for
fashion_mnist at its own 28 px, each contender runs as real trial processes, one after another:

- peak resident memory of one trial process (the kernel's ru_maxrss, from wait4);
- seconds from starting the trial process to the end of its first training step: the first
  trial (which builds the per-host cache) and a later one (which reads it); today's loader
  decodes everything in every trial, so its first and later trials are the same;
- the share of step time spent waiting for input (small CNN on the CPU, batch 32);
- a later trial once more in a standby process (TensorFlow imported before the trial starts, as
  a worker's next trial is), and in one that has also trained this very configuration on a few
  images: the most a standby can do without knowing its trial's configuration in advance;
- a later trial prepared ahead: handed to its standby before its turn, as a worker hands it the
  next trial while the current one trains its last epoch (`trainers.train.train(on_ready=...)`).

Targets (issue 10): peak memory <= 2.5 GB and flat across the sizes; a later trial reaches its
first step within 3 s; a later trial prepared ahead starts training within 1 s (its start-up:
the first step less that step's own compute); input wait < 5% of step time. Today's loader is not run at 24k (it would
need about 38 GB in one process; this machine has less). `--quick`: the 1k folder and fashion_mnist.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness.common import child_env, log, write_result

SIZES = (1000, 6000, 24000)
QUICK_SIZES = (1000,)
LEGACY_MAX = 6000  # beyond this, today's loader needs more memory than the machine has
IMAGE_SIZE = 224
FASHION = "/usr/share/datasets/fashion-mnist"
WORK = os.path.join(tempfile.gettempdir(), "hpsearch-bench-data")
CONTENDERS = {"legacy": "before", "new_first": "after, first trial", "new_later": "after, later trial",
              "new_standby": "after, later trial, standby process",
              "new_standby_same": "after, standby that trained this architecture",
              "new_prepared": "after, standby handed its trial ahead"}


def _write_images(job) -> None:
    root, start, images, labels = job
    from PIL import Image

    rng = np.random.default_rng(start)
    for k, (grey, label) in enumerate(zip(images, labels)):
        w, h = (int(v) for v in rng.integers(160, 401, 2))
        img = Image.fromarray(grey).resize((w, h), Image.BILINEAR)
        tint = [img.point(lambda v, f=f: int(v * f)) for f in rng.uniform(0.5, 1.0, 3)]
        Image.merge("RGB", tint).save(os.path.join(root, f"c{label}", f"{start + k:05d}.jpg"), quality=90)


def make_folder(count: int) -> str:
    """A class folder of `count` JPEGs made from Fashion-MNIST (made once; reused by later runs)."""
    from trainers.data import read_idx

    root = os.path.join(WORK, f"folder-{count}")
    done = os.path.join(root, ".complete")
    if os.path.exists(done):
        return root
    images = read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz"))[:count]
    labels = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz"))[:count]
    for label in range(10):
        os.makedirs(os.path.join(root, f"c{label}"), exist_ok=True)
    chunks = [(root, s, images[s : s + 500], labels[s : s + 500]) for s in range(0, count, 500)]
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        pool.map(_write_images, chunks)
    open(done, "w").close()
    return root


def keras_home_with_fashion() -> str:
    """A KERAS_HOME where keras.datasets finds Debian's Fashion-MNIST files (today's loader downloads otherwise)."""
    home = os.path.join(WORK, "keras-home")
    folder = os.path.join(home, "datasets", "fashion-mnist")
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(FASHION):
        link = os.path.join(folder, name)
        if name.endswith(".gz") and not os.path.exists(link):
            os.symlink(os.path.join(FASHION, name), link)
    return home


def run_trial(loader: str, dataset: str, image_size: int | None, cache: str, steps: int, *, standby: bool = False,
              warm_same: bool = False, prepared: bool = False) -> dict:
    """One trial process; its JSON line plus its peak resident memory.

    With `standby`, the process imports first and the trial starts once it says it is ready, as
    with a worker's standby trial process (search/service/trial_runner.py).
    """
    args = [sys.executable, "-m", "benchmarks.data.trial", "--loader", loader, "--dataset", dataset,
            "--steps", str(steps)]
    if image_size:
        args += ["--image-size", str(image_size)]
    env = child_env(HPSEARCH_CACHE=cache, KERAS_HOME=keras_home_with_fashion())
    with tempfile.TemporaryFile("w+") as err:
        if standby:
            flags = ["--standby", *(["--warm-same"] if warm_same else []), *(["--prepared"] if prepared else [])]
            proc = subprocess.Popen([*args, *flags], env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
            if proc.stdout.readline().strip() == "ready":
                proc.stdin.write(f"{time.time()!r}\n")
                proc.stdin.flush()
        else:
            proc = subprocess.Popen([*args, "--started", repr(time.time())], env=env, stdout=subprocess.PIPE,
                                    stderr=err, text=True)
        out = proc.stdout.read()
        # wait4, not Popen.wait: it returns this one child's resource usage, its peak memory included.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"trial ({loader}, {dataset}) failed ({proc.returncode}):\n{err.read()[-3000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_mb"] = usage.ru_maxrss / 1024.0
    return result


def measure(dataset: str, image_size: int | None, legacy: bool, steps: int) -> dict:
    row: dict = {"dataset": dataset, "image_size": image_size}
    cache = tempfile.mkdtemp(prefix="cache-", dir=WORK)  # a fresh per-host cache: the first trial builds it
    if legacy:
        log("  legacy loader: one trial (it decodes everything every time)")
        row["legacy"] = run_trial("legacy", dataset, image_size, cache, steps)
    log("  new loader: first trial (builds the cache)")
    row["new_first"] = run_trial("new", dataset, image_size, cache, steps)
    log("  new loader: later trial (reads the cache)")
    row["new_later"] = run_trial("new", dataset, image_size, cache, steps)
    log("  new loader: later trial in a standby process (TensorFlow imported before the trial starts)")
    row["new_standby"] = run_trial("new", dataset, image_size, cache, steps, standby=True)
    log("  new loader: later trial in a standby process that has trained this very architecture already")
    row["new_standby_same"] = run_trial("new", dataset, image_size, cache, steps, standby=True, warm_same=True)
    log("  new loader: later trial handed to its standby ahead (prepared while the previous trial trains)")
    row["new_prepared"] = run_trial("new", dataset, image_size, cache, steps, standby=True, prepared=True)
    row["cache_mb"] = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(cache) for f in fs) / 2**20
    for name in CONTENDERS:
        if name in row:
            r = row[name]
            log(f"    {name:10s} peak {r['peak_rss_mb']:8.0f} MB  first step {r['seconds_to_first_step']:6.1f} s  "
                f"start-up {r['startup_seconds']:5.2f} s  input wait {100 * r['input_wait_share']:5.1f}%  step {r['step_seconds']:.3f} s")
    return row


def table(rows: list[dict]) -> str:
    lines = ["| dataset | loader | peak RSS (MB) | first step (s) | input wait | step (s) |", "|---|---|---:|---:|---:|---:|"]
    for row in rows:
        for name, label in CONTENDERS.items():
            if name in row:
                r = row[name]
                lines.append(f"| {row['label']} | {label} | {r['peak_rss_mb']:.0f} | {r['seconds_to_first_step']:.1f} | "
                             f"{100 * r['input_wait_share']:.1f}% | {r['step_seconds']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {__name__}", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 1k folder and fashion_mnist only")
    parser.add_argument("--sizes", type=int, nargs="*", help="folder sizes to run (default 1000 6000 24000)")
    parser.add_argument("--steps", type=int, default=20, help="training steps timed after the warm-up")
    parser.add_argument("--skip-legacy", action="store_true", help="only the new loader (today's is slow and large)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    os.makedirs(WORK, exist_ok=True)
    sizes = args.sizes if args.sizes is not None else (QUICK_SIZES if args.quick else SIZES)
    rows = []
    for count in sizes:
        log(f"data: folder of {count} JPEGs at {IMAGE_SIZE} px")
        folder = make_folder(count)
        row = measure(f"dir:{folder}", IMAGE_SIZE, legacy=count <= LEGACY_MAX and not args.skip_legacy, steps=args.steps)
        row.update(label=f"{count} JPEGs at {IMAGE_SIZE} px", images=count)
        rows.append(row)
    log("data: fashion_mnist at 28 px")
    row = measure("fashion_mnist", None, legacy=not args.skip_legacy, steps=args.steps)
    row.update(label="fashion_mnist (28 px)")
    rows.append(row)
    print(table(rows))
    path = write_result("data", args.quick, {"image_size": IMAGE_SIZE, "rows": rows,
                                             "targets": {"peak_rss_mb": 2560, "later_first_step_s": 3.0,
                                                         "input_wait_share": 0.05,
                                                         "standby_startup_s": 1.0}}, started=started)
    log(f"wrote {path}")
    return 0

