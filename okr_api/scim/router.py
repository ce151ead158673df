"""SCIM 2.0 service provider under /scim/v2 (SCIM bearer-token authenticated)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/scim/v2")
