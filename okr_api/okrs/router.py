"""/api/v1 routes for objectives, key results, check-ins and CSV export."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from okr_api.auth.csrf import csrf_protect

router = APIRouter(prefix="/api/v1", dependencies=[Depends(csrf_protect)])
