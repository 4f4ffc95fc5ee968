"""The studio's Starlette application: sqladmin under /admin, loopback hosts only."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

from sqladmin import Admin
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth_service.db.engine import is_database_fault
from auth_service.studio.access import AccessTokenBackend
from auth_service.studio.models import StudioTable
from auth_service.studio.views import model_view

TEMPLATES = Path(__file__).parent / "templates"
BASE_PATH = "/admin"
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
SECURITY_HEADERS = {
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
}


class LoopbackOnly:
    """Refuses a Host header that is not a loopback name (a DNS-rebinding page cannot reach
    the studio through its own domain) and adds no-store / no-referrer / no-framing headers."""

    def __init__(self, app: ASGIApp, extra_hosts: Iterable[str] = ()) -> None:
        self.app = app
        self.allowed = LOOPBACK_NAMES | {host.lower() for host in extra_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host_header = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        try:
            host = (urlsplit(f"//{host_header}").hostname or "").lower()
        except ValueError:
            host = ""
        if host not in self.allowed:
            response = PlainTextResponse("Invalid host header", status_code=400)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def database_trouble(request: Request, exc: Exception) -> Response:
    """An unreachable database is a 503 page saying so, not a bare 500."""
    if is_database_fault(exc) or isinstance(exc, DBAPIError):
        return PlainTextResponse(
            "The database did not answer. Check that PostgreSQL is running and reachable, "
            "then reload this page (the terminal running the studio shows the error).",
            status_code=503,
        )
    return PlainTextResponse("Internal error: see the terminal running the studio.", 500)


def create_studio_app(
    *,
    engine: AsyncEngine,
    tables: list[StudioTable],
    token: str,
    cookie_name: str,
    host: str,
) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    async def root(request: Request) -> Response:
        query = request.url.query
        return RedirectResponse(f"{BASE_PATH}/" + (f"?{query}" if query else ""), status_code=302)

    app = Starlette(routes=[Route("/", root)], lifespan=lifespan)
    admin = Admin(
        app,
        engine=engine,
        base_url=BASE_PATH,
        title="auth-service studio",
        templates_dir=str(TEMPLATES),
        authentication_backend=AccessTokenBackend(token, cookie_name=cookie_name),
    )
    for studio_table in tables:
        admin.add_view(model_view(studio_table))
    admin.admin.add_exception_handler(Exception, database_trouble)
    app.add_middleware(LoopbackOnly, extra_hosts=[host])
    return app
