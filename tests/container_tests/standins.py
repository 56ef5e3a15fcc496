"""TEST ONLY: base images built from Debian packages, for the images Docker Hub would give users.

Docker Hub cannot be reached here, so `python:3.11-slim-bookworm` and `postgres:18` cannot be
pulled. In their place:

- `hpsearch-ci/debian:bookworm`: `debootstrap --variant=minbase` from the Debian mirror apt
  already uses, then `docker import` (its root file system is kept as a tarball in the cache).
- `hpsearch-ci/python:3.11-standin`: Debian's Python 3.11 in a venv on PATH, trusting the host's
  CA bundle (HTTPS from containers here needs it); the real Dockerfile builds on it through
  `--build-arg BASE_IMAGE`.
- `hpsearch-ci/postgres:15-standin`: Debian's PostgreSQL 15 with an entrypoint that honours the
  official image's POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, data volume and init phase.

Each is built only when missing from the engine's (cached) data root, or rebuilt from layer cache.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile

from engine import CACHE, Dockerd, EngineError, docker_cli

HERE = os.path.dirname(os.path.abspath(__file__))
DEBIAN = "hpsearch-ci/debian:bookworm"
PYTHON = "hpsearch-ci/python:3.11-standin"
POSTGRES = "hpsearch-ci/postgres:15-standin"
HOST_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def debian_mirror() -> str:
    """The Debian mirror apt uses on this host (deb822 `URIs:` or one-line `deb` sources)."""
    files = glob.glob("/etc/apt/sources.list.d/*.sources") + glob.glob("/etc/apt/sources.list.d/*.list")
    files += ["/etc/apt/sources.list"]
    for path in files:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            text = f.read()
        for m in re.finditer(r"^(?:URIs:|deb)\s+(?:\[[^\]]*\]\s+)?(\S+)", text, re.M):
            if "security" not in m.group(1) and m.group(1).rstrip("/").endswith("/debian"):
                return m.group(1)
    return "http://deb.debian.org/debian"


def debian_base(engine: Dockerd) -> str:
    if engine.has_image(DEBIAN):
        return DEBIAN
    tarball = os.path.join(CACHE, "debian-bookworm-minbase.tar")
    if not os.path.exists(tarball):
        if not shutil.which("debootstrap"):
            raise EngineError("debootstrap not found: `make test-containers` installs it")
        root = tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE)
        try:
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, debian_mirror()],
                           check=True, capture_output=True, text=True)
            shutil.rmtree(os.path.join(root, "var/cache/apt/archives"), ignore_errors=True)
            # Written next to the target, then renamed: a crash never leaves half a tarball behind.
            subprocess.run(["tar", "-C", root, "--numeric-owner", "-cf", tarball + ".part", "."], check=True)
            os.replace(tarball + ".part", tarball)
        except subprocess.CalledProcessError as e:
            raise EngineError(f"debootstrap failed:\n{(e.stderr or '')[-2000:]}") from None
        finally:
            shutil.rmtree(root, ignore_errors=True)
    with open(tarball, "rb") as f:
        run = subprocess.run([docker_cli(), "import", "-", DEBIAN], stdin=f, env=engine.env(), capture_output=True, text=True)
    if run.returncode != 0:
        raise EngineError(f"docker import failed: {run.stderr.strip()}")
    return DEBIAN


def build_standin(engine: Dockerd, name: str, tag: str) -> str:
    """Builds standins/NAME/Dockerfile (on the Debian base), with the host CA bundle in its context."""
    context = tempfile.mkdtemp(prefix=f"standin-{name}-")
    try:
        shutil.copytree(os.path.join(HERE, "standins", name), context, dirs_exist_ok=True)
        shutil.copy(HOST_CA_BUNDLE, os.path.join(context, "ca-certificates.crt"))
        engine.docker("build", "-q", "--build-arg", f"DEBIAN_IMAGE={debian_base(engine)}", "-t", tag, context, timeout=900)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag


def ensure_standins(engine: Dockerd) -> dict[str, str]:
    """Tags of the stand-in base images, built when missing: {"python": ..., "postgres": ...}."""
    return {"python": build_standin(engine, "python", PYTHON), "postgres": build_standin(engine, "postgres", POSTGRES)}
