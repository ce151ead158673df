"""``okr-hub serve``: the API alone under uvicorn, e.g. behind a reverse proxy or in a container."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from okr_api.cli.processes import ensure_port_free
from okr_core.settings import load_settings

# The factory builds the app inside the server process from the same OKR_* environment.
APP_FACTORY = "okr_api.app:create_app"


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Interface to bind [default: OKR_API_HOST].")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to bind [default: OKR_API_PORT].")
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the API (no Dagster); settings are validated before the server starts."""
    settings = load_settings()
    host = host or settings.api_host
    port = port or settings.api_port
    ensure_port_free(host, port, option="--port")
    uvicorn.run(APP_FACTORY, factory=True, host=host, port=port, log_level=log_level)
