"""The tenant's audit trail for tenant admins under /api/v1/audit-events."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from okr_api.auth.csrf import csrf_protect

router = APIRouter(prefix="/api/v1/audit-events", dependencies=[Depends(csrf_protect)])
