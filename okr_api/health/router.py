"""Liveness and readiness for load balancers and the demo's smoke test."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from okr_api.database import SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health_live")
def healthz() -> dict[str, str]:
    """The process is up (no dependencies checked)."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="health_ready", response_model=None)
def readyz(session: SessionDep) -> dict[str, str] | JSONResponse:
    """The process can serve requests: the database answers."""
    try:
        session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
    return {"status": "ready", "database": "ok"}
