"""A throwaway PostgreSQL server: a real cluster in a temp dir, on a free loopback port.

The tests' `postgres` fixture and the benchmarks that need a database (coordination, scale) both
start theirs with this. Only the server binaries are needed (`initdb`, `postgres`, `pg_isready`).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass

from testing.waiting import wait_for


class MissingPostgres(RuntimeError):
    """No PostgreSQL server binaries on this host."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not candidates:
        raise MissingPostgres("PostgreSQL server binaries not found: `make test` installs them (apt-get install postgresql)")
    return candidates[-1]


@dataclass
class PostgresCluster:
    """A real PostgreSQL server in a temp dir, on a free loopback port, with a password user."""

    datadir: str
    port: int
    user: str = "hpsearch"
    password: str = "s3cr{et}@p:ss%w/rd"  # every character that breaks naive URL handling
    _proc: subprocess.Popen | None = None

    def url(self, db: str = "postgres", raw_password: bool = False) -> str:
        import urllib.parse

        pw = self.password if raw_password else urllib.parse.quote(self.password, safe="")
        return f"postgresql://{self.user}:{pw}@127.0.0.1:{self.port}/{db}"

    def _run_as_owner(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(args, check=True, capture_output=True, text=True, preexec_fn=drop_to_nobody, **kw)

    def start(self) -> None:
        log = open(os.path.join(self.datadir, "..", "server.log"), "a")
        self._proc = subprocess.Popen(
            [pg_bin("postgres"), "-D", self.datadir, "-p", str(self.port), "-k", self.datadir,
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300",
             "-c", "shared_buffers=64MB"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=drop_to_nobody,
        )
        def ready() -> bool:
            return subprocess.run([pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)], capture_output=True).returncode == 0

        try:
            wait_for(ready, "PostgreSQL to accept connections", watch=[self._proc], poll=0.2)
        except AssertionError as exc:
            raise RuntimeError(f"PostgreSQL did not start ({exc}); see server.log") from None

    def stop(self) -> None:
        if self._proc and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)  # fast shutdown
            self._proc.wait(30)
        self._proc = None

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)


def drop_to_nobody() -> None:
    """PostgreSQL refuses to run as root; CI runs as root."""
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)
