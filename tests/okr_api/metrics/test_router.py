"""``GET /metrics``: off (404) without a token setting, 401 without the right bearer token, the
Prometheus text format with it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from okr_core.settings import Settings

TOKEN = "metrics-token-for-the-tests-0123456789"


def _client(app: FastAPI, token: str | None) -> TestClient:
    app.state.settings = app.state.settings.model_copy(
        update={"metrics_token": SecretStr(token) if token is not None else None}
    )
    return TestClient(app)


def test_metrics_are_404_when_no_token_is_configured(app: FastAPI) -> None:
    client = _client(app, None)
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    unknown = client.get("/no-such-route")
    assert client.get("/metrics").json()["code"] == unknown.json()["code"]


def test_missing_or_wrong_token_is_401_with_a_bearer_challenge(app: FastAPI) -> None:
    client = _client(app, TOKEN)
    for headers in (
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
    ):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["WWW-Authenticate"].startswith("Bearer ")
        assert refused.json()["code"] == "metrics_token_invalid"
        assert TOKEN not in refused.text


def test_right_token_gets_the_prometheus_exposition(app: FastAPI) -> None:
    client = _client(app, TOKEN)
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {
        "okr_public_api_rate_limit_fail_open",
        "okr_public_api_rate_limited",
        "okr_public_api_requests",
        "okr_public_api_request_duration_seconds",
        "okr_public_api_usage_flush_failures",
    } <= names


def test_metrics_route_is_not_in_the_openapi_document(app: FastAPI) -> None:
    assert "/metrics" not in TestClient(app).get("/openapi.json").json()["paths"]


def test_production_refuses_a_short_metrics_token() -> None:
    production = {
        "environment": "production",
        "secret_key": "s" * 40,
        "credentials_keys": "a-fernet-key-list-placeholder",
    }
    with pytest.raises(ValueError, match="OKR_METRICS_TOKEN"):
        Settings(**production, metrics_token="short")  # type: ignore[arg-type]
    assert Settings(**production, metrics_token=TOKEN).metrics_token is not None  # type: ignore[arg-type]
    assert Settings(**production).metrics_token is None  # type: ignore[arg-type]
