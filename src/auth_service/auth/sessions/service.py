"""Session rules: creation, lookup from the cookie, expiry, the sliding refresh."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request

from auth_service.auth.context import AuthContext
from auth_service.auth.http import clear_session_cookie_lines, client_ip, session_cookie_lines
from auth_service.auth.sessions.cache import SessionCache
from auth_service.auth.sessions.repository import SessionRecord, SessionRepository
from auth_service.core.clock import seconds, to_naive_utc, utcnow
from auth_service.core.cookies import (
    is_cookie_or_chunk,
    parse_cookie_header,
    verify_signed_value,
)
from auth_service.core.ids import generate_id, generate_session_token
from auth_service.db.engine import RequestDb
from auth_service.plugins.bearer.tokens import session_token_from_bearer

ONE_DAY = 86400


@dataclass(slots=True)
class CookieSession:
    """What the request's cookies say about its session."""

    token: str | None
    """The verified session token, or None without a validly signed cookie."""
    dont_remember: bool
    """A validly signed `dont_remember` cookie came with the request (any value, as Better Auth)."""
    has_cookie_header: bool
    session_data_names: tuple[str, ...] = ()
    """The `session_data` cookie and chunks the request carries, in order (the cache is off, so
    any of them is stale and is expired with the session cookies)."""
    stray_session_data: bool = False
    """One of those carries a value: get-session expires them even when the session is fine."""


@dataclass(slots=True)
class ResolvedSession:
    session: dict[str, Any]
    user: dict[str, Any]
    cookies: list[str] = field(default_factory=list)
    """Set-Cookie lines the lookup produced (a refreshed cookie)."""


@dataclass(slots=True)
class Lookup:
    """The outcome of reading the session: found, or absent with cookies to clear."""

    found: ResolvedSession | None
    clear_cookies: list[str] = field(default_factory=list)


def read_cookie_session(ctx: AuthContext, request: Request) -> CookieSession:
    """The request's session credential: a bearer token (it wins) or the session cookie."""
    header = request.headers.get("cookie")
    cookies = parse_cookie_header(header)
    token = session_token_from_bearer(
        ctx.secret, request.headers, require_signature=ctx.settings.bearer_require_signature
    )
    if token is None:
        raw = cookies.get(ctx.cookies.session_token)
        token = verify_signed_value(ctx.secret, raw) if raw else None
    dont_remember_raw = cookies.get(ctx.cookies.dont_remember)
    dont_remember = bool(dont_remember_raw) and (
        verify_signed_value(ctx.secret, dont_remember_raw or "") is not None
    )
    session_data_names = tuple(
        name for name in cookies if is_cookie_or_chunk(name, ctx.cookies.session_data)
    )
    return CookieSession(
        token=token,
        dont_remember=dont_remember,
        has_cookie_header=bool(header),
        session_data_names=session_data_names,
        stray_session_data=any(cookies[name] for name in session_data_names),
    )


class SessionService:
    def __init__(self, ctx: AuthContext, cache: SessionCache | None = None) -> None:
        self.ctx = ctx
        self.repository = SessionRepository(ctx.schema)
        self.cache = cache

    async def create(
        self,
        conn: AsyncConnection,
        request: Request,
        user_id: str,
        *,
        remember_me: bool = True,
    ) -> dict[str, Any]:
        now = utcnow()
        expires_in = self.ctx.settings.session_expires_in if remember_me else ONE_DAY
        session = {
            "id": generate_id(),
            "token": generate_session_token(),
            "user_id": user_id,
            "expires_at": now + seconds(expires_in),
            "created_at": now,
            "updated_at": now,
            "ip_address": client_ip(request),
            "user_agent": request.headers.get("user-agent", ""),
        }
        await self.repository.insert(conn, session)
        return session

    def sign_in_cookies(
        self, session: dict[str, Any], cookie: CookieSession, *, remember_me: bool | None = None
    ) -> list[str]:
        """Better Auth's setSessionCookie: without `remember_me` the request's `dont_remember`
        cookie decides; an explicit remember-me expires that cookie."""
        if remember_me is None:
            remember_me = not cookie.dont_remember
        return session_cookie_lines(
            self.ctx,
            session["token"],
            remember_me=remember_me,
            expire_dont_remember=remember_me and cookie.dont_remember,
        )

    async def lookup(
        self,
        db: RequestDb,
        cookie: CookieSession,
        *,
        refresh: bool = True,
    ) -> Lookup:
        """Find the live session of the request; delete it if it has expired.

        The read is one round trip on the hot pool; a connection of the request is taken only
        for the rare writes (deleting an expired session, the sliding refresh)."""
        if cookie.token is None:
            return Lookup(found=None)
        record = await self._find(db, cookie.token)
        if record is None:
            return Lookup(found=None, clear_cookies=self._clearing_lines(cookie))
        now = utcnow()
        expires_at = to_naive_utc(record.session["expires_at"])
        if expires_at < now:
            await self.repository.delete_by_token(await db.conn(), cookie.token)
            return Lookup(found=None, clear_cookies=self._clearing_lines(cookie))
        resolved = ResolvedSession(session=record.session, user=record.user)
        if refresh and not cookie.dont_remember and self._due_for_refresh(expires_at, now):
            if not await self._refresh(await db.conn(), record, now):
                return Lookup(found=None, clear_cookies=self._clearing_lines(cookie))
            resolved.cookies = self.sign_in_cookies(record.session, cookie, remember_me=True)
        return Lookup(found=resolved)

    async def _find(self, db: RequestDb, token: str) -> SessionRecord | None:
        cache = self.cache
        if cache is None:
            return await self.repository.find_with_user(db.database, token)
        record = cache.get(token)
        if record is None:
            generation = cache.generation
            record = await self.repository.find_with_user(db.database, token)
            if record is not None:
                cache.put(token, record, generation)
        return record

    async def lookup_on_own_connection(self, cookie: CookieSession, *, refresh: bool) -> Lookup:
        """`lookup` for a plain endpoint, which has no request-scoped database dependency."""
        async with RequestDb(self.ctx.database) as db:
            return await self.lookup(db, cookie, refresh=refresh)

    def _clearing_lines(self, cookie: CookieSession) -> list[str]:
        return clear_session_cookie_lines(self.ctx, cookie.session_data_names)

    def _due_for_refresh(self, expires_at: datetime, now: datetime) -> bool:
        settings = self.ctx.settings
        if settings.session_update_age <= 0:
            return False
        issued = expires_at - seconds(settings.session_expires_in)
        return issued + seconds(settings.session_update_age) <= now

    async def _refresh(self, conn: AsyncConnection, record: SessionRecord, now: datetime) -> bool:
        new_expiry = now + seconds(self.ctx.settings.session_expires_in)
        updated = await self.repository.extend(conn, record.session["token"], new_expiry, now)
        if updated:
            record.session["expires_at"] = new_expiry
            record.session["updated_at"] = now
        return updated

    def is_fresh(self, session: dict[str, Any]) -> bool:
        fresh_age = self.ctx.settings.session_fresh_age
        if fresh_age <= 0:
            return True
        created = to_naive_utc(session["created_at"])
        return (utcnow() - created).total_seconds() < fresh_age
