"""deploy/k8s/workers.yaml: the compose worker, as a Kubernetes Deployment."""

from __future__ import annotations

import pytest
import yaml

from deploy_files import (
    DOCKERFILE,
    K8S_WORKERS,
    SECRETISH,
    dockerfile_args,
    environment,
    interpolate_tree,
    load_compose,
    parse_dockerfile,
    parse_duration,
    read,
)


@pytest.fixture(scope="module")
def deployment():
    docs = [d for d in yaml.safe_load_all(read(K8S_WORKERS)) if d]
    assert len(docs) == 1
    return docs[0]


@pytest.fixture(scope="module")
def compose_worker():
    return interpolate_tree(load_compose(), {"POSTGRES_PASSWORD": "x"})["services"]["workers"]


def container(deployment) -> dict:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_is_a_deployment_whose_selector_matches_its_pods(deployment):
    assert deployment["apiVersion"] == "apps/v1" and deployment["kind"] == "Deployment"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # rolling updates never ask for a GPU more than the deployment has
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_same_command_and_environment_names_as_the_compose_worker(deployment, compose_worker):
    c = container(deployment)
    entrypoint = next(i for i in parse_dockerfile(read(DOCKERFILE)) if i.keyword == "ENTRYPOINT").exec_form
    assert c["command"] == entrypoint
    assert c["args"] == compose_worker["command"]
    assert [e["name"] for e in c["env"]] == list(environment(compose_worker))


def test_storage_and_password_come_from_a_secret(deployment):
    env = {e["name"]: e for e in container(deployment)["env"]}
    for name in ("HPSEARCH_STORAGE", "HPSEARCH_DB_PASSWORD"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] and ref["key"] and "value" not in env[name]
    for name, e in env.items():
        if SECRETISH.search(name):
            assert "value" not in e, f"{name}: a literal secret"


def test_one_gpu_per_pod_and_time_to_stop_gracefully(deployment, compose_worker):
    spec = deployment["spec"]["template"]["spec"]
    assert int(container(deployment)["resources"]["limits"]["nvidia.com/gpu"]) == 1
    grace = spec["terminationGracePeriodSeconds"]
    assert isinstance(grace, int) and grace >= parse_duration(compose_worker["stop_grace_period"])


def test_runs_as_the_image_user(deployment):
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    args = dockerfile_args(parse_dockerfile(read(DOCKERFILE)))
    assert security["runAsNonRoot"] is True
    assert str(security["runAsUser"]) == args["HPSEARCH_UID"] and str(security["runAsGroup"]) == args["HPSEARCH_GID"]
