"""What an end user's credential is, read from a validate body or from forwarded headers.

A credential is a session token (from the signed session cookie, or a bearer token signed or
bare as the bearer plugin accepts it, spec §9.2) or a JWT from `GET /api/auth/token` (§9.1).
Reading never touches the database; whether the token names a live session is the service's
question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auth_service.core.cookies import parse_cookie_header, verify_signed_value
from auth_service.plugins.bearer.tokens import bearer_value, session_token_from_bearer

# Longer values cannot be one of our tokens; they are refused without any work.
MAX_CREDENTIAL_LENGTH = 8192
BODY_FIELDS = ("token", "cookie", "jwt")


@dataclass(frozen=True, slots=True)
class SessionCredential:
    token: str
    """The session token (signature already checked when one was required)."""


@dataclass(frozen=True, slots=True)
class JwtCredential:
    token: str


@dataclass(frozen=True, slots=True)
class UnusableCredential:
    """A credential was presented but cannot identify anyone (bad signature, empty, ...)."""

    reason: str


Credential = SessionCredential | JwtCredential | UnusableCredential


class MalformedRequest(ValueError):
    """The caller's request itself is wrong (not the end user's credential)."""


def looks_like_jwt(value: str) -> bool:
    """A compact JWS has three dot-separated parts; session tokens have at most two."""
    return value.count(".") == 2


class CredentialReader:
    def __init__(self, secret: bytes, session_cookie: str, *, require_signature: bool) -> None:
        self._secret = secret
        self._session_cookie = session_cookie
        self._require_signature = require_signature

    # -- validate body -----------------------------------------------------------------------

    def from_body(self, body: Any) -> Credential | None:
        """The credential of a `{"token"|"cookie"|"jwt": "..."}` body; None when it has none.

        Raises MalformedRequest for a body that is not such an object.
        """
        if not isinstance(body, dict):
            raise MalformedRequest('the body must be a JSON object such as {"token": "..."}')
        unknown = sorted(str(key) for key in body if key not in BODY_FIELDS)
        if unknown:
            raise MalformedRequest(
                f"unknown field(s) {', '.join(unknown)}; expected one of token, cookie, jwt"
            )
        present = [key for key in BODY_FIELDS if key in body]
        if not present:
            return None
        if len(present) > 1:
            raise MalformedRequest("give exactly one of token, cookie, jwt")
        field = present[0]
        value = body[field]
        if not isinstance(value, str):
            raise MalformedRequest(f"{field} must be a string")
        if not value:
            return UnusableCredential("empty")
        if len(value) > MAX_CREDENTIAL_LENGTH:
            return UnusableCredential("too long")
        if field == "jwt":
            return JwtCredential(value)
        if field == "cookie":
            return self._from_cookie_value(self._cookie_value(value))
        return self.from_token(value)

    def _cookie_value(self, value: str) -> str:
        """A bare cookie value, or the session cookie's value out of a whole Cookie header."""
        if f"{self._session_cookie}=" in value:
            return parse_cookie_header(value).get(self._session_cookie, "")
        return value

    def _from_cookie_value(self, value: str) -> Credential:
        token = verify_signed_value(self._secret, value) if value else None
        if token is None:
            return UnusableCredential("bad cookie signature")
        return SessionCredential(token)

    def from_token(self, value: str) -> Credential:
        """A session token as the bearer plugin takes it: `token.sig` (encoded or not) or bare."""
        token = verify_signed_value(self._secret, value)
        if token is not None:
            return SessionCredential(token)
        if self._require_signature:
            return UnusableCredential("unsigned token")
        return SessionCredential(value)

    # -- forwarded headers -------------------------------------------------------------------

    def from_headers(self, headers: Mapping[str, str]) -> Credential | None:
        """The credential of a forwarded request, None when it carries none.

        `Authorization: Bearer` wins over the cookie, as with Better Auth's bearer plugin; a
        bearer value that is neither a JWT nor an acceptable session token is ignored.
        """
        bearer = bearer_value(headers)
        if bearer is not None:
            if len(bearer) > MAX_CREDENTIAL_LENGTH:
                return UnusableCredential("too long")
            if looks_like_jwt(bearer):
                return JwtCredential(bearer)
            token = session_token_from_bearer(
                self._secret, headers, require_signature=self._require_signature
            )
            if token is not None:
                return SessionCredential(token)
        raw = parse_cookie_header(headers.get("cookie")).get(self._session_cookie)
        if raw is None:
            return None
        if len(raw) > MAX_CREDENTIAL_LENGTH:
            return UnusableCredential("too long")
        return self._from_cookie_value(raw)
