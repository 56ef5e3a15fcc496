"""docker-compose.yml, parsed and interpolated as Compose does, rule by rule (no Docker engine)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from deploy_files import (
    compose_v2,
    COMPOSE,
    DB_PUBLIC,
    DOCKERFILE,
    ENV_EXAMPLE,
    K8S_WORKERS,
    PG_HBA_TLS,
    REPO,
    SECRETISH,
    InterpolationError,
    depends_closure,
    depends_on,
    environment,
    gpu_devices,
    interpolate,
    interpolate_tree,
    load_compose,
    parse_dockerfile,
    parse_duration,
    published_ports,
    read,
    variables_in,
    volume_mounts,
    with_more_gpus_uncommented,
)

HPSEARCH = os.path.join(os.path.dirname(sys.executable), "hpsearch")
ENV = {"POSTGRES_PASSWORD": "x"}
DB_URL = "postgresql://hpsearch@postgres:5432/hpsearch"


@pytest.fixture(scope="module")
def raw():
    return load_compose()


@pytest.fixture(scope="module")
def services(raw):
    return interpolate_tree(raw, ENV)["services"]


def hpsearch_services(services) -> dict[str, dict]:
    image = interpolate(load_compose()["x-hpsearch"]["image"], ENV)
    return {n: s for n, s in services.items() if s.get("image") == image}


def worker_services(services) -> dict[str, dict]:
    return {n: s for n, s in services.items() if s.get("command") == ["worker"]}


def gpu_workers(services) -> dict[str, dict]:
    return {n: s for n, s in worker_services(services).items() if gpu_devices(s)}


def default_services(services) -> set[str]:
    """What a bare `docker compose up` starts: every service outside a profile."""
    return {n for n, s in services.items() if not s.get("profiles")}


# ---- interpolation ---------------------------------------------------------------------------
def test_interpolation_follows_compose_rules():
    env = {"A": "a", "EMPTY": ""}
    assert interpolate("$A-${A}-$${A}-${B:-d}-${EMPTY:-d}-${EMPTY-d}-${A:+alt}-${B+alt}", env) == "a-a-${A}-d-d--alt-"
    assert interpolate("${B:-${A}x}", env) == "ax"
    with pytest.raises(InterpolationError, match="missing a value: set it"):
        interpolate("${EMPTY:?set it}", env)
    assert interpolate("${EMPTY?set it}", env) == ""


def test_a_missing_password_is_a_clear_error(raw):
    with pytest.raises(InterpolationError, match="POSTGRES_PASSWORD is missing a value: set POSTGRES_PASSWORD in .env"):
        interpolate_tree(raw, {})
    # .env.example ships it empty, which is an error too (`:?`), not an empty password
    example = dict(line.split("=", 1) for line in read(ENV_EXAMPLE).splitlines() if line and not line.startswith("#"))
    assert example == {"POSTGRES_PASSWORD": ""}
    with pytest.raises(InterpolationError):
        interpolate_tree(raw, example)


def test_every_variable_is_documented_in_env_example(raw):
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", read(ENV_EXAMPLE), re.M))
    assert variables_in(raw) <= documented, f"undocumented: {variables_in(raw) - documented}"


# ---- postgres ----------------------------------------------------------------------------------
def test_postgres_pinned_healthchecked_private_and_mounted_for_18(services, raw):
    pg = services["postgres"]
    name, _, tag = pg["image"].partition(":")
    assert name == "postgres" and re.fullmatch(r"\d+", tag), "pin the major version (postgres:18)"
    assert int(tag) >= 18
    targets = [t for _, t, _ in volume_mounts(pg)]
    assert targets == ["/var/lib/postgresql"], "postgres:18 keeps data under /var/lib/postgresql/18/docker: mount the parent"
    assert pg["volumes"][0].split(":")[0] in raw["volumes"], "a named volume"
    test = pg["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "pg_isready"
    args = test[2:]
    assert args[args.index("-h") + 1] == "127.0.0.1", "over TCP: the unix socket answers during the image's init phase"
    assert args[args.index("-U") + 1] == pg["environment"]["POSTGRES_USER"]
    assert "ports" not in pg and "expose" not in pg, "never publish PostgreSQL (published ports bypass firewalls)"
    assert raw["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}"
    assert pg.get("restart") == "unless-stopped"


def test_only_the_dashboard_publishes_a_port_and_only_on_loopback(services):
    published = {n: published_ports(s) for n, s in services.items() if s.get("ports")}
    assert set(published) == {"dashboard"}
    for port in published["dashboard"]:
        assert port.host_ip == "127.0.0.1", "optuna-dashboard has no authentication: loopback only"
        assert port.published == "8080" and port.target == "8080"
    cmd = services["dashboard"]["command"]
    assert cmd[0] == "dashboard"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0", "inside the container it must listen on every interface"
    assert cmd[cmd.index("--port") + 1] == published["dashboard"][0].target
    assert depends_closure(services, ["dashboard"]) == {"dashboard", "init", "postgres"}


# ---- workers -----------------------------------------------------------------------------------
def test_workers_serve_every_study_and_stop_gracefully(services, raw):
    workers = worker_services(services)
    assert {"workers", "worker-cpu"} <= set(workers)
    for name, svc in workers.items():
        assert svc["command"] == ["worker"], f"{name}: `hpsearch worker` serves every study"
        assert svc.get("init") is True, f"{name}: init: true"
        assert parse_duration(svc["stop_grace_period"]) >= 60, f"{name}: time to fail and requeue the running trial"
        assert svc.get("restart") == "unless-stopped"
        assert depends_on(svc)["init"]["condition"] == "service_completed_successfully"
        env = environment(svc)
        assert env["HPSEARCH_STORAGE"] == DB_URL, "the compose database; no password in the URL"
        assert env["HPSEARCH_DB_PASSWORD"] == ENV["POSTGRES_PASSWORD"]
    raw_env = environment(raw["x-hpsearch"])
    assert raw_env["HPSEARCH_DB_PASSWORD"] == "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}"
    # `init` creates the schema once, after the database is healthy, and exits.
    init = services["init"]
    assert init["command"] == ["status"] and init.get("restart") == "no"
    assert depends_on(init) == {"postgres": {"condition": "service_healthy"}}
    assert environment(init) == environment(services["workers"])


def test_gpu_reservation_is_one_device_id_per_service(services):
    gpus = gpu_workers(services)
    assert "workers" in gpus
    seen: list[str] = []
    for name, svc in gpus.items():
        devices = gpu_devices(svc)
        assert len(devices) == 1, name
        device = devices[0]
        assert device["driver"] == "nvidia"
        assert "gpu" in device["capabilities"], "capabilities: [gpu] is required"
        assert "count" not in device, "count puts every replica on the same GPU; use device_ids"
        assert isinstance(device["device_ids"], list) and len(device["device_ids"]) == 1
        assert all(isinstance(d, str) for d in device["device_ids"])
        seen += device["device_ids"]
    assert len(seen) == len(set(seen)), "one service per GPU"
    assert services["workers"]["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["0"]


def test_up_workers_starts_the_database_and_gpu_workers_and_nothing_else(services):
    started = depends_closure(services, ["workers"])
    assert started == {"postgres", "init", *gpu_workers(services)}
    assert default_services(services) == {"postgres", "init", "workers", "dashboard"}
    assert services["worker-cpu"]["profiles"] == ["cpu"] and not gpu_devices(services["worker-cpu"])
    assert services["cli"]["profiles"] == ["cli"]


def test_the_more_gpus_comment_adds_a_worker_that_up_workers_starts():
    services = interpolate_tree(load_compose(with_more_gpus_uncommented(read(COMPOSE))), ENV)["services"]
    gpus = gpu_workers(services)
    assert set(gpus) == {"workers", "worker-gpu1"}
    assert gpu_devices(services["worker-gpu1"])[0]["device_ids"] == ["1"]
    assert depends_closure(services, ["workers"]) == {"postgres", "init", "workers", "worker-gpu1"}
    same = ("command", "environment", "init", "stop_grace_period", "restart", "volumes", "image", "depends_on")
    for key in same:
        assert services["worker-gpu1"][key] == services["workers"][key] or key == "depends_on", key
    assert depends_on(services["worker-gpu1"]) == {"init": {"condition": "service_completed_successfully"}}
    test_gpu_reservation_is_one_device_id_per_service(services)


def test_keras_cache_volume_is_shared_by_the_workers(services, raw):
    assert "keras-cache" in raw["volumes"]
    for name, svc in worker_services(services).items():
        assert any(src == "keras-cache" for src, _, _ in volume_mounts(svc)), name


def test_the_artifacts_volume_is_where_workers_write_and_the_dashboard_and_cli_read(services, raw):
    assert "artifacts" in raw["volumes"]
    target = "/home/hpsearch/artifacts"
    for name in [*worker_services(services), "dashboard", "cli", "init"]:
        assert ("artifacts", target, False) in volume_mounts(services[name]), name
        assert services[name]["environment"]["HPSEARCH_ARTIFACTS"] == target, name


def test_cli_service_writes_to_a_mounted_out_folder(services):
    cli = services["cli"]
    assert cli["profiles"] == ["cli"] and "command" not in cli and "ports" not in cli
    assert ("./out", "/out", False) in volume_mounts(cli)
    assert "restart" not in cli
    assert depends_closure(services, ["cli"]) == {"cli", "init", "postgres"}


def test_no_secret_literals(raw):
    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                yield from walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                yield from walk(v, f"{path}[{i}]")
        else:
            yield path, node

    for name, svc in raw["services"].items():
        for key, value in environment(svc).items():
            if SECRETISH.search(key):
                assert re.fullmatch(r"\$\{[A-Z_][A-Z0-9_]*(:?[?-][^}]*)?\}", value), f"{name}.{key} must be a ${{VAR}} reference"
    for path, value in walk(raw, ""):
        if isinstance(value, str):
            assert not re.search(r"://[^/@\s:]+:[^/@\s]+@", value), f"{path}: a password in a URL"
    assert "x-hpsearch" in raw and "secrets" not in raw


def test_every_command_is_a_real_hpsearch_command(services):
    """`hpsearch <command> --help` succeeds for every service (and the k8s worker): each subcommand
    and option it names exists. Services without a command run the image's CMD."""
    cmd = next(i for i in parse_dockerfile(read(DOCKERFILE)) if i.keyword == "CMD").exec_form
    commands = {name: svc.get("command", cmd) for name, svc in hpsearch_services(services).items()}
    assert set(commands) == set(services) - {"postgres"}
    k8s = yaml.safe_load(read(K8S_WORKERS))["spec"]["template"]["spec"]["containers"][0]
    commands["k8s worker"] = k8s["args"]

    def check(item):
        name, args = item
        assert isinstance(args, list), f"{name}: use the exec (list) form"
        proc = subprocess.run([HPSEARCH, *args, "--help"], capture_output=True, text=True, timeout=120)
        return name, args, proc

    with ThreadPoolExecutor(4) as pool:
        for name, args, proc in pool.map(check, commands.items()):
            assert proc.returncode == 0, f"{name}: hpsearch {' '.join(args)} --help failed:\n{proc.stderr}"
            assert "Usage: hpsearch" in proc.stdout


# ---- other hosts: publishing the database with TLS --------------------------------------------
def test_db_public_override_publishes_postgres_with_tls_only(services):
    override = interpolate_tree(yaml.safe_load(read(DB_PUBLIC)), ENV)["services"]
    assert set(override) == {"postgres"}
    pg = override["postgres"]
    command = pg["command"]
    settings = dict(command[i + 1].split("=", 1) for i, w in enumerate(command) if w == "-c")
    assert settings["ssl"] == "on"
    base = services["postgres"]["command"]
    assert command[: len(base)] == base, "keeps the base command's settings"
    assert [p.target for p in published_ports(pg)] == ["5432"]
    mounts = {t: s for s, t, _ in volume_mounts(pg)}
    assert mounts[settings["hba_file"]] == "./deploy/postgres/pg_hba-tls.conf"
    cert_dir = os.path.dirname(settings["ssl_cert_file"])
    assert cert_dir in mounts and os.path.dirname(settings["ssl_key_file"]) == cert_dir
    rules = [line.split() for line in read(PG_HBA_TLS).splitlines() if line.strip() and not line.startswith("#")]
    for rule in rules:
        if rule[0] == "host":
            assert rule[-1] == "reject", f"plain TCP must be refused: {rule}"
        assert rule[-1] not in ("trust", "password", "md5") or rule[0] == "local", rule
    assert any(r[0] == "hostssl" and r[-1] == "scram-sha-256" for r in rules)


# ---- the real Compose, where one is installed ----------------------------------------------------
def test_docker_compose_config_agrees(services):
    """Docker Compose itself (no engine needed for `config`) validates the file and agrees on what
    `up workers` starts. Skipped where Compose v2 is not installed."""
    compose = compose_v2()
    if compose is None:
        pytest.skip("Docker Compose v2 not installed (`docker compose config` would validate the file)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "HPSEARCH_", "POSTGRES_"))}
    run = lambda *a, **extra: subprocess.run([*compose, "-f", COMPOSE, *a], capture_output=True, text=True,
                                             env={**env, **extra}, cwd=REPO, timeout=60)
    missing = run("config", "-q")
    assert missing.returncode != 0 and "set POSTGRES_PASSWORD in .env" in missing.stderr
    full = run("config", "--format", "json", **ENV)
    assert full.returncode == 0, full.stderr
    workers = run("config", "--format", "json", "workers", **ENV)
    assert workers.returncode == 0, workers.stderr


    assert set(json.loads(workers.stdout)["services"]) == depends_closure(services, ["workers"])
    public = run("-f", DB_PUBLIC, "config", "-q", **ENV)
    assert public.returncode == 0, public.stderr
