"""Process and dependency probes: /, /health, /live, /ready."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from auth_service.auth.http import json_response
from auth_service.db.engine import Database

router = APIRouter()
log = logging.getLogger("auth_service.health")


@router.get("/")
async def root() -> Response:
    return PlainTextResponse("auth-service: Better Auth compatible authentication service")


@router.get("/health")
@router.get("/live")
async def health(request: Request) -> Response:
    """The process answers (liveness); the database is /ready's business."""
    return json_response({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> Response:
    if getattr(request.app.state, "draining", False):
        return json_response(
            {"status": "draining", "code": "SHUTTING_DOWN", "message": "Shutting down"},
            status=503,
        )
    database: Database = request.app.state.database
    try:
        await database.ping()
    except Exception as exc:  # any failure to answer means not ready
        log.warning("readiness check failed: %s", type(exc).__name__)
        return json_response(
            {
                "status": "unavailable",
                "code": "DATABASE_UNAVAILABLE",
                "message": "The database did not answer",
            },
            status=503,
        )
    return json_response({"status": "ready"})
