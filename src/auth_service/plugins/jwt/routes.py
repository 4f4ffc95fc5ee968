"""GET /token and GET /jwks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.deps import AuthCall, SessionNeed, endpoint
from auth_service.auth.http import json_response
from auth_service.auth.queued_cookies import AuthRoute
from auth_service.plugins.jwt.service import JwtService

router = APIRouter(route_class=AuthRoute)


async def jwt_service(request: Request) -> JwtService:
    service: JwtService = request.app.state.jwt
    return service


Jwt = Annotated[JwtService, Depends(jwt_service)]


@router.get("/token")
async def token(
    call: Annotated[AuthCall, Depends(endpoint(session=SessionNeed.REQUIRED))], jwt: Jwt
) -> Response:
    return json_response({"token": await jwt.token_for_user(call.session.user)})


@router.get("/jwks")
async def jwks(jwt: Jwt) -> Response:
    return Response(await jwt.jwks_json(), media_type="application/json")
