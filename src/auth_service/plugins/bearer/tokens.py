"""Reading a session token from `Authorization: Bearer <token[.signature]>`."""

from __future__ import annotations

from collections.abc import Mapping

from auth_service.core.cookies import verify_signed_value


def bearer_value(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


def session_token_from_bearer(
    secret: bytes, headers: Mapping[str, str], *, require_signature: bool
) -> str | None:
    """The session token a bearer header carries: signed (`token.sig`, encoded or not) or bare.

    A value without a valid signature counts as a bare token unless signatures are required;
    whether a session has that token is for the lookup to say.
    """
    value = bearer_value(headers)
    if value is None:
        return None
    verified = verify_signed_value(secret, value)
    if verified is not None:
        return verified
    return None if require_signature else value
