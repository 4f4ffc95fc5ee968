"""Set-Cookie lines the request pipeline queues for whatever response the route ends with.

Better Auth's session middleware refreshes a session that is due (the sliding `updateAge`
rule) before the endpoint runs, and the refreshed cookie goes out with the endpoint's answer,
success or error. The pipeline queues those lines on the request; `AuthRoute` puts them in
front of the response's own Set-Cookie lines. As Better Auth's `expireCookie` does, a cookie
the response expires drops the queued lines of the same name.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from auth_service.core.errors import APIError

_STATE_KEY = "auth_queued_cookies"
_SET_COOKIE = b"set-cookie"


def queue_cookies(request: Request, lines: list[str]) -> None:
    if lines:
        queued: list[str] = request.scope.setdefault("state", {}).setdefault(_STATE_KEY, [])
        queued.extend(lines)


def _queued(request: Request) -> list[str]:
    state = request.scope.get("state")
    return list(state.get(_STATE_KEY, [])) if isinstance(state, dict) else []


def _name(line: str) -> str:
    return line.split("=", 1)[0]


def _is_expiry(line: str) -> bool:
    return line.split(";", 1)[0].endswith("=") and "; Max-Age=0;" in line


def merge_cookie_lines(queued: list[str], own: list[str]) -> list[str]:
    """The queued lines, less those `own` expires, then `own`."""
    expired = {_name(line) for line in own if _is_expiry(line)}
    return [line for line in queued if _name(line) not in expired] + own


class AuthRoute(APIRoute):
    """A route whose answer, or error, carries the cookies the pipeline queued."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except APIError as exc:
                # The error handler builds the answer from the exception: hand it the lines.
                exc.cookies = merge_cookie_lines(_queued(request), exc.cookies)
                raise
            queued = _queued(request)
            if queued:
                own = [v.decode("latin-1") for k, v in response.raw_headers if k == _SET_COOKIE]
                response.raw_headers[:] = [
                    *((k, v) for k, v in response.raw_headers if k != _SET_COOKIE),
                    *(
                        (_SET_COOKIE, line.encode("latin-1"))
                        for line in merge_cookie_lines(queued, own)
                    ),
                ]
            return response

        return handle
