"""The current user and session, for apps that want one call instead of get-session."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from auth_service.auth.deps import CurrentSession
from auth_service.auth.http import json_response
from auth_service.auth.serializers import user_json
from auth_service.core.clock import iso_js

base_path = "/api/me"
router = APIRouter()


@router.get("")
async def me(current: CurrentSession) -> Response:
    """The signed-in user (cookie or bearer), 401 without a live session."""
    session = current.session
    return json_response(
        {
            "user": user_json(current.user),
            "session": {"id": session["id"], "expiresAt": iso_js(session["expires_at"])},
        }
    )
