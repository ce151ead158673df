"""Browser sessions apply to everything but SCIM, whose requests pass straight through."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from okr_api.app import SESSION_COOKIE, BrowserSessionMiddleware


async def _touch(request: Request) -> JSONResponse:
    has_session = "session" in request.scope
    if has_session:
        request.session["seen"] = True
    return JSONResponse({"session": has_session})


def _client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/scim/v2/Users", _touch, methods=["POST"]),
            Route("/scim/v2", _touch),
            Route("/scim/v2x", _touch),
            Route("/okrs", _touch),
        ]
    )
    app.add_middleware(BrowserSessionMiddleware, secret_key="k", session_cookie=SESSION_COOKIE)
    return TestClient(app)


def test_browser_routes_keep_their_session_cookie() -> None:
    response = _client().get("/okrs")
    assert response.json() == {"session": True}
    assert SESSION_COOKIE in response.headers.get("set-cookie", "")


def test_scim_requests_skip_sessions_and_never_get_a_cookie() -> None:
    client = _client()
    first = client.get("/okrs")  # the client now holds a session cookie
    assert SESSION_COOKIE in first.cookies
    for method, path in (("POST", "/scim/v2/Users"), ("GET", "/scim/v2")):
        response = client.request(method, path)
        assert response.json() == {"session": False}
        assert "set-cookie" not in response.headers


def test_only_the_scim_prefix_itself_is_exempt() -> None:
    response = _client().get("/scim/v2x")
    assert response.json() == {"session": True}
