"""Gateway rules: whom a credential identifies, how long that answer may be cached, users.

A JWT is verified against the in-memory key set (no database round trip). A session token
costs one query (the session joined with its user); an expired or deleted session is refused
at once, nothing is cached here, and the session's expiry is never extended (a gateway check
is not user activity).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from auth_service.auth.context import AuthContext
from auth_service.auth.sessions.service import CookieSession, SessionService
from auth_service.core.clock import to_naive_utc, utcnow
from auth_service.db.engine import RequestDb
from auth_service.gateway.callers import SharedSecret
from auth_service.gateway.credentials import (
    MAX_CREDENTIAL_LENGTH,
    Credential,
    CredentialReader,
    JwtCredential,
    SessionCredential,
)
from auth_service.gateway.repository import UserLookupRepository
from auth_service.plugins.jwt.service import JwtService

log = logging.getLogger("auth_service.gateway")

GATEWAY_AUTH_HEADER = "x-gateway-auth"
SERVICE_AUTH_HEADER = "x-service-auth"


@dataclass(frozen=True, slots=True)
class SessionIdentity:
    user: dict[str, Any]
    session: dict[str, Any]

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @property
    def email(self) -> str:
        return str(self.user["email"])

    @property
    def session_id(self) -> str:
        return str(self.session["id"])

    @property
    def expires_at(self) -> datetime:
        return to_naive_utc(self.session["expires_at"])


@dataclass(frozen=True, slots=True)
class JwtIdentity:
    claims: dict[str, Any]

    @property
    def user_id(self) -> str:
        return str(self.claims["sub"])

    @property
    def email(self) -> str:
        email = self.claims.get("email")
        return email if isinstance(email, str) else ""

    @property
    def session_id(self) -> str:
        return ""  # Better Auth's JWT payload names no session

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.claims["exp"]), UTC).replace(tzinfo=None)


Identity = SessionIdentity | JwtIdentity

SelectorKind = Literal["id", "email", "token"]


@dataclass(frozen=True, slots=True)
class UserSelector:
    kind: SelectorKind
    value: str


class GatewayService:
    def __init__(self, ctx: AuthContext, sessions: SessionService, jwt: JwtService) -> None:
        settings = ctx.settings
        self.gateway_secret = SharedSecret(
            GATEWAY_AUTH_HEADER, settings.api_gateway_secret, "API_GATEWAY_SECRET"
        )
        self.service_secret = SharedSecret(
            SERVICE_AUTH_HEADER, settings.internal_service_secret, "INTERNAL_SERVICE_SECRET"
        )
        self.credentials = CredentialReader(
            ctx.secret,
            ctx.cookies.session_token,
            require_signature=settings.bearer_require_signature,
        )
        self.cache_max_age = settings.gateway_cache_max_age
        self.user_id_header = settings.gateway_user_id_header
        self.user_email_header = settings.gateway_user_email_header
        self.session_id_header = settings.gateway_session_id_header
        self._sessions = sessions
        self._jwt = jwt
        self._users = UserLookupRepository(ctx.schema)

    def warn_if_disabled(self) -> None:
        """Say once, at start-up, which internal endpoints are off for want of a secret."""
        if not self.gateway_secret.enabled:
            log.warning(
                "API_GATEWAY_SECRET is not set: /api/internal/validate and "
                "/api/internal/forward-auth are disabled (they answer 503 "
                "GATEWAY_AUTH_DISABLED). Set it to a random string of at least 32 characters "
                "and have the gateway send it in the x-gateway-auth header."
            )
        if not self.service_secret.enabled:
            log.warning(
                "INTERNAL_SERVICE_SECRET is not set: /api/internal/user is disabled (it answers "
                "503 SERVICE_AUTH_DISABLED). Set it and have services send it in the "
                "x-service-auth header."
            )

    async def identify(self, db: RequestDb, credential: Credential | None) -> Identity | None:
        """Whom the credential identifies right now, or None."""
        if isinstance(credential, JwtCredential):
            claims = await self._jwt.verify(credential.token)
            return JwtIdentity(claims) if claims is not None else None
        if isinstance(credential, SessionCredential):
            return await self._session_identity(db, credential.token)
        return None

    async def _session_identity(self, db: RequestDb, token: str) -> SessionIdentity | None:
        cookie = CookieSession(token=token, dont_remember=False, has_cookie_header=False)
        found = (await self._sessions.lookup(db, cookie, refresh=False)).found
        if found is None:
            return None
        return SessionIdentity(user=found.user, session=found.session)

    def cache_seconds(self, identity: Identity) -> int:
        """How long a positive answer may be reused: never past the credential's expiry."""
        remaining = (identity.expires_at - utcnow()).total_seconds()
        return max(0, min(self.cache_max_age, int(remaining)))

    async def find_user(self, db: RequestDb, selector: UserSelector) -> dict[str, Any] | None:
        value = selector.value
        if len(value) > MAX_CREDENTIAL_LENGTH or "\x00" in value:
            return None  # cannot be stored in PostgreSQL text, so it matches nothing
        if selector.kind == "token":
            credential = self.credentials.from_token(value)
            if not isinstance(credential, SessionCredential):
                return None
            identity = await self._session_identity(db, credential.token)
            return identity.user if identity is not None else None
        conn = await db.conn()
        if selector.kind == "id":
            return await self._users.by_id(conn, value)
        return await self._users.by_email(conn, value.lower())
