"""``GET /metrics``: the Prometheus exposition, behind a bearer token.

Off unless ``OKR_METRICS_TOKEN`` is set: then the route answers 404 like any unknown path, so a
deployment that does not scrape reveals nothing. A missing or wrong token is a 401 with a Bearer
challenge; the token is compared in constant time and never logged.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``okr-hub serve --workers N``), the answer adds up every
worker's values from that directory, whichever worker serves the scrape; without it the answer
is this process's own registry.
"""

from __future__ import annotations

import hmac
import os

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.exceptions import HTTPException

from okr_api.errors import problem
from okr_core.settings import Settings

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
REALM = "okr-hub-metrics"

router = APIRouter(tags=["metrics"])


def _registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def _authorised(request: Request, expected: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@router.get("/metrics", operation_id="metrics_read", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format; ``Authorization: Bearer <OKR_METRICS_TOKEN>``."""
    settings: Settings = request.app.state.settings
    if settings.metrics_token is None or not settings.metrics_token.get_secret_value():
        raise HTTPException(status_code=404)
    if not _authorised(request, settings.metrics_token.get_secret_value()):
        return problem(
            401,
            code="metrics_token_invalid",
            detail="send the metrics token as 'Authorization: Bearer <OKR_METRICS_TOKEN>'",
            headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'},
        )
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
