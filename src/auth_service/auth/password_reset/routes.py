"""POST /request-password-reset (and its old name /forget-password), GET /reset-password/:token,
POST /reset-password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from auth_service.auth.deps import AuthCall, endpoint
from auth_service.auth.http import json_response
from auth_service.auth.mail.links import api_url
from auth_service.auth.password_reset.service import RESET_REQUESTED, PasswordResetService
from auth_service.auth.query_params import query_strings
from auth_service.auth.queued_cookies import AuthRoute
from auth_service.auth.redirects import redirect_response, resolve_with_param
from auth_service.core.origins import check_query_callback_url
from auth_service.core.validation import Field

router = APIRouter(route_class=AuthRoute)

REQUEST_PASSWORD_RESET = (Field("email", "email"), Field("redirectTo", optional=True))
RESET_PASSWORD = (Field("newPassword"), Field("token", optional=True))


def _service(call: AuthCall) -> PasswordResetService:
    service: PasswordResetService = call.request.app.state.password_reset
    return service


@router.post("/request-password-reset")
async def request_password_reset(
    call: Annotated[AuthCall, Depends(endpoint(REQUEST_PASSWORD_RESET))],
) -> Response:
    await _service(call).request_reset(
        call.db, email=call.body["email"], redirect_to=call.body.get("redirectTo")
    )
    return json_response(RESET_REQUESTED)


# Better Auth 1.7 removed this name; older clients still call it (spec §4: an alias is allowed).
router.add_api_route("/forget-password", request_password_reset, methods=["POST"])


@router.get("/reset-password/{token}")
async def reset_password_callback(
    token: str, call: Annotated[AuthCall, Depends(endpoint())]
) -> Response:
    query = query_strings(call.request.query_params, required=("callbackURL",))
    check_query_callback_url(call.ctx.trusted_origins, call.request.query_params)
    callback_url = query["callbackURL"]
    base = api_url(call.ctx.settings, "")
    if callback_url and await _service(call).token_is_live(call.db, token):
        return redirect_response(resolve_with_param(callback_url, base, "token", token))
    if not callback_url:  # Better Auth falls back to its error page
        callback_url = api_url(call.ctx.settings, "/error")
    return redirect_response(resolve_with_param(callback_url, base, "error", "INVALID_TOKEN"))


@router.post("/reset-password")
async def reset_password(call: Annotated[AuthCall, Depends(endpoint(RESET_PASSWORD))]) -> Response:
    token = call.body.get("token") or call.request.query_params.get("token")
    await _service(call).reset(call.db, token=token, new_password=call.body["newPassword"])
    return json_response({"status": True})
