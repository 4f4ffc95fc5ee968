"""POST /delete-user and GET /delete-user/callback (both 404 unless DELETE_USER_ENABLED)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from auth_service.auth.delete_user.service import USER_DELETED, DeleteUserService
from auth_service.auth.deps import AuthCall, SessionNeed, endpoint
from auth_service.auth.http import clear_session_cookie_lines, json_response
from auth_service.auth.query_params import query_strings
from auth_service.auth.queued_cookies import AuthRoute, queue_cookies
from auth_service.auth.redirects import redirect_response
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.origins import check_query_callback_url
from auth_service.core.validation import Field

router = APIRouter(route_class=AuthRoute)

DELETE_USER = (
    Field("callbackURL", optional=True),
    Field("password", optional=True),
    Field("token", optional=True),
)


def _service(call: AuthCall) -> DeleteUserService:
    service: DeleteUserService = call.request.app.state.delete_user
    return service


@router.post("/delete-user")
async def delete_user(
    call: Annotated[
        AuthCall,
        Depends(endpoint(DELETE_USER, session=SessionNeed.REQUIRED, body_optional=True)),
    ],
) -> Response:
    message = await _service(call).delete_user(
        call.db,
        call.session,
        password=call.body.get("password"),
        token=call.body.get("token"),
        callback_url=call.body.get("callbackURL"),
    )
    cookies = (
        clear_session_cookie_lines(call.ctx, call.cookie.session_data_names)
        if message == USER_DELETED
        else []
    )
    return json_response({"success": True, "message": message}, cookies=cookies)


@router.get("/delete-user/callback")
async def delete_user_callback(call: Annotated[AuthCall, Depends(endpoint())]) -> Response:
    query = query_strings(call.request.query_params, required=("token",), optional=("callbackURL",))
    check_query_callback_url(call.ctx.trusted_origins, call.request.query_params)
    service = _service(call)
    if not service.enabled:
        raise APIError(404, ErrorCode.NOT_FOUND)
    found = await call.sessions.lookup(call.db, call.cookie)
    if found.found is None:
        queue_cookies(call.request, found.clear_cookies)
        raise APIError(404, ErrorCode.FAILED_TO_GET_USER_INFO)
    queue_cookies(call.request, found.found.cookies)
    await service.delete_with_token(call.db, found.found.user["id"], query["token"])
    cookies = clear_session_cookie_lines(call.ctx, call.cookie.session_data_names)
    if query.get("callbackURL"):
        return redirect_response(query["callbackURL"], cookies)
    return json_response({"success": True, "message": USER_DELETED}, cookies=cookies)
