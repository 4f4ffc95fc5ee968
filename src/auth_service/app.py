"""The ASGI application: routes, error handling, start-up and shutdown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from auth_service import __version__, health
from auth_service.auth.context import AuthContext
from auth_service.auth.email_password.service import EmailPasswordService
from auth_service.auth.http import json_response
from auth_service.auth.router import BASE_PATH, build_auth_router
from auth_service.auth.sessions.service import SessionService
from auth_service.auth.users.repository import UserRepository
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.rate_limit.install import install_rate_limiting
from auth_service.cors import install_cors
from auth_service.db.engine import Database, is_database_fault
from auth_service.features import discover_features, mount_features, route_table
from auth_service.gateway import routes as gateway_routes
from auth_service.plugins.bearer.middleware import SetAuthTokenMiddleware
from auth_service.plugins.jwt.service import JwtService
from auth_service.settings import ConfigError, Settings

log = logging.getLogger("auth_service")


def _error_response(exc: APIError) -> Response:
    body = exc.body()
    if body is None:
        response = Response(status_code=exc.status)
        for line in exc.cookies:
            response.raw_headers.append((b"set-cookie", line.encode("latin-1")))
        return response
    return json_response(body, status=exc.status, cookies=exc.cookies)


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if request.url.path.startswith(BASE_PATH + "/") or request.url.path == BASE_PATH:
        # Better Auth answers unknown paths and wrong methods with an empty 404.
        return Response(status_code=404)
    if exc.status_code in (404, 405):
        return json_response({"message": "Not Found", "code": "NOT_FOUND"}, status=404)
    return json_response({"message": str(exc.detail), "code": "HTTP_ERROR"}, status=exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, asyncpg.DataError) or (
        isinstance(exc, DBAPIError) and isinstance(exc.orig, asyncpg.DataError)
    ):
        # Input PostgreSQL cannot store (a NUL byte, an out-of-range value): the client's fault.
        return json_response(
            {"message": "Invalid input: the value cannot be stored", "code": "BAD_REQUEST"},
            status=400,
        )
    if is_database_fault(exc):
        log.warning(
            "database unavailable during %s %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
        )
        return json_response(
            {"message": ErrorCode.SERVICE_UNAVAILABLE.message, "code": "SERVICE_UNAVAILABLE"},
            status=503,
            headers={"retry-after": "1"},
        )
    log.exception("unhandled error during %s %s", request.method, request.url.path)
    return json_response(
        {"message": "Internal Server Error", "code": "INTERNAL_SERVER_ERROR"}, status=500
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_safe_to_start()
    if not settings.database_url:
        raise ConfigError(
            "DATABASE_URL is not set. Set it to a PostgreSQL URL, or start the service with "
            "`auth-service serve`, which runs an embedded PostgreSQL when it is unset."
        )
    database = Database(
        settings.database_url, pool_size=settings.db_pool_size, timeout=settings.db_timeout_seconds
    )
    ctx = AuthContext.build(settings, database)

    features = discover_features()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.show_routes:
            log.info("routes:\n  %s", "\n  ".join(route_table(app)))
        try:
            yield
        finally:
            app.state.draining = True
            ctx.hasher.close()
            await database.dispose()

    app = FastAPI(
        title="auth-service",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    sessions = SessionService(ctx)
    app.state.settings = settings
    app.state.database = database
    app.state.auth = ctx
    app.state.sessions = sessions
    app.state.email_password = EmailPasswordService(ctx, sessions)
    app.state.users = UserRepository(ctx.schema)
    app.state.draining = False
    jwt = JwtService(settings, ctx.schema, database)
    app.state.jwt = jwt
    # After-hooks of get-session (Better Auth's plugin hooks): extra response headers.
    app.state.session_response_hooks = [jwt.set_auth_jwt_header]

    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database faults are handled here (not by the catch-all, which closes the connection).
    for fault in (
        DBAPIError,
        SQLAlchemyTimeoutError,
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(fault, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(health.router)
    app.include_router(build_auth_router())
    app.include_router(gateway_routes.router)
    mount_features(app, features)
    app.add_middleware(
        SetAuthTokenMiddleware, session_cookie=ctx.cookies.session_token, path_prefix=BASE_PATH
    )
    # The last added runs first: CORS (answers preflights), then the rate limiter (before
    # routing, so unknown paths count too), then the plugins' after-hooks.
    install_rate_limiting(app, settings, database, ctx.schema)
    install_cors(app, settings)
    return app
