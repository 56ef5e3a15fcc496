"""The compose services' exact commands and environment, run as local processes against a real
PostgreSQL (no Docker engine here): `postgres:5432` is mapped to the test cluster, the rest is
taken from docker-compose.yml as Compose would interpolate it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest
import yaml

from testing.cli import HPSEARCH, cli_env
from testing.postgres import drop_to_nobody, free_port, pg_bin
from testing.waiting import wait_for
from deploy_files import (
    PG_HBA_TLS,
    environment,
    interpolate_tree,
    load_compose,
    read,
    deploy_doc_cli_commands,
    volume_mounts,
)

COMPOSE_DB_URL = "postgresql://hpsearch@postgres:5432/hpsearch"


class ComposeOnLocalhost:
    """Services of docker-compose.yml as local processes: same argv (entrypoint `hpsearch` +
    command) and environment, the database host mapped to the test cluster."""

    def __init__(self, postgres, dbname: str, workdir: str):
        self.services = interpolate_tree(load_compose(), {"POSTGRES_PASSWORD": postgres.password})["services"]
        self.postgres, self.dbname, self.workdir = postgres, dbname, workdir

    def env(self, service: str) -> dict[str, str]:
        env = environment(self.services[service])
        assert env["HPSEARCH_STORAGE"] == COMPOSE_DB_URL
        assert self.postgres.user == "hpsearch"  # the compose database's user
        env["HPSEARCH_STORAGE"] = f"postgresql://hpsearch@127.0.0.1:{self.postgres.port}/{self.dbname}"
        return cli_env(None, **env)

    def argv(self, service: str, *args: str) -> list[str]:
        return [HPSEARCH, *self.services[service].get("command", []), *args]

    def run(self, service: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(service, *args), env=self.env(service), cwd=self.workdir,
                              capture_output=True, text=True, timeout=timeout)

    def start(self, service: str, log: str, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(service, *args), env=self.env(service), cwd=self.workdir,
                                stdout=open(log, "w"), stderr=subprocess.STDOUT)


def study_trials(url: str, name: str):
    """A function returning the study's trials now (one storage, opened once)."""
    import optuna

    from search.core.storage import open_storage

    study = optuna.load_study(study_name=name, storage=open_storage(url).optuna)
    return lambda: study.get_trials(deepcopy=False)


@pytest.mark.slow
@pytest.mark.postgres
def test_compose_services_run_a_study_to_its_exact_budget(postgres, tmp_path):
    dbname = f"compose_{os.getpid()}"
    url = postgres.create_database(dbname)
    workdir, out = tmp_path / "work", tmp_path / "out"  # the image's WORKDIR, and ./out
    workdir.mkdir()
    out.mkdir()
    compose = ComposeOnLocalhost(postgres, dbname, str(workdir))

    # `init` creates the schema on the fresh database and exits 0.
    init = compose.run("init")
    assert init.returncode == 0, init.stderr
    assert "no studies" in init.stdout

    # docs/deploy.md's quick check, through the `cli` service.
    launch = next(args for args in deploy_doc_cli_commands() if args[:2] == ["launch", "smoke"])
    assert launch[2:] == "--dataset digits --space small --trials 3 --epochs 2 --weights none --pruner none".split()
    name = f"smoke{os.getpid()}"
    launched = compose.run("cli", "launch", name, *launch[2:])
    assert launched.returncode == 0, launched.stderr

    # Two `workers` (GPU 0 and a copy), exactly as compose starts them: `hpsearch worker`.
    logs = [str(tmp_path / f"worker{i}.log") for i in range(2)]
    workers = [compose.start("workers", log) for log in logs]
    trials_now = study_trials(url, name)
    try:
        # Ends when the budget is met, or at once when a worker exits or a trial fails: the sampled
        # configurations (the small space, up to 4 blocks from 128 filters with MixUp) take minutes
        # on a loaded 2-core machine, so no fixed deadline says "too slow".
        def done():
            trials = trials_now()
            failed = [t for t in trials if t.state.name == "FAIL"]
            assert not failed, [(t.number, t.user_attrs.get("fail_reason")) for t in failed]
            return sum(t.state.name in ("COMPLETE", "PRUNED") for t in trials) >= 3

        try:
            wait_for(done, "the study's 3 trials", watch=workers, poll=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n" + "\n".join(read(l) for l in logs)) from None
        # Each worker goes idle only after it found the budget spent; one that overshot would have
        # created a fourth trial before saying so.
        for log in logs:
            wait_for(lambda: "idle: no study has a trial to run" in read(log), f"{log} to go idle")
    finally:
        for w in workers:  # what `docker stop` sends
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        codes = [w.wait(60) for w in workers]
    assert codes == [0, 0], "workers exit 0 on SIGTERM:\n" + "\n".join(read(l) for l in logs)

    trials = trials_now()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3, [(t.number, t.state.name, t.user_attrs.get("fail_reason")) for t in trials]

    # `status` and `export ... -o /out/best.yaml` through the `cli` service; ./out is mounted at /out.
    status = compose.run("cli", "status", name, "--format", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["study"]["complete"] == 3
    assert ("./out", "/out", False) in volume_mounts(compose.services["cli"])
    export = next(args for args in deploy_doc_cli_commands() if args[0] == "export")
    target = export[export.index("-o") + 1]
    assert target.startswith("/out/")
    exported = compose.run("cli", "export", name, "-o", str(out / target[len("/out/"):]))
    assert exported.returncode == 0, exported.stderr
    doc = yaml.safe_load((out / os.path.basename(target)).read_text())
    assert doc["study"] == name and "config" in doc

    # The dashboard's exact command serves this storage (its port mapped to a free one).
    dash_args = compose.services["dashboard"]["command"]
    port = free_port()
    argv = [HPSEARCH, *dash_args[: dash_args.index("--port") + 1], str(port), *dash_args[dash_args.index("--port") + 2 :]]
    dash = subprocess.Popen(argv, env=compose.env("dashboard"), cwd=str(workdir), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        def studies() -> str | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                return None

        body = wait_for(studies, "the dashboard to answer", watch=[dash], poll=0.5)
        assert name in body, "the dashboard did not list the study"
    finally:
        dash.terminate()
        dash.wait(30)


@pytest.mark.slow
@pytest.mark.postgres
def test_published_database_refuses_plain_tcp_and_serves_tls(tmp_path):
    """deploy/postgres/pg_hba-tls.conf on a real server with ssl=on, as db-public.yml runs it: plain
    TCP is refused, `?sslmode=require` works for hpsearch, and pg_isready still reports ready."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed (it comes with PostgreSQL's apt packages)")
    root = tempfile.mkdtemp(prefix="hpsearch-pgtls-")
    os.chmod(root, 0o777)
    try:
        datadir, certs, password = os.path.join(root, "data"), os.path.join(root, "certs"), "tls {pass}@word"
        os.makedirs(certs)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-keyout", f"{certs}/server.key", "-out", f"{certs}/server.crt"], check=True, capture_output=True)
        os.chmod(certs, 0o755)
        os.chmod(f"{certs}/server.crt", 0o644)
        with open(f"{root}/pw", "w") as f:
            f.write(password)
        os.chmod(f"{root}/pw", 0o644)
        # The server runs as nobody, which may not enter the checkout (a clone in a mode-0700 folder):
        # it reads a copy of the repo's pg_hba.conf, and runs from the test's own folder.
        hba = shutil.copy(PG_HBA_TLS, f"{root}/pg_hba.conf")
        os.chmod(hba, 0o644)
        subprocess.run([pg_bin("initdb"), "-D", datadir, "-U", "hpsearch", "--pwfile", f"{root}/pw", "--no-sync"],
                       check=True, capture_output=True, preexec_fn=drop_to_nobody, cwd=root)
        # The key must belong to the server's user with mode 0600 (uid 999 in the image): here, nobody.
        key = os.path.join(datadir, "server.key")
        shutil.copy(f"{certs}/server.key", key)
        if os.geteuid() == 0:
            import pwd

            nobody = pwd.getpwnam("nobody")
            os.chown(key, nobody.pw_uid, nobody.pw_gid)
        os.chmod(key, 0o600)
        port = free_port()
        server = subprocess.Popen(
            [pg_bin("postgres"), "-D", datadir, "-p", str(port), "-k", datadir, "-c", "listen_addresses=127.0.0.1",
             "-c", "ssl=on", "-c", f"ssl_cert_file={certs}/server.crt", "-c", f"ssl_key_file={key}",
             "-c", f"hba_file={hba}", "-c", "fsync=off"],
            stdout=open(f"{root}/server.log", "w"), stderr=subprocess.STDOUT, preexec_fn=drop_to_nobody, cwd=root,
        )
        try:
            ready, deadline = None, time.monotonic() + 120  # a busy machine starts a server slowly
            while time.monotonic() < deadline:
                ready = subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-U", "hpsearch"],
                                       capture_output=True)
                if ready.returncode == 0:
                    break
                time.sleep(0.2)
            assert ready.returncode == 0, "the compose healthcheck must still pass: " + read(f"{root}/server.log")
            # Connections are checked from hpsearch processes, not this one: psycopg2-binary's bundled
            # OpenSSL segfaults on a TLS handshake in a process that has also loaded TensorFlow.
            env = cli_env(f"postgresql://hpsearch@127.0.0.1:{port}/postgres?sslmode=require", HPSEARCH_DB_PASSWORD=password)
            proc = subprocess.run([HPSEARCH, "status"], env=env, capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr
            plain = subprocess.run([HPSEARCH, "status"], capture_output=True, text=True, timeout=120,
                                   env={**env, "HPSEARCH_STORAGE": f"postgresql://hpsearch@127.0.0.1:{port}/postgres?sslmode=disable"})
            assert plain.returncode != 0 and password not in plain.stderr
            assert "no encryption" in plain.stderr or "rejects connection" in plain.stderr, plain.stderr
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    finally:
        shutil.rmtree(root, ignore_errors=True)
