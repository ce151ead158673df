"""CSRF protection for cookie-authenticated writes.

A random token lives in the signed session. Browser forms send it as the ``csrf_token`` field,
scripts (htmx, fetch) as the ``X-CSRF-Token`` header; unsafe requests without a match get 403.
"""

from __future__ import annotations

import secrets

from fastapi import Request

from okr_core.errors import PermissionDenied

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_KEY = "csrf"
HEADER = "X-CSRF-Token"
FORM_FIELD = "csrf_token"


def csrf_token(request: Request) -> str:
    """The session's token, created on first use."""
    token = request.session.get(SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return token


async def csrf_protect(request: Request) -> None:
    """Dependency: refuse unsafe requests that do not prove they come from our pages."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(SESSION_KEY)
    sent = request.headers.get(HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(FORM_FIELD)
        sent = value if isinstance(value, str) else None
    if not isinstance(expected, str) or sent is None or not secrets.compare_digest(expected, sent):
        raise PermissionDenied(
            f"missing or wrong CSRF token: send the {HEADER} header (or the {FORM_FIELD} form "
            "field) with the token from GET /api/v1/session"
        )
