"""POST /send-verification-email and GET /verify-email."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from auth_service.auth.deps import AuthCall, endpoint
from auth_service.auth.http import json_response
from auth_service.auth.query_params import query_strings
from auth_service.auth.queued_cookies import AuthRoute, queue_cookies
from auth_service.auth.redirects import append_query, redirect_response
from auth_service.auth.verification.service import EmailVerificationService, VerifyFailure
from auth_service.core.errors import APIError
from auth_service.core.origins import check_query_callback_url
from auth_service.core.validation import Field

router = APIRouter(route_class=AuthRoute)

SEND_VERIFICATION_EMAIL = (Field("email", "email"), Field("callbackURL", optional=True))


def _service(call: AuthCall) -> EmailVerificationService:
    service: EmailVerificationService = call.request.app.state.email_verification
    return service


@router.post("/send-verification-email")
async def send_verification_email(
    call: Annotated[AuthCall, Depends(endpoint(SEND_VERIFICATION_EMAIL))],
) -> Response:
    found = await call.sessions.lookup(call.db, call.cookie)
    queue_cookies(call.request, found.found.cookies if found.found else found.clear_cookies)
    await _service(call).send_on_request(
        call.db,
        found.found,
        email=call.body["email"],
        callback_url=call.body.get("callbackURL"),
    )
    return json_response({"status": True})


@router.get("/verify-email")
async def verify_email(call: Annotated[AuthCall, Depends(endpoint())]) -> Response:
    query = query_strings(call.request.query_params, required=("token",), optional=("callbackURL",))
    check_query_callback_url(call.ctx.trusted_origins, call.request.query_params)
    callback_url = query.get("callbackURL") or None
    try:
        verified = await _service(call).verify(
            call.db, call.request, call.cookie, token=query["token"], callback_url=callback_url
        )
    except VerifyFailure as failure:
        if callback_url:
            return redirect_response(append_query(callback_url, "error", failure.code.name))
        raise APIError(401, failure.code) from failure
    if callback_url:
        return redirect_response(callback_url, verified.cookies)
    return json_response(verified.body, cookies=verified.cookies)
