"""POST /change-email."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from auth_service.auth.change_email.service import ChangeEmailService
from auth_service.auth.deps import AuthCall, SessionNeed, endpoint
from auth_service.auth.http import json_response
from auth_service.auth.queued_cookies import AuthRoute
from auth_service.core.validation import Field

router = APIRouter(route_class=AuthRoute)

CHANGE_EMAIL = (Field("newEmail", "email"), Field("callbackURL", optional=True))


@router.post("/change-email")
async def change_email(
    call: Annotated[AuthCall, Depends(endpoint(CHANGE_EMAIL, session=SessionNeed.REQUIRED))],
) -> Response:
    service: ChangeEmailService = call.request.app.state.change_email
    reissue = await service.change_email(
        call.db,
        call.session,
        new_email=call.body["newEmail"],
        callback_url=call.body.get("callbackURL"),
    )
    cookies = call.sessions.sign_in_cookies(call.session.session, call.cookie) if reissue else []
    return json_response({"status": True}, cookies=cookies)
