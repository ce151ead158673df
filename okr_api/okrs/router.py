"""/api/v1 routes for objectives, key results, check-ins and CSV export.

Every route needs a signed-in user of the tenant; the principal dependency binds the database
session to that tenant, so other tenants' ids answer 404 exactly like ids that do not exist.
Authentication runs before the CSRF check so an anonymous caller is told to sign in (401) rather
than refused for a token it cannot have yet (403). Reads need the viewer role, writes and exports
okr_editor or higher.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from okr_api.auth.csrf import csrf_protect
from okr_api.auth.dependencies import current_principal
from okr_api.okrs import check_ins, export, key_results, objectives

router = APIRouter(
    prefix="/api/v1", dependencies=[Depends(current_principal), Depends(csrf_protect)]
)
router.include_router(objectives.router)
router.include_router(key_results.router)
router.include_router(check_ins.router)
router.include_router(export.router)
