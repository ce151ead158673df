"""The client address behind a reverse proxy: ``X-Forwarded-For`` is believed only from the
peers listed in ``OKR_TRUSTED_PROXIES`` (uvicorn's ProxyHeadersMiddleware, installed by
``create_app``), for a key's last-used address and the per-address limit of anonymous calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from okr_api.app import create_app
from okr_api.public.runtime import get_runtime
from okr_core.models import ApiKey
from okr_core.settings import Settings
from okr_core.tenancy import tenant_context
from tests.okr_api.public.conftest import IssueKey, OkrData, bearer

URL = "/api/v1/public/objectives"
CLIENT = "203.0.113.7"
Behind = Callable[..., TestClient]


@pytest.fixture
def behind(app: FastAPI) -> Iterator[Behind]:
    """A client reaching an app built with the given trusted proxies from ``peer``; the app
    shares the test's session (and its usage-flush setting) with the ``app`` fixture."""
    clients: list[TestClient] = []

    def make(trusted: str, *, peer: str, anonymous: str = "100/minute") -> TestClient:
        settings = app.state.settings.model_copy(
            update={"trusted_proxies": trusted, "public_rate_limit_anonymous": anonymous}
        )
        proxied = create_app(settings)
        proxied.dependency_overrides.update(app.dependency_overrides)
        client = TestClient(proxied, client=(peer, 40000))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _last_used_ip(client: TestClient, session: Session, okrs: OkrData) -> str | None:
    runtime = get_runtime(client.app)  # type: ignore[arg-type]
    asyncio.run(runtime.flush_usage())
    with tenant_context(session, okrs.world.tenant.id):
        session.expire_all()
        return session.scalars(select(ApiKey.last_used_ip)).one()


def test_trusted_proxy_passes_on_the_real_client_address(
    behind: Behind, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    client = behind("10.0.0.0/8", peer="10.1.2.3")
    key = issue_key(okrs_a.world)
    answer = client.get(URL, headers={**bearer(key), "X-Forwarded-For": CLIENT})
    assert answer.status_code == 200
    assert _last_used_ip(client, session, okrs_a) == CLIENT


def test_chain_of_trusted_proxies_yields_the_first_untrusted_address(
    behind: Behind, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    client = behind("10.0.0.0/8, 192.0.2.10", peer="192.0.2.10")
    key = issue_key(okrs_a.world)
    # A client-supplied (spoofed) first entry, the real client, then an inner trusted proxy.
    forwarded = f"198.51.100.66, {CLIENT}, 10.9.9.9"
    client.get(URL, headers={**bearer(key), "X-Forwarded-For": forwarded})
    assert _last_used_ip(client, session, okrs_a) == CLIENT


def test_untrusted_peer_cannot_choose_its_address(
    behind: Behind, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    client = behind("10.0.0.0/8", peer="198.51.100.9")
    key = issue_key(okrs_a.world)
    client.get(URL, headers={**bearer(key), "X-Forwarded-For": CLIENT})
    assert _last_used_ip(client, session, okrs_a) == "198.51.100.9"


def test_by_default_no_peer_is_trusted_not_even_localhost(
    behind: Behind, okrs_a: OkrData, issue_key: IssueKey, session: Session
) -> None:
    client = behind("", peer="127.0.0.1")
    key = issue_key(okrs_a.world)
    client.get(URL, headers={**bearer(key), "X-Forwarded-For": CLIENT})
    assert _last_used_ip(client, session, okrs_a) == "127.0.0.1"


def test_anonymous_limit_is_per_real_client_behind_a_trusted_proxy(behind: Behind) -> None:
    client = behind("10.0.0.0/8", peer="10.1.2.3", anonymous="1/minute")
    first = [client.get(URL, headers={"X-Forwarded-For": CLIENT}).status_code for _ in range(2)]
    other = client.get(URL, headers={"X-Forwarded-For": "198.51.100.20"}).status_code
    assert first == [401, 429]
    assert other == 401  # another client behind the same proxy has its own quota


def test_anonymous_limit_ignores_forwarded_for_from_an_untrusted_peer(behind: Behind) -> None:
    client = behind("10.0.0.0/8", peer="198.51.100.9", anonymous="1/minute")
    statuses = [
        client.get(URL, headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(1, 4)
    ]
    assert statuses == [401, 429, 429]  # rotating the header does not buy a fresh quota


@pytest.mark.parametrize("value", ["10.0.0.1/8", "proxy.internal", "10.0.0.0/33", "*, 10.0.0.1"])
def test_trusted_proxies_setting_refuses_what_it_cannot_match(value: str) -> None:
    with pytest.raises(ValueError, match="OKR_TRUSTED_PROXIES"):
        Settings(trusted_proxies=value)


def test_trusted_proxies_setting_accepts_addresses_networks_and_star() -> None:
    settings = Settings(trusted_proxies=" 10.0.0.0/8, 192.0.2.10 ,2001:db8::/32")
    assert settings.trusted_proxy_list == ["10.0.0.0/8", "192.0.2.10", "2001:db8::/32"]
    assert Settings(trusted_proxies="*").trusted_proxy_list == ["*"]
    assert Settings().trusted_proxy_list == []
