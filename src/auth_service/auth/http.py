"""Building Better Auth responses: JSON bodies, cookies, client addresses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from auth_service.auth.context import AuthContext
from auth_service.core.client_ip import forwarded_client_ip
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
    add_cookies(response, cookies)
    return response


def add_cookies(response: Response, lines: Iterable[str]) -> None:
    """Append ready-made Set-Cookie lines (several may share a name, so not via `headers`)."""
    for line in lines:
        response.raw_headers.append((b"set-cookie", line.encode("latin-1")))


def session_cookie_lines(
    ctx: AuthContext, token: str, *, remember_me: bool, expire_dont_remember: bool = False
) -> list[str]:
    """The cookies a sign-in sets: the signed token, plus `dont_remember` when asked.

    `expire_dont_remember` also expires a `dont_remember` cookie the browser still holds from an
    earlier rememberMe:false sign-in.
    """
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
    elif expire_dont_remember:
        lines.append(clear_cookie_line(ctx.cookies.dont_remember, secure=ctx.secure_cookies))
    return lines


def clear_session_cookie_lines(
    ctx: AuthContext, session_data_names: Iterable[str] = ()
) -> list[str]:
    """Better Auth's deleteSessionCookie: the token, the cache (and every cache cookie or chunk
    the request carried, the plain one included again), then `dont_remember`."""
    names = ctx.cookies
    return expire_cookie_lines(
        ctx, [names.session_token, names.session_data, *session_data_names, names.dont_remember]
    )


def expire_cookie_lines(ctx: AuthContext, names: Iterable[str]) -> list[str]:
    return [clear_cookie_line(name, secure=ctx.secure_cookies) for name in names]


def client_ip(request: Request) -> str:
    """The address Better Auth records (spec §3.5): from `X-Forwarded-For` under the rules of
    `core.client_ip` (TRUSTED_PROXIES included), else "". The rate limiter uses the same."""
    forwarded = ", ".join(request.headers.getlist("x-forwarded-for"))
    trusted = request.app.state.settings.trusted_proxies
    return forwarded_client_ip(forwarded, trusted) or ""
