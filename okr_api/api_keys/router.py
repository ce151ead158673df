"""API key management for tenant admins under /api/v1/api-keys."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from okr_api.auth.csrf import csrf_protect

router = APIRouter(prefix="/api/v1/api-keys", dependencies=[Depends(csrf_protect)])
