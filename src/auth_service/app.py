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
from starlette.types import ASGIApp, Receive, Scope, Send

from auth_service import __version__, health
from auth_service.auth.change_email.service import ChangeEmailService
from auth_service.auth.context import AuthContext
from auth_service.auth.delete_user.service import DeleteUserService
from auth_service.auth.email_password.service import EmailPasswordService
from auth_service.auth.mail.sender import Mailer
from auth_service.auth.password_reset.service import PasswordResetService
from auth_service.auth.router import BASE_PATH, build_auth_router
from auth_service.auth.sessions.cache import SessionCache
from auth_service.auth.sessions.routes import get_session_endpoint
from auth_service.auth.sessions.service import SessionService
from auth_service.auth.social.providers import build_providers
from auth_service.auth.social.service import SocialService
from auth_service.auth.users.repository import UserRepository
from auth_service.auth.verification.service import EmailVerificationService
from auth_service.core.errors import APIError
from auth_service.core.rate_limit.install import install_rate_limiting
from auth_service.cors import install_cors
from auth_service.db.engine import Database
from auth_service.error_responses import (
    api_error_handler,
    http_error_handler,
    unexpected_error_handler,
)
from auth_service.fastpath import Endpoint, FastPath
from auth_service.features import discover_features, mount_features, route_table
from auth_service.gateway import routes as gateway_routes
from auth_service.hardening import HardeningMiddleware, security_headers
from auth_service.observability import Metrics, ObservabilityMiddleware, install_drain_on_signal
from auth_service.openapi import routes as openapi_routes
from auth_service.plugins.bearer.middleware import SetAuthTokenMiddleware
from auth_service.plugins.jwt import routes as jwt_routes
from auth_service.plugins.jwt.service import JwtService
from auth_service.settings import ConfigError, Settings

log = logging.getLogger("auth_service")


class AuthServiceApp(FastAPI):
    """FastAPI, with the application's own middlewares at the edge.

    CORS, the rate limiter, the plugins' after-hooks and the fast path run outside FastAPI's
    per-request wrappers (error, telemetry and body-limit middlewares), which only the routed
    endpoints need: the fast path renders its own errors (auth_service.fastpath)."""

    def build_middleware_stack(self) -> ASGIApp:
        edge, self.user_middleware = self.user_middleware, []
        try:
            app = super().build_middleware_stack()
        finally:
            self.user_middleware = edge
        for cls, args, kwargs in reversed(edge):
            app = cls(app, *args, **kwargs)
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # FastAPI checks for OpenTelemetry providers on every request (environment lookups,
        # measured at about 16 us); HTTP goes straight to the middleware stack instead. The
        # service has no OpenTelemetry configuration; lifespan still goes through FastAPI.
        if scope["type"] == "http" and not self.root_path:
            scope["app"] = self
            if self.middleware_stack is None:
                self.middleware_stack = self.build_middleware_stack()
            await self.middleware_stack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_safe_to_start()
    if settings.is_production and not settings.secure_cookies:
        log.warning(
            "production with BETTER_AUTH_URL=%s: session cookies go out without Secure and HSTS "
            "is off. Set the public https URL (or USE_SECURE_COOKIES=true behind TLS).",
            settings.base_url,
        )
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
        restore_signals = install_drain_on_signal(app, settings.shutdown_drain_seconds)
        if session_cache is not None:
            session_cache.start()
        try:
            yield
        finally:
            app.state.draining = True
            restore_signals()
            if session_cache is not None:
                await session_cache.close()
            await mailer.drain(settings.smtp_timeout_seconds)
            ctx.hasher.close()
            await database.dispose()

    app = AuthServiceApp(
        title="auth-service",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    session_cache = (
        SessionCache(
            database,
            ctx.schema,
            max_age=settings.session_cache_seconds,
            max_entries=settings.session_cache_max_entries,
        )
        if settings.session_cache_seconds > 0
        else None
    )
    sessions = SessionService(ctx, session_cache)
    app.state.settings = settings
    app.state.database = database
    app.state.auth = ctx
    app.state.sessions = sessions
    # E-mail and account lifecycle: one mailer (log or SMTP) for every flow.
    mailer = Mailer.from_settings(settings)
    verification = EmailVerificationService(ctx, sessions, mailer)
    email_password = EmailPasswordService(ctx, sessions, verification)
    app.state.mailer = mailer
    app.state.email_verification = verification
    app.state.email_password = email_password
    app.state.password_reset = PasswordResetService(ctx, email_password, mailer)
    app.state.change_email = ChangeEmailService(ctx, verification)
    app.state.delete_user = DeleteUserService(ctx, sessions, email_password, mailer)
    app.state.users = UserRepository(ctx.schema)
    app.state.social = SocialService(ctx, sessions, build_providers(settings), verification)
    app.state.draining = False
    jwt = JwtService(settings, ctx.schema, database)
    app.state.jwt = jwt
    # After-hooks of get-session (Better Auth's plugin hooks): extra response headers.
    app.state.session_response_hooks = [jwt.set_auth_jwt_header]

    app.add_exception_handler(APIError, api_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    # Database faults are handled here (not by the catch-all, which closes the connection).
    for fault in (
        DBAPIError,
        SQLAlchemyTimeoutError,
        OSError,
        TimeoutError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    ):
        app.add_exception_handler(fault, unexpected_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    app.include_router(health.router)
    app.include_router(build_auth_router())
    app.include_router(openapi_routes.router, prefix=BASE_PATH)
    app.include_router(gateway_routes.router)
    mount_features(app, features)
    metrics = Metrics(database, session_cache) if settings.metrics_enabled else None
    app.state.metrics = metrics
    fast_routes: dict[tuple[str, str], Endpoint] = {
        ("GET", "/health"): health.health,
        ("GET", "/live"): health.health,
        ("GET", f"{BASE_PATH}/get-session"): get_session_endpoint,
        ("GET", f"{BASE_PATH}/token"): jwt_routes.token_endpoint,
        ("GET", f"{BASE_PATH}/jwks"): jwt_routes.jwks_endpoint,
        ("POST", f"{gateway_routes.PREFIX}/validate"): gateway_routes.validate_endpoint,
    }
    if metrics is not None:
        fast_routes["GET", "/metrics"] = metrics.endpoint
    fast_prefixes: dict[str, Endpoint] = {
        f"{gateway_routes.PREFIX}/forward-auth": gateway_routes.forward_auth_endpoint
    }
    app.add_middleware(FastPath, routes=fast_routes, prefixes=fast_prefixes)
    app.add_middleware(
        SetAuthTokenMiddleware, session_cookie=ctx.cookies.session_token, path_prefix=BASE_PATH
    )
    # The last added runs first: CORS (answers preflights), then the rate limiter (before
    # routing, so unknown paths count too), then the plugins' after-hooks.
    install_rate_limiting(app, settings, database, ctx.schema)
    install_cors(app, settings)
    # Size limits (431/413 before CORS, the limiter or routing) and the security headers of
    # every response, refusals and 429s included.
    https = settings.base_url.startswith("https://")
    app.add_middleware(
        HardeningMiddleware,
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        max_body_bytes=settings.max_body_bytes,
        always=security_headers(hsts_max_age=settings.hsts_max_age if https else 0)
        if settings.security_headers
        else (),
        defaults=settings.security_headers,
    )
    # The edge (added last, runs first): request id, latency and status of every response,
    # CORS preflights and 429s included. Route labels: the known paths, else "other".
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        routes={line.split()[1] for line in route_table(app)} | {p for _, p in fast_routes},
        prefixes=fast_prefixes,
    )
    return app
