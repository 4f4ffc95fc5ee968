"""Typed dependencies: what a route needs is visible in its signature.

`endpoint(...)` runs Better Auth's request pipeline in its order: body and content type,
origin / CSRF checks, validation, then the session requirement.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from auth_service.auth.context import AuthContext
from auth_service.auth.queued_cookies import queue_cookies
from auth_service.auth.sessions.service import (
    CookieSession,
    ResolvedSession,
    SessionService,
    read_cookie_session,
)
from auth_service.core.body import read_body
from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.origins import check_callback_urls, check_form_csrf, check_request_origin
from auth_service.core.validation import NO_BODY, BodyShape, Field, validate
from auth_service.db.engine import RequestDb


async def get_context(request: Request) -> AuthContext:
    ctx: AuthContext = request.app.state.auth
    return ctx


Ctx = Annotated[AuthContext, Depends(get_context)]


async def get_request_db(ctx: Ctx) -> AsyncIterator[RequestDb]:
    async with RequestDb(ctx.database) as db:
        yield db


Db = Annotated[RequestDb, Depends(get_request_db)]


async def get_session_service(request: Request) -> SessionService:
    service: SessionService = request.app.state.sessions
    return service


Sessions = Annotated[SessionService, Depends(get_session_service)]


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def refresh_disabled(request: Request) -> bool:
    """`?disableRefresh=`, read as zod's `coerce.boolean()`: any non-empty value, "false" too."""
    return bool(request.query_params.get("disableRefresh"))


def request_origin(request: Request) -> str:
    """The origin the request was sent to, from its Host header (not BETTER_AUTH_URL)."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


class SessionNeed(Enum):
    NONE = "none"
    REQUIRED = "required"  # Better Auth's sessionMiddleware
    FRESH = "fresh"  # freshSessionMiddleware


@dataclass(slots=True)
class AuthCall:
    """One auth request after the pipeline ran."""

    request: Request
    ctx: AuthContext
    db: RequestDb
    sessions: SessionService
    body: dict[str, Any]
    raw: Any
    cookie: CookieSession
    current: ResolvedSession | None = None

    @property
    def session(self) -> ResolvedSession:
        if self.current is None:  # pragma: no cover - guarded by SessionNeed
            raise APIError(401, ErrorCode.UNAUTHORIZED)
        return self.current


@dataclass(frozen=True, slots=True)
class EndpointOptions:
    """What one `endpoint(...)` was declared with; the OpenAPI document reads it back from the
    routes (auth_service.openapi), so a request body is never described twice."""

    schema: tuple[Field, ...] | None
    session: SessionNeed
    allow_form: bool
    body_optional: bool


_ENDPOINT_OPTIONS: dict[Callable[..., Any], EndpointOptions] = {}


def endpoint_options(dependency: Callable[..., Any]) -> EndpointOptions | None:
    """The options of a dependency made by `endpoint(...)`, or None for any other callable."""
    return _ENDPOINT_OPTIONS.get(dependency)


def endpoint(
    schema: tuple[Field, ...] | None = None,
    *,
    session: SessionNeed = SessionNeed.NONE,
    allow_form: bool = False,
    body_optional: bool = False,
    body_shape: BodyShape = "object",
) -> Callable[..., Awaitable[AuthCall]]:
    """A dependency running the pipeline for one endpoint."""

    async def dependency(request: Request, ctx: Ctx, db: Db, sessions: Sessions) -> AuthCall:
        raw = await read_body(request, allow_form=allow_form)
        cookie = read_cookie_session(ctx, request)
        own_origin = request_origin(request)
        body_for_urls = raw if isinstance(raw, dict) else {}
        if request.method not in SAFE_METHODS:
            if allow_form:
                check_form_csrf(
                    ctx.trusted_origins, request.headers, own_origin, cookie.has_cookie_header
                )
            elif cookie.has_cookie_header:
                check_request_origin(ctx.trusted_origins, request.headers, own_origin)
            check_callback_urls(ctx.trusted_origins, body_for_urls, request.query_params)
        if schema is None or (body_optional and raw is NO_BODY):
            body: dict[str, Any] = body_for_urls
        else:
            body = validate(raw, schema, body_shape)
        call = AuthCall(request, ctx, db, sessions, body, raw, cookie)
        if session is not SessionNeed.NONE:
            # As Better Auth's session middleware, a session due for refresh is refreshed here
            # and its cookie goes out with the endpoint's answer, whatever it is.
            found = await sessions.lookup(db, cookie, refresh=not refresh_disabled(request))
            if found.found is None:
                raise APIError(401, ErrorCode.UNAUTHORIZED, cookies=found.clear_cookies)
            queue_cookies(request, found.found.cookies)
            if session is SessionNeed.FRESH and not sessions.is_fresh(found.found.session):
                raise APIError(403, ErrorCode.SESSION_NOT_FRESH)
            call.current = found.found
        return call

    _ENDPOINT_OPTIONS[dependency] = EndpointOptions(schema, session, allow_form, body_optional)
    return dependency


async def get_current_session(
    request: Request, ctx: Ctx, db: Db, sessions: Sessions
) -> ResolvedSession:
    """The live session of the request (cookie or bearer token), or 401."""
    cookie = read_cookie_session(ctx, request)
    found = await sessions.lookup(db, cookie, refresh=False)
    if found.found is None:
        raise APIError(401, ErrorCode.UNAUTHORIZED)
    return found.found


CurrentSession = Annotated[ResolvedSession, Depends(get_current_session)]
