"""optuna-dashboard on the study storage. It has no authentication: local by default."""

from __future__ import annotations

import logging

from search.core.storage import Storage

log = logging.getLogger("hpsearch.dashboard")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def serve(storage: Storage, host: str = "127.0.0.1", port: int = 8080) -> None:
    from optuna_dashboard import run_server

    if host not in LOCAL_HOSTS:
        log.warning(
            "optuna-dashboard has no authentication and its API can delete studies: binding to %s exposes it "
            "to the network; put it behind an authenticating proxy", host
        )
    log.info("dashboard for %s on http://%s:%d", storage.display, host if host != "0.0.0.0" else "127.0.0.1", port)
    run_server(storage.optuna, host=host, port=port)
