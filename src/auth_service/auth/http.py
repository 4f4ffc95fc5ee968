"""Building Better Auth responses: JSON bodies, cookies, client addresses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.context import AuthContext
from auth_service.core.cookies import (
    clear_cookie_line,
    encode_cookie_value,
    set_cookie_line,
    sign_value,
)


def json_response(
    data: Any,
    *,
    status: int = 200,
    cookies: Iterable[str] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    response = Response(
        content=orjson.dumps(data),
        status_code=status,
        media_type="application/json",
        headers=dict(headers) if headers else None,
    )
    for line in cookies:
        response.raw_headers.append((b"set-cookie", line.encode("latin-1")))
    return response


def session_cookie_lines(ctx: AuthContext, token: str, *, remember_me: bool) -> list[str]:
    """The cookies a sign-in sets: the signed token, plus `dont_remember` when asked."""
    max_age = ctx.settings.session_expires_in if remember_me else None
    lines = [
        set_cookie_line(
            ctx.cookies.session_token,
            encode_cookie_value(sign_value(ctx.secret, token)),
            max_age=max_age,
            secure=ctx.secure_cookies,
        )
    ]
    if not remember_me:
        lines.append(
            set_cookie_line(
                ctx.cookies.dont_remember,
                encode_cookie_value(sign_value(ctx.secret, "true")),
                max_age=None,
                secure=ctx.secure_cookies,
            )
        )
    return lines


def clear_session_cookie_lines(ctx: AuthContext) -> list[str]:
    names = ctx.cookies
    return [
        clear_cookie_line(name, secure=ctx.secure_cookies)
        for name in (names.session_token, names.session_data, names.dont_remember)
    ]


def client_ip(request: Request) -> str:
    """The address Better Auth records: a single valid `X-Forwarded-For` entry, else ""."""
    forwarded = request.headers.get("x-forwarded-for")
    if not forwarded or "," in forwarded:
        return ""
    try:
        address = ipaddress.ip_address(forwarded.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        network = ipaddress.IPv6Network((address, 64), strict=False)
        return network.network_address.exploded
    return str(address)
