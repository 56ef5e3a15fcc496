"""optuna-dashboard on the study storage. It has no authentication: local by default."""

from __future__ import annotations

import logging

from search.core.storage import Storage

log = logging.getLogger("hpsearch.dashboard")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def build_app(storage: Storage):
    """optuna-dashboard's app on the storage and every study's artifacts, its study page answered in one pass."""
    from optuna_dashboard.artifact._backend_to_store import to_artifact_store

    from search.service.dashboard_app import create_app

    return create_app(storage.optuna, artifact_store=to_artifact_store(studies_artifacts(storage)))


def serve(storage: Storage, host: str = "127.0.0.1", port: int = 8080) -> None:
    from bottle import run

    if host not in LOCAL_HOSTS:
        log.warning(
            "optuna-dashboard has no authentication and its API can delete studies: binding to %s exposes it "
            "to the network; put it behind an authenticating proxy", host
        )
    log.info("dashboard for %s on http://%s:%d", storage.display, host if host != "0.0.0.0" else "127.0.0.1", port)
    run(build_app(storage), host=host, port=port)  # as optuna_dashboard.run_server serves its app


def studies_artifacts(storage: Storage):
    """One artifact store over every study's (optuna-dashboard serves one): images in notes, kept models."""
    from search.core.artifacts import ArtifactError, UnionStore, default_location, open_store
    from search.core.spec import SPEC_ATTR

    locations = [default_location(storage)]
    for _, attrs in storage.studies_user_attrs().values():
        location = (attrs.get(SPEC_ATTR) or {}).get("artifacts")
        if location and location not in locations:
            locations.append(location)
    stores = []
    for location in locations:
        try:
            stores.append(open_store(location))
        except ArtifactError as exc:  # one study's unreachable store must not take the dashboard down
            log.warning("artifacts of some studies are not served: %s", exc)
    return UnionStore(stores)
