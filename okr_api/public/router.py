"""Versioned public read API under /api/v1/public (API-key authenticated)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/public")
