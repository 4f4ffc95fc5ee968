"""Request size limits and security headers, at the edge of every request.

`HardeningMiddleware` is one pure ASGI middleware, just inside the observability edge (so its
refusals are counted and carry a request id) and outside CORS, the rate limiter and routing:

- more than `MAX_HEADER_COUNT` header lines, or more than `MAX_HEADER_BYTES` of names and
  values, is `431 REQUEST_HEADER_FIELDS_TOO_LARGE`, before anything else runs;
- a `Content-Length` above `MAX_BODY_BYTES` is `413 PAYLOAD_TOO_LARGE` before a byte of the body
  is read; a chunked body is counted as it is read and refused the same way once it passes the
  limit (the exception is an `APIError`, so whichever layer is reading renders it, and this
  middleware renders it itself if it escapes before a response has started). Both answers
  close the connection, so the rest of the body is never read;
- every response gets `X-Content-Type-Options`, `X-Frame-Options`, `Referrer-Policy`,
  `Strict-Transport-Security` (https deployments only), and, unless the endpoint set its own,
  `Cache-Control: no-store` and a `Content-Security-Policy` that allows nothing.

The per-request work is one pass over the request headers (the observability middleware makes
another) and one over the few response headers; the header lists are built once.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.core.errors import APIError, ErrorCode

STRICT_CSP = b"default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
_CACHE_CONTROL = b"cache-control"
_CSP = b"content-security-policy"
_CONNECTION_CLOSE = (b"connection", b"close")


class BodyTooLarge(APIError):
    """A request body past MAX_BODY_BYTES: 413, and the connection is closed."""

    def __init__(self) -> None:
        super().__init__(413, ErrorCode.PAYLOAD_TOO_LARGE)


def security_headers(*, hsts_max_age: int) -> list[tuple[bytes, bytes]]:
    """The headers added to every response, whatever the endpoint did."""
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    ]
    if hsts_max_age > 0:
        value = f"max-age={hsts_max_age}; includeSubDomains".encode()
        headers.append((b"strict-transport-security", value))
    return headers


def _refusal(status: int, code: ErrorCode) -> tuple[Message, Message]:
    body = orjson.dumps({"message": code.message, "code": code.name})
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            _CONNECTION_CLOSE,
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class HardeningMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_bytes: int,
        max_header_count: int,
        max_body_bytes: int,
        always: Sequence[tuple[bytes, bytes]],
        defaults: bool,
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count
        self.max_body_bytes = max_body_bytes
        self.defaults = defaults
        # What is appended to a response's headers, by (it has Cache-Control, it has a CSP):
        # the defaults only where the endpoint did not set its own (an HTML page may need
        # another CSP; the gateway answers carry their own Cache-Control). Built once.
        self.tails: dict[tuple[bool, bool], tuple[tuple[bytes, bytes], ...]] = {}
        for has_cache_control in (False, True):
            for has_csp in (False, True):
                tail = list(always)
                if defaults and not has_cache_control:
                    tail.append((_CACHE_CONTROL, b"no-store"))
                if defaults and not has_csp:
                    tail.append((_CSP, STRICT_CSP))
                self.tails[has_cache_control, has_csp] = tuple(tail)
        self.headers_too_large = _refusal(431, ErrorCode.REQUEST_HEADER_FIELDS_TOO_LARGE)
        self.body_too_large = _refusal(413, ErrorCode.PAYLOAD_TOO_LARGE)

    def hardened(self, message: Message, *extra: tuple[bytes, bytes]) -> Message:
        """The response start with the security headers; a new list, so that a response
        object sent more than once stays as it was."""
        raw = message.get("headers", ())
        cache_control = csp = False
        if self.defaults:
            for name, _ in raw:
                if name == _CACHE_CONTROL:
                    cache_control = True
                elif name == _CSP:
                    csp = True
        return {**message, "headers": [*raw, *extra, *self.tails[cache_control, csp]]}

    async def _refuse(self, refusal: tuple[Message, Message], send: Send) -> None:
        start, body = refusal
        await send(self.hardened(start))
        await send(body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = scope["headers"]
        if len(request_headers) > self.max_header_count:
            await self._refuse(self.headers_too_large, send)
            return
        size = 0
        content_length = b""
        chunked = False
        for name, value in request_headers:
            size += len(name) + len(value)
            if name == b"content-length":
                content_length = value
            elif name == b"transfer-encoding":
                chunked = True
        if size > self.max_header_bytes:
            await self._refuse(self.headers_too_large, send)
            return
        # uvicorn has already refused a Content-Length that is not a number.
        if content_length and int(content_length) > self.max_body_bytes:
            await self._refuse(self.body_too_large, send)
            return

        started = False
        exceeded = False

        async def send_hardened(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message = (
                    self.hardened(message, _CONNECTION_CLOSE)
                    if exceeded
                    else self.hardened(message)
                )
            await send(message)

        if not chunked:
            await self.app(scope, receive, send_hardened)
            return

        received = 0
        limit = self.max_body_bytes

        async def receive_counted() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, receive_counted, send_hardened)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(self.body_too_large, send)
