"""The per-host dataset cache: one builder under a lock, complete entries only, list and clear."""

from __future__ import annotations

import multiprocessing
import os

from testing.cli import run_cli
from tests.data_tests.conftest import grey_folder
from trainers.data import cache as datacache


def _build_in_child(description, log_path, barrier, out):
    def build(folder):
        with open(log_path, "a") as f:
            f.write(f"{os.getpid()}\n")
        with open(os.path.join(folder, "data"), "w") as f:
            f.write("pixels")
        return {"sizes": {"train": 1}}

    barrier.wait()
    entry, built = datacache.open_or_build(description, build)
    out.put((entry.path, built))


def test_one_process_builds_and_the_others_read_its_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    log_path = str(tmp_path / "builds.log")
    description = {"dataset": "race", "image_size": 8}
    procs = [ctx.Process(target=_build_in_child, args=(description, log_path, barrier, out)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(60)
    with open(log_path) as f:
        assert len(f.read().split()) == 1  # decoded once on this host
    assert len({path for path, _ in results}) == 1 and sum(built for _, built in results) == 1
    with open(os.path.join(results[0][0], "data")) as f:
        assert f.read() == "pixels"


def test_a_half_written_or_crashed_build_is_never_read(tmp_path):
    description = {"dataset": "half", "image_size": 8}
    key = datacache.entry_key(description)
    root = datacache.cache_root()
    os.makedirs(os.path.join(root, key, "train"))  # no manifest: a copy made by hand, or an old crash
    os.makedirs(os.path.join(root, f".build-{key}-999999-x"))  # a builder that died mid-way
    entry, built = datacache.open_or_build(description, lambda folder: {"sizes": {"train": 2}})
    assert built and entry.manifest["sizes"] == {"train": 2}
    assert not os.path.exists(os.path.join(root, f".build-{key}-999999-x"))


def test_prepare_then_cache_list_and_clear_from_the_command_line(tmp_path):
    root = grey_folder(tmp_path / "data")
    prepared = run_cli("prepare", f"dir:{root}", "--image-size", "16", "--resize", "pad", check=True)
    assert "cache built" in prepared.stdout and "16x16x1 uint8" in prepared.stdout
    again = run_cli("prepare", f"dir:{root}", "--image-size", "16", "--resize", "pad", check=True)
    assert "cache already there" in again.stdout
    listed = run_cli("cache", "list", check=True).stdout
    assert str(root) in listed and " pad " in listed
    run_cli("cache", "clear", check=True)
    assert str(root) not in run_cli("cache", "list", check=True).stdout


def test_prepare_refuses_a_bad_dataset_in_one_line(tmp_path):
    proc = run_cli("prepare", f"dir:{tmp_path / 'missing'}")
    assert proc.returncode != 0 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_a_streamed_sample_is_exactly_the_first_elements_whatever_the_shard_order(tmp_path):
    """What the training-error sample of a streamed split reads: elements 0 .. limit-1, each once."""
    import numpy as np
    import tensorflow as tf

    count = 203  # not a multiple of the shard count
    images = np.arange(count, dtype=np.uint8).reshape(count, 1, 1, 1).repeat(2, axis=1)
    labels = np.arange(count, dtype=np.int32)
    folder = str(tmp_path / "split")
    datacache.write_split(tf.data.Dataset.from_tensor_slices((images, labels)), folder)
    for limit in (1, 37, 200, count):
        for shuffled in (False, True):
            got = [int(y) for _, y in datacache.stream_split(folder, limit=limit, shuffle_shards=shuffled, seed=3)]
            assert sorted(got) == list(range(limit)), (limit, shuffled)
