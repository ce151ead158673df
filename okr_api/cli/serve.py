"""``okr-hub serve``: the API alone under uvicorn, e.g. behind a reverse proxy or in a container.

With ``--workers N`` (N > 1) uvicorn runs N processes. Prometheus metrics then live in a fresh
directory named by ``PROMETHEUS_MULTIPROC_DIR`` (made here before the workers start, removed on
exit; an operator's own value is kept), so ``GET /metrics`` adds up every worker's counts.
uvicorn's own proxy-header handling is off: ``OKR_TRUSTED_PROXIES`` alone decides whose
``X-Forwarded-For`` is believed (see ``okr_api.app``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Annotated

import typer
import uvicorn

from okr_api.cli.processes import ensure_port_free
from okr_core.settings import load_settings

# The factory builds the app inside the server process from the same OKR_* environment.
APP_FACTORY = "okr_api.app:create_app"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to bind [default: OKR_API_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to bind [default: OKR_API_PORT].")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="uvicorn worker processes.")] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (no Dagster); settings are validated before the server starts."""
    settings = load_settings()
    host = host or settings.api_host
    port = port or settings.api_port
    ensure_port_free(host, port, option="--port")
    made_dir: str | None = None
    if workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
        # Workers are spawned (fresh interpreters): they see this before prometheus_client
        # is first imported, which is when it chooses file-backed values.
        made_dir = tempfile.mkdtemp(prefix="okr-hub-metrics-")
        os.environ[MULTIPROCESS_ENV] = made_dir
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            proxy_headers=False,
            log_level=log_level,
        )
    finally:
        if made_dir is not None:
            os.environ.pop(MULTIPROCESS_ENV, None)
            shutil.rmtree(made_dir, ignore_errors=True)
