"""The container test's stand-in override changes base images only, so `make test-containers`
runs docker-compose.yml and the Dockerfile as users get them (no engine needed here)."""

from __future__ import annotations

import os

import yaml

from deploy_files import DOCKERFILE, REPO, dockerfile_args, load_compose, parse_dockerfile, read

OVERRIDE = os.path.join(REPO, "tests", "container_tests", "compose.standins.yml")


def test_the_override_swaps_base_images_and_nothing_else():
    override = yaml.safe_load(read(OVERRIDE))["services"]
    services = load_compose()["services"]
    assert set(override) <= set(services)
    assert override.pop("postgres") == {"image": "hpsearch-ci/postgres:15-standin"}
    assert services["postgres"]["image"] == "postgres:18", "users keep the official image"
    for name, service in override.items():
        assert "build" in services[name], f"{name} is not built from the Dockerfile"
        assert service == {"build": {"args": {"BASE_IMAGE": "hpsearch-ci/python:3.11-standin"}}}, name


def test_users_build_on_the_official_python_image_by_default():
    ins = parse_dockerfile(read(DOCKERFILE))
    [frm] = [i for i in ins if i.keyword == "FROM"]
    assert frm.value == "${BASE_IMAGE}"
    assert dockerfile_args(ins)["BASE_IMAGE"] == "python:3.11-slim-bookworm"
    compose_args = {k for s in load_compose()["services"].values() for k in ((s.get("build") or {}).get("args") or {})}
    assert "BASE_IMAGE" not in compose_args, "the compose file leaves the base to the Dockerfile"
