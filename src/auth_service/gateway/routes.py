"""POST /api/internal/validate, /api/internal/forward-auth[/...], GET /api/internal/user."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.deps import Db
from auth_service.auth.http import json_response
from auth_service.auth.serializers import session_json, user_json
from auth_service.core.clock import iso_js
from auth_service.core.errors import APIError, ErrorCode
from auth_service.db.engine import RequestDb
from auth_service.gateway.credentials import Credential
from auth_service.gateway.deps import (
    Gateway,
    SelectedUser,
    ServiceCaller,
    admit_gateway,
    read_presented_credential,
)
from auth_service.gateway.service import GatewayService, Identity, JwtIdentity

PREFIX = "/api/internal"
NO_STORE = {"cache-control": "no-store"}
# Visible ASCII except "%": anything else in a header value is percent-encoded, so a value from
# the database can never break or inject a header line.
_HEADER_SAFE = "".join(chr(code) for code in range(0x21, 0x7F) if chr(code) != "%")


@asynccontextmanager
async def _start(app: FastAPI) -> AsyncIterator[None]:
    state = app.state
    gateway = GatewayService(state.auth, state.sessions, state.jwt)
    gateway.warn_if_disabled()
    state.gateway = gateway
    yield


router = APIRouter(prefix=PREFIX, lifespan=_start)


class AnyMethodRoute(APIRoute):
    """A route answering every HTTP method: Envoy's ext_authz keeps the original request's."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.methods: set[str] = set()  # empty: Starlette matches any method


def _cache_control(gateway: GatewayService, identity: Identity) -> str:
    return f"private, max-age={gateway.cache_seconds(identity)}"


def _validate_body(identity: Identity) -> dict[str, Any]:
    if isinstance(identity, JwtIdentity):
        return {
            "valid": True,
            "type": "jwt",
            "claims": identity.claims,
            "expiresAt": iso_js(identity.expires_at),
        }
    session = session_json(identity.session)
    del session["token"]  # the raw token stays between the user and this service
    return {
        "valid": True,
        "type": "session",
        "user": user_json(identity.user),
        "session": session,
        "expiresAt": session["expiresAt"],
    }


async def _identify(
    request: Request, gateway: GatewayService, credential: Credential | None
) -> Identity | None:
    async with RequestDb(request.app.state.database) as db:
        return await gateway.identify(db, credential)


async def validate_endpoint(request: Request) -> Response:
    """POST /validate as a plain endpoint (the hot path serves it; the route delegates)."""
    gateway: GatewayService = request.app.state.gateway
    admit_gateway(request, gateway)
    credential = await read_presented_credential(request, gateway)
    identity = await _identify(request, gateway, credential)
    if identity is None:
        return json_response({"valid": False}, headers=NO_STORE)
    return json_response(
        _validate_body(identity),
        headers={"cache-control": _cache_control(gateway, identity)},
    )


@router.post("/validate")
async def validate(request: Request) -> Response:
    return await validate_endpoint(request)


def header_value(value: str) -> str:
    return quote(value, safe=_HEADER_SAFE)


async def forward_auth_endpoint(request: Request) -> Response:
    """200 + identity headers, or 401; empty bodies. Every identity header is always sent
    (empty when unknown), so a proxy that copies them cannot pass a client's own through."""
    gateway: GatewayService = request.app.state.gateway
    admit_gateway(request, gateway)
    credential = gateway.credentials.from_headers(request.headers)
    identity = await _identify(request, gateway, credential)
    if identity is None:
        return Response(
            status_code=401,
            headers={**NO_STORE, "www-authenticate": 'Bearer realm="auth-service"'},
        )
    return Response(
        status_code=200,
        headers={
            gateway.user_id_header: header_value(identity.user_id),
            gateway.user_email_header: header_value(identity.email),
            gateway.session_id_header: header_value(identity.session_id),
            "cache-control": _cache_control(gateway, identity),
            "vary": "Authorization, Cookie",
        },
    )


async def forward_auth(request: Request) -> Response:
    return await forward_auth_endpoint(request)


for _path, _operation in (
    ("/forward-auth", "forward_auth"),
    ("/forward-auth/{original_path:path}", "forward_auth_path"),
):
    router.add_api_route(
        _path,
        forward_auth,
        methods=["GET"],  # widened to every method by AnyMethodRoute
        operation_id=_operation,
        route_class_override=AnyMethodRoute,
    )


@router.get("/user")
async def internal_user(
    _: ServiceCaller, selector: SelectedUser, gateway: Gateway, db: Db
) -> Response:
    user = await gateway.find_user(db, selector)
    if user is None:
        raise APIError(404, ErrorCode.USER_NOT_FOUND)
    return json_response({"user": user_json(user)}, headers=NO_STORE)
