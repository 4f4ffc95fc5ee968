"""After-hook: every response that sets a session cookie also carries `set-auth-token`."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXPOSE = b"access-control-expose-headers"


def merge_expose_header(headers: list[tuple[bytes, bytes]], name: bytes) -> None:
    """Add `name` to Access-Control-Expose-Headers, keeping what is already there."""
    for index, (key, value) in enumerate(headers):
        if key.lower() == EXPOSE:
            names = [item.strip() for item in value.split(b",") if item.strip()]
            if name not in names:
                names.append(name)
            headers[index] = (key, b", ".join(names))
            return
    headers.append((EXPOSE, name))


class SetAuthTokenMiddleware:
    def __init__(self, app: ASGIApp, *, session_cookie: str, path_prefix: str) -> None:
        self.app = app
        self.prefix = (session_cookie + "=").encode()
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return

        async def send_with_token(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                token = self._issued_token(headers)
                if token:
                    headers.append((b"set-auth-token", token))
                    merge_expose_header(headers, b"set-auth-token")
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_token)

    def _issued_token(self, headers: list[tuple[bytes, bytes]]) -> bytes | None:
        for key, value in headers:
            if key.lower() == b"set-cookie" and value.startswith(self.prefix):
                cookie_value = value[len(self.prefix) :].split(b";", 1)[0]
                if cookie_value:
                    return unquote(cookie_value.decode("latin-1")).encode("latin-1")
        return None
