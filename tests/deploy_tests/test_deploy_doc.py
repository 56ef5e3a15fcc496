"""docs/deploy.md's "GPU machines" and "Several machines" sections name only commands, services,
options and files that exist."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from concurrent.futures import ThreadPoolExecutor

import yaml

from testing.cli import HPSEARCH
from deploy_files import (
    COMPOSE,
    REPO,
    interpolate_tree,
    load_compose,
    published_ports,
    read,
    deploy_doc_block,
    deploy_doc_cli_commands,
    with_more_gpus_uncommented,
)


def services_with_more_gpus() -> dict:
    return interpolate_tree(load_compose(with_more_gpus_uncommented(read(COMPOSE))), {"POSTGRES_PASSWORD": "x"})["services"]


def test_both_sections_are_there():
    block = deploy_doc_block()
    assert "## GPU machines" in block and "## Several machines" in block
    for required in (".env.example", "docker compose up -d workers", "nvidia-ctk", "sslmode=require",
                     "deploy/k8s/workers.yaml", "deploy/compose/db-public.yml", "http://127.0.0.1:8080"):
        assert required in block, required


def test_every_cli_container_command_is_a_real_hpsearch_command():
    commands = deploy_doc_cli_commands()
    assert {c[0] for c in commands} >= {"launch", "status", "export"}

    def check(args):
        return args, subprocess.run([HPSEARCH, *args, "--help"], capture_output=True, text=True, timeout=120)

    with ThreadPoolExecutor(3) as pool:
        for args, proc in pool.map(check, commands):
            assert proc.returncode == 0, f"hpsearch {shlex.join(args)}: {proc.stderr}"


def test_compose_commands_name_existing_services():
    services = services_with_more_gpus()
    joined = re.sub(r"\\\n\s*", " ", deploy_doc_block())
    seen = 0
    for m in re.finditer(r"docker compose (up|logs|stop|run)((?: [^\s`#]+)*)", joined):
        words = [w for w in m.group(2).split() if not w.startswith("-") and "=" not in w]
        if m.group(1) == "run":
            words = words[:1]
        for word in words:
            assert word in services, f"`docker compose {m.group(1)}{m.group(2)}`: no service {word!r}"
            seen += 1
    assert seen >= 5


def test_yaml_snippets_parse_and_override_existing_services():
    services = services_with_more_gpus()
    snippets = re.findall(r"```yaml\n(.*?)```", deploy_doc_block(), re.S)
    assert snippets
    for text in snippets:
        override = yaml.safe_load(text)
        for name, svc in override["services"].items():
            assert name in services
            for port in published_ports(svc):
                assert port.host_ip == "127.0.0.1", "a documented publish must stay on the loopback"


def test_named_files_exist():
    for path in re.findall(r"`((?:deploy|certs)/[\w./-]+|\.env\.example|docker-compose\.yml|Dockerfile)`", deploy_doc_block()):
        if not path.startswith("certs/"):
            assert os.path.exists(os.path.join(REPO, path)), path
    compose_file = re.search(r"COMPOSE_FILE=(\S+)", deploy_doc_block()).group(1)
    for path in compose_file.split(":"):
        assert os.path.exists(os.path.join(REPO, path)), path
