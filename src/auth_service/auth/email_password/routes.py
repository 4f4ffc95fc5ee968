"""POST /sign-up/email, /sign-in/email, /change-password, /verify-password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from auth_service.auth.deps import AuthCall, SessionNeed, endpoint
from auth_service.auth.email_password.service import EmailPasswordService
from auth_service.auth.http import json_response
from auth_service.auth.queued_cookies import AuthRoute
from auth_service.auth.serializers import user_json
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.validation import Field

router = APIRouter(route_class=AuthRoute)

SIGN_UP = (
    Field("name"),
    Field("email", "email"),
    Field("password", min_length=1),
    Field("image", optional=True),
    Field("callbackURL", optional=True),
    Field("rememberMe", "boolean", optional=True),
)
SIGN_IN = (
    Field("email"),
    Field("password"),
    Field("callbackURL", optional=True),
    Field("rememberMe", "boolean", optional=True),
)
CHANGE_PASSWORD = (
    Field("newPassword"),
    Field("currentPassword"),
    Field("revokeOtherSessions", "boolean", optional=True),
)
VERIFY_PASSWORD = (Field("password"),)


def _service(call: AuthCall) -> EmailPasswordService:
    service: EmailPasswordService = call.request.app.state.email_password
    return service


@router.post("/sign-up/email")
async def sign_up_email(
    call: Annotated[
        AuthCall, Depends(endpoint(SIGN_UP, allow_form=True, body_shape="object_and_record"))
    ],
) -> Response:
    body = call.body
    remember_me = body.get("rememberMe", True)
    result = await _service(call).sign_up(
        call.db,
        call.request,
        name=body["name"],
        email=body["email"],
        password=body["password"],
        image=body.get("image"),
        remember_me=remember_me,
        callback_url=body.get("callbackURL"),
    )
    if result.session is None:  # e-mail verification required: no sign-in yet
        return json_response({"token": None, "user": user_json(result.user)})
    return json_response(
        {"token": result.session["token"], "user": user_json(result.user)},
        cookies=call.sessions.sign_in_cookies(result.session, call.cookie, remember_me=remember_me),
    )


@router.post("/sign-in/email")
async def sign_in_email(
    call: Annotated[AuthCall, Depends(endpoint(SIGN_IN, allow_form=True))],
) -> Response:
    body = call.body
    remember_me = body.get("rememberMe", True)
    result = await _service(call).sign_in(
        call.db,
        call.request,
        email=body["email"],
        password=body["password"],
        remember_me=remember_me,
        callback_url=body.get("callbackURL"),
    )
    assert result.session is not None
    callback_url = body.get("callbackURL")
    data: dict[str, object] = {"redirect": bool(callback_url), "token": result.session["token"]}
    if callback_url is not None:  # Better Auth echoes any given value, even ""
        data["url"] = callback_url
    data["user"] = user_json(result.user)
    return json_response(
        data,
        cookies=call.sessions.sign_in_cookies(result.session, call.cookie, remember_me=remember_me),
        headers={"location": callback_url} if callback_url else None,
    )


@router.post("/change-password")
async def change_password(
    call: Annotated[AuthCall, Depends(endpoint(CHANGE_PASSWORD, session=SessionNeed.REQUIRED))],
) -> Response:
    body = call.body
    result = await _service(call).change_password(
        call.db,
        call.request,
        user_id=call.session.user["id"],
        current_password=body["currentPassword"],
        new_password=body["newPassword"],
        revoke_other_sessions=body.get("revokeOtherSessions", False),
    )
    cookies = call.sessions.sign_in_cookies(result.session, call.cookie) if result.session else []
    token = result.session["token"] if result.session else None
    return json_response({"token": token, "user": user_json(result.user)}, cookies=cookies)


@router.post("/verify-password")
async def verify_password(
    call: Annotated[AuthCall, Depends(endpoint(VERIFY_PASSWORD, session=SessionNeed.REQUIRED))],
) -> Response:
    service = _service(call)
    service.check_password_length(call.body["password"], check_min=False)
    try:
        await service.check_current_password(
            call.db, call.session.user["id"], call.body["password"]
        )
    except APIError as exc:
        if exc.code == ErrorCode.CREDENTIAL_ACCOUNT_NOT_FOUND.name:
            raise APIError(400, ErrorCode.INVALID_PASSWORD) from exc
        raise
    return json_response({"status": True})
