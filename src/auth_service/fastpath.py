"""The hot endpoints as plain ASGI dispatch, ahead of FastAPI's routing and dependencies.

Session lookups, gateway validation and the probes are called far more often than anything
else. They are plain `request -> response` functions (the FastAPI routes of the same paths
delegate to them, so there is one implementation); this innermost middleware calls them
directly, after CORS, the rate limiter and the plugins' after-hooks, but without FastAPI's
per-request machinery, which costs several times the work of the endpoint itself
(measured: see README, Performance).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_service.error_responses import error_response

Endpoint = Callable[[Request], Awaitable[Response]]


class FastPath:
    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: dict[tuple[str, str], Endpoint],
        prefixes: dict[str, Endpoint] | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        self.prefixes = prefixes or {}

    def _match(self, method: str, path: str) -> Endpoint | None:
        endpoint = self.routes.get((method, path))
        if endpoint is None and self.prefixes:
            for prefix, candidate in self.prefixes.items():
                if path == prefix or path.startswith(prefix + "/"):
                    return candidate
        return endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = self._match(scope["method"], scope["path"])
            if endpoint is not None:
                request = Request(scope, receive)
                try:
                    response = await endpoint(request)
                except Exception as exc:  # rendered exactly as the app's handlers do
                    response = await error_response(request, exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
