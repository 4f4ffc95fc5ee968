"""Helpers for the gateway tests: secrets, calls to the internal endpoints, forged JWTs.

JWTs are taken apart and forged with base64/json here (and PyJWT + cryptography for a foreign
key), independently of the service's code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from tests.support.auth_client import API, SignedIn, api_client
from tests.support.server import LiveServer

GATEWAY_SECRET = "gateway-secret-for-the-tests-0123456789-abcdef"
SERVICE_SECRET = "service-secret-for-the-tests-0123456789-abcdef"
GATEWAY_ENV = {"API_GATEWAY_SECRET": GATEWAY_SECRET, "INTERNAL_SERVICE_SECRET": SERVICE_SECRET}
DISABLED_ENV = {"API_GATEWAY_SECRET": "", "INTERNAL_SERVICE_SECRET": ""}

VALIDATE = "/api/internal/validate"
FORWARD_AUTH = "/api/internal/forward-auth"
INTERNAL_USER = "/api/internal/user"

GATEWAY = {"x-gateway-auth": GATEWAY_SECRET}
SERVICE = {"x-service-auth": SERVICE_SECRET}
INVALID = {"valid": False}


def gateway_server(server_factory: Callable[..., LiveServer], **env: str) -> LiveServer:
    """A server with both internal secrets set (plus `env`)."""
    return server_factory(env={**GATEWAY_ENV, **env})


@contextmanager
def no_tracebacks(server: LiveServer) -> Iterator[None]:
    """Whatever happens inside, the server logs no unhandled exception."""
    start = len(server.log())
    yield
    assert "Traceback" not in server.log()[start:]


def validate(
    http: httpx.Client,
    body: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    secret: str | None = GATEWAY_SECRET,
) -> httpx.Response:
    """POST /api/internal/validate as a gateway would."""
    sent = {"x-gateway-auth": secret} if secret is not None else {}
    sent.update(headers or {})
    if content is not None:
        return http.post(VALIDATE, content=content, headers=sent)
    if body is None:
        return http.post(VALIDATE, headers=sent)
    return http.post(VALIDATE, json=body, headers=sent)


def jwt_for(http: httpx.Client, user: SignedIn) -> str:
    """A JWT from GET /api/auth/token for the user's session."""
    response = http.get(f"{API}/token", headers={"cookie": user.cookie})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")

    def decode(part: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return data

    return decode(header), decode(payload), signature


def client_for(server: LiveServer) -> httpx.Client:
    return api_client(server)
