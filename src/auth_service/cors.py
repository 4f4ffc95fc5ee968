"""CORS for browser apps on other origins (spec §8.1: the framework's job, not Better Auth's).

`install_cors(app, settings)` adds Starlette's CORSMiddleware for the exact CORS_ORIGINS, with
credentials, and with two refinements:

- a request from an origin that is not allowed gets no CORS header at all (only
  `Vary: Origin`); Starlette would still send Allow-Credentials and Expose-Headers;
- `Access-Control-Expose-Headers` is merged with what the response already carries (the
  bearer and JWT plugins add their own), into ONE header without duplicates.

Preflights (OPTIONS with Origin and Access-Control-Request-Method) are answered here for every
path, /api/auth/* included, where Better Auth itself would 404. Without CORS_ORIGINS nothing is
installed: no CORS headers, and OPTIONS is a 404 as in Better Auth.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import PlainTextResponse, Response
from starlette.types import Message, Send

from auth_service.settings import ConfigError, Settings

ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
EXPOSE_HEADERS = ("set-auth-token", "set-auth-jwt")
PREFLIGHT_MAX_AGE = 600


def merge_header_list(headers: MutableHeaders, name: str, values: tuple[str, ...]) -> None:
    """Set `name` to one comma-separated header: existing values first, then `values`,
    each once (compared case-insensitively)."""
    merged: list[str] = []
    seen: set[str] = set()
    for line in [*headers.getlist(name), *values]:
        for item in line.split(","):
            token = item.strip()
            if token and token.lower() not in seen:
                seen.add(token.lower())
                merged.append(token)
    del headers[name]
    if merged:
        headers.append(name, ", ".join(merged))


def _add_vary_origin(headers: MutableHeaders) -> None:
    merge_header_list(headers, "vary", ("Origin",))


class ExactOriginCORSMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware for a list of exact origins with credentials."""

    def preflight_response(self, request_headers: Headers) -> Response:
        if not self.is_allowed_origin(origin=request_headers["origin"]):
            return PlainTextResponse(
                "Disallowed CORS origin",
                status_code=400,
                headers={"Vary": self.preflight_headers["Vary"]},
            )
        return super().preflight_response(request_headers)

    async def send(self, message: Message, send: Send, request_headers: Headers) -> None:
        if message["type"] != "http.response.start":
            await send(message)
            return
        origin = request_headers.get("origin")
        if origin is None:
            await send(message)
            return
        message.setdefault("headers", [])
        headers = MutableHeaders(scope=message)
        if self.is_allowed_origin(origin=origin):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            merge_header_list(headers, "access-control-expose-headers", EXPOSE_HEADERS)
        _add_vary_origin(headers)
        await send(message)


def install_cors(app: Starlette, settings: Settings) -> None:
    """Answer preflights and add CORS headers for CORS_ORIGINS; call it last (outermost),
    so that every response, a 429 from the rate limiter included, carries them."""
    origins = [origin.rstrip("/") for origin in settings.cors_origins]
    if not origins:
        return
    if "*" in origins:
        raise ConfigError(
            "CORS_ORIGINS cannot be '*': cookies are sent cross-origin only to origins listed "
            "exactly, e.g. CORS_ORIGINS=https://app.example.com,https://admin.example.com"
        )
    app.add_middleware(
        ExactOriginCORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=ALLOW_METHODS,
        allow_headers=["*"],
        expose_headers=EXPOSE_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )
