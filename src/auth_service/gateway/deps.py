"""Typed dependencies: a route's signature shows which caller it admits and what it reads.

All are `async def`: FastAPI runs a plain `def` dependency in a worker thread, which costs more
than the whole JWT check on this hot path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import orjson
from fastapi import Depends
from starlette.requests import Request

from auth_service.core.errors import APIError, ErrorCode
from auth_service.gateway.callers import CallerCheck, SharedSecret
from auth_service.gateway.credentials import Credential, MalformedRequest
from auth_service.gateway.service import GatewayService, SelectorKind, UserSelector

MAX_VALIDATE_BODY = 64 * 1024
SELECTORS: tuple[SelectorKind, ...] = ("id", "email", "token")


async def get_gateway(request: Request) -> GatewayService:
    service: GatewayService = request.app.state.gateway
    return service


Gateway = Annotated[GatewayService, Depends(get_gateway)]


@dataclass(frozen=True, slots=True)
class InternalCaller:
    """A caller that proved itself with a shared secret."""

    kind: Literal["gateway", "service"]


def _admit(secret: SharedSecret, request: Request, *, rejected: str, disabled: str) -> None:
    outcome = secret.check(request.headers.getlist(secret.header))
    if outcome is CallerCheck.DISABLED:
        raise APIError(503, disabled, f"{secret.setting} is not set: this endpoint is disabled")
    if outcome is CallerCheck.REJECTED:
        raise APIError(401, rejected, f"Missing or invalid {secret.header} header")


def admit_gateway(request: Request, gateway: GatewayService) -> InternalCaller:
    _admit(
        gateway.gateway_secret,
        request,
        rejected="INVALID_GATEWAY_CREDENTIALS",
        disabled="GATEWAY_AUTH_DISABLED",
    )
    return InternalCaller("gateway")


async def require_service(request: Request, gateway: Gateway) -> InternalCaller:
    _admit(
        gateway.service_secret,
        request,
        rejected="INVALID_SERVICE_CREDENTIALS",
        disabled="SERVICE_AUTH_DISABLED",
    )
    return InternalCaller("service")


ServiceCaller = Annotated[InternalCaller, Depends(require_service)]
"""An internal service, proven by `x-service-auth` = INTERNAL_SERVICE_SECRET."""


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise APIError(413, ErrorCode.PAYLOAD_TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise APIError(413, ErrorCode.PAYLOAD_TOO_LARGE)
    return bytes(body)


async def read_presented_credential(request: Request, gateway: GatewayService) -> Credential | None:
    """The credential of a validate call: from the JSON body, else from forwarded headers."""
    raw = await _read_body(request, MAX_VALIDATE_BODY)
    credential: Credential | None = None
    if raw.strip():
        try:
            credential = gateway.credentials.from_body(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise APIError(
                400, "INVALID_BODY", 'The body must be JSON such as {"token": "..."}'
            ) from exc
        except MalformedRequest as exc:
            raise APIError(400, "INVALID_BODY", f"Invalid body: {exc}") from exc
    if credential is None:
        credential = gateway.credentials.from_headers(request.headers)
    return credential


async def user_selector(request: Request, _: ServiceCaller) -> UserSelector:
    given = [(key, value) for key, value in request.query_params.multi_items() if key in SELECTORS]
    if len(given) != 1 or not given[0][1]:
        raise APIError(
            400,
            "INVALID_USER_SELECTOR",
            "Give exactly one of the query parameters id, email or token",
        )
    key, value = given[0]
    kind = next(selector for selector in SELECTORS if selector == key)
    return UserSelector(kind, value)


SelectedUser = Annotated[UserSelector, Depends(user_selector)]
