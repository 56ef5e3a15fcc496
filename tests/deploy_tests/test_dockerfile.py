"""The Dockerfile and .dockerignore, parsed: one image for workers, CLI and dashboard."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from deploy_files import (
    COMPOSE,
    DOCKERFILE,
    DOCKERIGNORE,
    REPO,
    SECRETISH,
    dockerfile_args,
    dockerfile_env,
    dockerignore_excludes,
    dockerignore_patterns,
    load_compose,
    parse_dockerfile,
    read,
    substitute,
    volume_mounts,
)

CODE_DIRS = ("trainers", "spaces", "search")


@pytest.fixture(scope="module")
def instructions():
    return parse_dockerfile(read(DOCKERFILE))


@pytest.fixture(scope="module")
def pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def pip_installs(ins) -> list[str]:
    """Requirement arguments of `pip install` commands in a RUN (options dropped)."""
    words = shlex.split(ins.value.replace("&&", " && ").replace("\\", " "))
    out, inside = [], False
    for i, w in enumerate(words):
        if w in ("&&", ";", "||", "|"):
            inside = False
        elif w == "install" and i and words[i - 1] == "pip":
            inside = True
        elif inside and not w.startswith("-") and words[i - 1] not in ("-r", "-c", "--requirement", "--constraint"):
            out.append(w)
    return out


def index_of(instructions, predicate, what: str) -> int:
    for i, ins in enumerate(instructions):
        if predicate(ins):
            return i
    raise AssertionError(f"the Dockerfile has no {what}")


def user_at(instructions, index: int) -> str:
    """The USER in effect for the instruction at `index` (root when none was set)."""
    user = "root"
    for ins in instructions[:index]:
        if ins.keyword == "USER":
            user = ins.value.strip()
    return user


def resolved(instructions, text: str) -> str:
    return substitute(text, {k: v or "" for k, v in dockerfile_args(instructions).items()})


# ---- the parser itself ---------------------------------------------------------------------
def test_parser_joins_continuations_drops_comments_and_reads_exec_form():
    text = (
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim\n\n"
        "RUN a \\\n"
        "    # a comment inside the instruction\n"
        " && b \\\n"
        "    c\n"
        "COPY --chown=1:1 --chmod=644 x /y\n"
        "ENV A=1 \\\n    B=\"two words\"\n"
        "ENV LEGACY some value\n"
        'ENTRYPOINT ["hpsearch", "--x"]\n'
        "CMD echo shell form\n"
    )
    ins = parse_dockerfile(text)
    assert [i.keyword for i in ins] == ["FROM", "RUN", "COPY", "ENV", "ENV", "ENTRYPOINT", "CMD"]
    assert ins[1].value == "a && b c" and ins[1].line == 4
    assert ins[2].flags == {"chown": "1:1", "chmod": "644"} and ins[2].words == ["x", "/y"]
    assert dockerfile_env(ins) == {"A": "1", "B": "two words", "LEGACY": "some value"}
    assert ins[5].exec_form == ["hpsearch", "--x"]
    assert ins[6].exec_form is None
    with pytest.raises(ValueError, match="heredoc"):
        parse_dockerfile("RUN <<EOF\necho\nEOF\n")


# ---- the image -------------------------------------------------------------------------------
def test_one_stage_on_a_pinned_python_that_pyproject_allows(instructions, pyproject):
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) == 1, "one image for workers, CLI and dashboard"
    image = resolved(instructions, froms[0].words[0])
    name, _, tag = image.partition(":")
    assert name == "python" and tag and tag != "latest", image
    version = re.match(r"(\d+)\.(\d+)", tag)
    assert version, f"the tag {tag!r} must pin a Python minor version"
    needed = re.match(r">=\s*(\d+)\.(\d+)", pyproject["project"]["requires-python"])
    assert tuple(map(int, version.groups())) >= tuple(map(int, needed.groups()))


def test_tensorflow_with_cuda_from_pinned_pip_packages_first(instructions, pyproject):
    runs = [i for i in instructions if i.keyword == "RUN"]
    first = runs[0]
    assert pip_installs(first) == ["tensorflow[and-cuda]==2.21.0"], "the first layer installs TensorFlow with CUDA"
    pinned = [d for d in pyproject["project"]["dependencies"] if re.match(r"tensorflow\s*==", d)]
    assert pinned and pinned[0].replace(" ", "") == "tensorflow==2.21.0", "the image pins the same TensorFlow as pyproject.toml"
    tf_index = instructions.index(first)
    assert not any(i.keyword in ("COPY", "ADD") for i in instructions[:tf_index]), "nothing from the context before TF"


def test_layers_go_from_dependencies_to_code(instructions):
    tf = index_of(instructions, lambda i: i.keyword == "RUN" and "tensorflow[and-cuda]==2.21.0" in i.value, "TF install")
    deps = index_of(instructions, lambda i: i.keyword == "RUN" and "pip install -r" in i.value, "dependency install")
    weights = index_of(instructions, lambda i: i.keyword == "RUN" and "fetch_weights.py" in i.value, "weights step")
    code = index_of(
        instructions,
        lambda i: i.keyword == "COPY" and any(w.rstrip("/") in CODE_DIRS for w in i.words[:-1]),
        "COPY of the code",
    )
    install = index_of(instructions, lambda i: i.keyword == "RUN" and "--no-deps" in i.value, "code install")
    assert tf < weights < code and tf < deps < code < install, "deps first, code last"
    # Before the dependencies are installed, COPY brings only pyproject.toml and build helpers.
    for ins in instructions[:deps]:
        if ins.keyword in ("COPY", "ADD"):
            for src in ins.words[:-1]:
                assert src == "pyproject.toml" or src.startswith("deploy/docker/"), f"line {ins.line}: {src} before the deps"
    # Every code folder is copied, and nothing after the code install but metadata.
    copied = {w.rstrip("/") for i in instructions if i.keyword == "COPY" for w in i.words[:-1]}
    assert set(CODE_DIRS) <= copied
    assert {i.keyword for i in instructions[install + 1 :]} <= {"WORKDIR", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "LABEL"}


def test_copy_sources_exist_and_are_in_the_context(instructions):
    patterns = dockerignore_patterns(read(DOCKERIGNORE))
    for ins in instructions:
        if ins.keyword in ("COPY", "ADD"):
            assert "from" not in ins.flags
            for src in ins.words[:-1]:
                assert os.path.exists(os.path.join(REPO, src)), f"line {ins.line}: {src} does not exist"
                assert not dockerignore_excludes(patterns, src.rstrip("/")), f"line {ins.line}: .dockerignore leaves out {src}"
                if os.path.isdir(os.path.join(REPO, src)):
                    for root, _, files in os.walk(os.path.join(REPO, src)):
                        for f in files:
                            rel = os.path.relpath(os.path.join(root, f), REPO)
                            if f.endswith(".py"):
                                assert not dockerignore_excludes(patterns, rel), rel


def test_dockerignore_keeps_secrets_and_bulk_out():
    patterns = dockerignore_patterns(read(DOCKERIGNORE))
    for path in (".env", ".git/config", ".venv/bin/python", "out/best.yaml", "data/cats/1.jpg", "certs/server.key",
                 "tests/conftest.py", "search/__pycache__/cli.cpython-311.pyc", "hpsearch-logs/w1.log",
                 "demo-studies.journal", "docker-compose.yml"):
        assert dockerignore_excludes(patterns, path), f"{path} would go into the build context"
    for path in ("pyproject.toml", "README.md", "search/cli/commands.py", "trainers/data/loading.py", "spaces/default.py",
                 "deploy/docker/fetch_weights.py"):
        assert not dockerignore_excludes(patterns, path), f"{path} is needed in the build context"


def test_runs_as_a_non_root_user_it_creates(instructions):
    args = dockerfile_args(instructions)
    users = [i for i in instructions if i.keyword == "USER"]
    assert users, "no USER: the image would run as root"
    final = resolved(instructions, users[-1].value.strip())
    uid, _, gid = final.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"final USER {final!r} must be a numeric non-root uid (Kubernetes runAsNonRoot)"
    assert not gid or (gid.isdigit() and int(gid) != 0)
    creates = [i for i in instructions if i.keyword == "RUN" and "useradd" in i.value]
    assert creates, "the user is created in the image"
    uid_arg = re.search(r"useradd\b.*--uid\s+\"?\$\{?(\w+)", creates[0].value)
    assert uid_arg and args[uid_arg.group(1)] == uid, "USER is the uid useradd created"


def test_keras_cache_is_owned_by_the_user_and_is_the_workers_volume(instructions):
    env = dockerfile_env(instructions)
    keras_home = env.get("KERAS_HOME")
    assert keras_home and os.path.isabs(keras_home)
    creates = " ".join(i.value for i in instructions if i.keyword == "RUN" and "useradd" in i.value)
    assert f"{keras_home}/models" in creates, "KERAS_HOME/models exists in the image"
    chowned = re.findall(r"chown -R \S+ ([^&]+)", creates)
    targets = [t for group in chowned for t in group.split()]
    assert any(keras_home == t or keras_home.startswith(t.rstrip("/") + "/") for t in targets), "the user owns KERAS_HOME"
    assert env.get("HOME") and keras_home.startswith(env["HOME"])
    # The compose workers share the cache through a volume mounted exactly there.
    services = load_compose()["services"]
    for name, svc in services.items():
        if svc.get("command") == ["worker"]:
            assert ("keras-cache", keras_home, False) in volume_mounts(svc), name


def test_pretrained_build_argument_bakes_weights_as_the_user(instructions):
    args = dockerfile_args(instructions)
    assert args.get("PRETRAINED") == "", "ARG PRETRAINED defaults to no weights"
    index = index_of(instructions, lambda i: i.keyword == "RUN" and "fetch_weights.py" in i.value, "weights step")
    run = instructions[index]
    assert "${PRETRAINED}" in run.value or "$PRETRAINED" in run.value
    declared = index_of(instructions, lambda i: i.keyword == "ARG" and i.value.startswith("PRETRAINED"), "ARG PRETRAINED")
    assert declared < index
    user = resolved(instructions, user_at(instructions, index))
    assert user.split(":")[0] not in ("root", "0"), "weights are downloaded as the user, so the cache stays writable"
    # compose passes it through, from .env
    build = load_compose()["x-hpsearch"]["build"]
    assert build["args"]["PRETRAINED"] == "${PRETRAINED:-}"


def test_exec_form_entrypoint_is_the_console_script(instructions, pyproject):
    entry = [i for i in instructions if i.keyword == "ENTRYPOINT"]
    assert len(entry) == 1 and entry[0].exec_form == ["hpsearch"], "ENTRYPOINT [\"hpsearch\"] (exec form: signals reach Python)"
    assert "hpsearch" in pyproject["project"]["scripts"]
    cmd = [i for i in instructions if i.keyword == "CMD"]
    assert len(cmd) == 1 and cmd[0].exec_form is not None
    bin_dir = os.path.dirname(sys.executable)
    proc = subprocess.run([os.path.join(bin_dir, "hpsearch"), *cmd[0].exec_form], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_no_secret_in_build_arguments_or_environment(instructions):
    for name in [*dockerfile_args(instructions), *dockerfile_env(instructions)]:
        assert not SECRETISH.search(name), f"{name}: secrets do not belong in an image (they stay in its history)"


# ---- the build helpers -------------------------------------------------------------------------
def _load(path: str):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fetch_weights_knows_every_hpsearch_backbone():
    from trainers.model.backbones import APPLICATIONS

    fetch = _load(os.path.join(REPO, "deploy", "docker", "fetch_weights.py"))
    available = fetch.application_names()
    assert fetch.resolve(fetch.split_names(["MobileNetV2,resnet50", "RESNET50"]), available) == ["MobileNetV2", "ResNet50"]
    for backbone, app in APPLICATIONS.items():
        assert fetch.resolve([backbone], available) == [app.constructor]
    with pytest.raises(SystemExit, match="unknown network"):
        fetch.resolve(["resnet5000"], available)
    assert fetch.main([]) == 0  # PRETRAINED="" is a no-op


def test_requirements_come_from_pyproject(tmp_path, pyproject):
    script = os.path.join(REPO, "deploy", "docker", "pyproject_requirements.py")
    run = lambda *a: subprocess.run([sys.executable, script, os.path.join(REPO, "pyproject.toml"), *a],
                                    capture_output=True, text=True)
    plain = run()
    assert plain.returncode == 0 and plain.stdout.splitlines() == pyproject["project"]["dependencies"]
    with_tfds = run("tfds")
    assert with_tfds.stdout.split() == [*pyproject["project"]["dependencies"], *pyproject["project"]["optional-dependencies"]["tfds"]]
    bad = run("nope")
    assert bad.returncode != 0 and "unknown group 'nope'" in bad.stderr
    # the build args compose passes exist in the Dockerfile
    args = dockerfile_args(parse_dockerfile(read(DOCKERFILE)))
    assert set(load_compose()["x-hpsearch"]["build"]["args"]) <= set(args)
    assert os.path.exists(COMPOSE)
