"""POST /update-user."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from auth_service.auth.deps import AuthCall, SessionNeed, endpoint
from auth_service.auth.http import json_response
from auth_service.auth.queued_cookies import AuthRoute
from auth_service.auth.users.repository import UserRepository
from auth_service.core.clock import utcnow
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.validation import Field, is_js_truthy

router = APIRouter(route_class=AuthRoute)

UPDATE_USER = (
    Field("name", optional=True, allow_nul=False),
    Field("image", optional=True, nullable=True, allow_nul=False),
)


@router.post("/update-user")
async def update_user(
    call: Annotated[
        AuthCall,
        Depends(endpoint(UPDATE_USER, session=SessionNeed.REQUIRED, body_shape="record")),
    ],
) -> Response:
    if isinstance(call.raw, dict) and is_js_truthy(call.raw.get("email")):
        raise APIError(400, ErrorCode.EMAIL_CAN_NOT_BE_UPDATED)
    changes: dict[str, Any] = {key: call.body[key] for key in ("name", "image") if key in call.body}
    if not changes:
        raise APIError(400, None, "No fields to update")
    changes["updated_at"] = utcnow()
    repository: UserRepository = call.request.app.state.users
    await repository.update_user(await call.db.conn(), call.session.user["id"], changes)
    cookies = call.sessions.sign_in_cookies(call.session.session, call.cookie)
    return json_response({"status": True}, cookies=cookies)
