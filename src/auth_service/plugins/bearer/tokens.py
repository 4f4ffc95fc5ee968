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

    As Better Auth's bearer plugin: a value with a `.` must carry a valid signature, or it is
    ignored (None: the cookie, if any, decides); a value without one is a bare token unless
    signatures are required, and whether a session has it is for the lookup to say.
    """
    value = bearer_value(headers)
    if value is None:
        return None
    if "." in value:
        return verify_signed_value(secret, value)
    return None if require_signature else value
