"""get-session, list-sessions, the revoke endpoints and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.context import AuthContext
from auth_service.auth.deps import (
    AuthCall,
    Ctx,
    SessionNeed,
    endpoint,
    refresh_disabled,
    request_origin,
)
from auth_service.auth.http import (
    clear_session_cookie_lines,
    expire_cookie_lines,
    json_response,
)
from auth_service.auth.queued_cookies import AuthRoute
from auth_service.auth.serializers import session_json, user_json
from auth_service.auth.sessions.service import SessionService, read_cookie_session
from auth_service.core.clock import utcnow
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.origins import check_request_origin
from auth_service.core.validation import Field

router = APIRouter(route_class=AuthRoute)

NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
SIGN_OUT = (
    Field("callbackURL", optional=True),
    Field("disableRedirect", "boolean", optional=True),
)
REVOKE_SESSION = (Field("token"),)


async def get_session_endpoint(request: Request) -> Response:
    """GET /get-session as a plain endpoint: the hot path serves it without FastAPI's
    dependency machinery (see auth_service.fastpath); the route below delegates to it."""
    state = request.app.state
    ctx: AuthContext = state.auth
    sessions: SessionService = state.sessions
    cookie = read_cookie_session(ctx, request)
    # The cookie cache is off: a cache cookie left from when it was on is expired.
    stale_cache = (
        expire_cookie_lines(ctx, cookie.session_data_names) if cookie.stray_session_data else []
    )
    if cookie.token is None:
        return json_response(None, headers=NO_STORE, cookies=stale_cache)
    found = await sessions.lookup_on_own_connection(cookie, refresh=not refresh_disabled(request))
    if found.found is None:  # the clearing lines expire the cache cookies as well
        return json_response(None, headers=NO_STORE, cookies=found.clear_cookies)
    resolved = found.found
    headers = dict(NO_STORE)
    for hook in state.session_response_hooks:
        headers.update(await hook(resolved))
    return json_response(
        {"session": session_json(resolved.session), "user": user_json(resolved.user)},
        headers=headers,
        cookies=[*stale_cache, *resolved.cookies],
    )


@router.get("/get-session")
async def get_session(request: Request) -> Response:
    return await get_session_endpoint(request)


@router.post("/get-session")
async def get_session_post(request: Request, ctx: Ctx) -> Response:
    # Better Auth parses no body here, but its origin check still guards a cookie-bearing POST.
    if request.headers.get("cookie"):
        check_request_origin(ctx.trusted_origins, request.headers, request_origin(request))
    error = APIError(405, ErrorCode.METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED)
    return json_response(error.body(), status=error.status, headers=NO_STORE)


@router.get("/list-sessions")
async def list_sessions(
    call: Annotated[AuthCall, Depends(endpoint(session=SessionNeed.FRESH))],
) -> Response:
    rows = await call.sessions.repository.list_active(
        await call.db.conn(), call.session.user["id"], utcnow()
    )
    return json_response([session_json(row) for row in rows])


@router.post("/revoke-session")
async def revoke_session(
    call: Annotated[AuthCall, Depends(endpoint(REVOKE_SESSION, session=SessionNeed.REQUIRED))],
) -> Response:
    token = call.body["token"]
    await call.sessions.repository.delete_user_session_by_token(
        await call.db.conn(), call.session.user["id"], token
    )
    cookies = []
    if token == call.session.session["token"]:
        cookies = clear_session_cookie_lines(call.ctx, call.cookie.session_data_names)
    return json_response({"status": True}, cookies=cookies)


@router.post("/revoke-sessions")
async def revoke_sessions(
    call: Annotated[AuthCall, Depends(endpoint(session=SessionNeed.REQUIRED))],
) -> Response:
    await call.sessions.repository.delete_all_for_user(
        await call.db.conn(), call.session.user["id"]
    )
    cookies = clear_session_cookie_lines(call.ctx, call.cookie.session_data_names)
    return json_response({"status": True}, cookies=cookies)


@router.post("/revoke-other-sessions")
async def revoke_other_sessions(
    call: Annotated[AuthCall, Depends(endpoint(session=SessionNeed.REQUIRED))],
) -> Response:
    await call.sessions.repository.delete_others_for_user(
        await call.db.conn(), call.session.user["id"], call.session.session["token"]
    )
    return json_response({"status": True})


@router.post("/sign-out")
async def sign_out(
    call: Annotated[AuthCall, Depends(endpoint(SIGN_OUT, body_optional=True))],
) -> Response:
    if call.cookie.token is not None:
        await call.sessions.repository.delete_by_token(await call.db.conn(), call.cookie.token)
    cookies = clear_session_cookie_lines(call.ctx, call.cookie.session_data_names)
    return json_response({"success": True}, cookies=cookies)
