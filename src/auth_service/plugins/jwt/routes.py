"""GET /token and GET /jwks."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.context import AuthContext
from auth_service.auth.deps import refresh_disabled
from auth_service.auth.http import json_response
from auth_service.auth.sessions.service import SessionService, read_cookie_session
from auth_service.core.errors import APIError, ErrorCode
from auth_service.plugins.jwt.service import JwtService

router = APIRouter()


async def token_endpoint(request: Request) -> Response:
    """GET /token as a plain endpoint (the hot path serves it; the route delegates). As
    Better Auth's session middleware, a session due for refresh is refreshed and its cookie
    goes out with the answer; without a session, 401 and the clearing cookies."""
    state = request.app.state
    ctx: AuthContext = state.auth
    sessions: SessionService = state.sessions
    jwt: JwtService = state.jwt
    cookie = read_cookie_session(ctx, request)
    found = await sessions.lookup_on_own_connection(cookie, refresh=not refresh_disabled(request))
    if found.found is None:
        raise APIError(401, ErrorCode.UNAUTHORIZED, cookies=found.clear_cookies)
    token = await jwt.reusable_token(found.found.user)
    return json_response({"token": token}, cookies=found.found.cookies)


async def jwks_endpoint(request: Request) -> Response:
    jwt: JwtService = request.app.state.jwt
    return Response(await jwt.jwks_json(), media_type="application/json")


@router.get("/token")
async def token(request: Request) -> Response:
    return await token_endpoint(request)


@router.get("/jwks")
async def jwks(request: Request) -> Response:
    return await jwks_endpoint(request)
