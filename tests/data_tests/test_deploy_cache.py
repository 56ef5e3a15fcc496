"""The compose workers share one decoded-dataset cache per host, owned by the image's user."""

from tests.deploy_tests.deploy_files import DOCKERFILE, dockerfile_env, load_compose, parse_dockerfile, read, volume_mounts


def test_workers_and_cli_share_the_dataset_cache_volume_at_hpsearch_cache():
    instructions = parse_dockerfile(read(DOCKERFILE))
    cache = dockerfile_env(instructions)["HPSEARCH_CACHE"]
    creates = " ".join(i.value for i in instructions if i.keyword == "RUN" and "useradd" in i.value)
    assert cache in creates  # made in the image, so the named volume starts owned by the user
    compose = load_compose()
    assert "dataset-cache" in compose["volumes"]
    for name, svc in compose["services"].items():
        if svc.get("command") == ["worker"] or name == "cli":
            assert ("dataset-cache", cache, False) in volume_mounts(svc), name
