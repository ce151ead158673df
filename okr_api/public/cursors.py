"""Opaque, tamper-evident pagination cursors.

A cursor holds the position after the last row of a page in a stable order (the sort value and
the row id, the tie-breaker), the list it belongs to (resource, tenant, sort and a hash of the
filters) and an HMAC over all of it. A changed byte, a cursor from another tenant, list, sort or
filter set, or from a server with another secret answers 400.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from okr_core.errors import OkrError

SIGNATURE_BYTES = 16


class InvalidCursor(OkrError):
    status = 400
    code = "invalid_cursor"


@dataclass(frozen=True, slots=True)
class Position:
    value: str  # the sort column's value, as text (ISO 8601 for times)
    row_id: uuid.UUID


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def filters_fingerprint(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CursorContext:
    """Which list a cursor belongs to; a cursor is valid only for the same context."""

    resource: str
    tenant_id: uuid.UUID
    sort: str
    filters: str  # filters_fingerprint(...)


class CursorSigner:
    """Signs with ``key``; also accepts cursors signed with ``previous_keys`` (derived from
    ``OKR_SECRET_KEY_PREVIOUS``), so a client paging through a list during a secret-key
    rotation is not told its cursor was tampered with."""

    def __init__(self, key: bytes, previous_keys: Sequence[bytes] = ()) -> None:
        self._key = key
        self._previous_keys = tuple(previous_keys)

    def _sign(self, payload: bytes, key: bytes | None = None) -> bytes:
        return hmac.new(key or self._key, payload, hashlib.sha256).digest()[:SIGNATURE_BYTES]

    def _verified(self, payload: bytes, signature: bytes) -> bool:
        return any(
            hmac.compare_digest(self._sign(payload, key), signature)
            for key in (self._key, *self._previous_keys)
        )

    def encode(self, context: CursorContext, position: Position) -> str:
        payload = json.dumps(
            {
                "r": context.resource,
                "t": context.tenant_id.hex,
                "s": context.sort,
                "f": context.filters,
                "v": position.value,
                "i": position.row_id.hex,
            },
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def decode(self, cursor: str, context: CursorContext) -> Position:
        try:
            payload_text, signature_text = cursor.split(".", 1)
            payload = _unb64(payload_text)
            signature = _unb64(signature_text)
        except (ValueError, binascii.Error):
            raise _tampered() from None
        if not self._verified(payload, signature):
            raise _tampered()
        try:
            data = json.loads(payload)
            position = Position(value=str(data["v"]), row_id=uuid.UUID(hex=data["i"]))
            belongs = (
                data["r"] == context.resource
                and data["t"] == context.tenant_id.hex
                and data["s"] == context.sort
                and data["f"] == context.filters
            )
        except (ValueError, KeyError, TypeError):
            raise _tampered() from None
        if not belongs:
            raise InvalidCursor(
                "this cursor belongs to another list (a different endpoint, sort, filters or "
                "key); keep the filters and sort of the first page, or start again without a "
                "cursor",
                details={"field": "cursor"},
            )
        return position


def _tampered() -> InvalidCursor:
    return InvalidCursor(
        "the cursor is not valid (it was changed, cut short or made elsewhere); use the "
        "next_cursor value of a page unchanged",
        details={"field": "cursor"},
    )
