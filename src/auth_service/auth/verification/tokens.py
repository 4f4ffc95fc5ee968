"""Better Auth's stateless e-mail verification tokens (spec §4 verify-email): HS256 JWTs
signed with the secret, header `{"alg":"HS256"}`, payload
`{email, updateTo?, userId, requestType?, iat, exp}` with lower-cased addresses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum

import jwt

from auth_service.core.validation import is_valid_email

CHANGE_EMAIL_CONFIRMATION = "change-email-confirmation"
CHANGE_EMAIL_VERIFICATION = "change-email-verification"


class TokenProblem(Enum):
    INVALID = "INVALID_TOKEN"
    EXPIRED = "TOKEN_EXPIRED"


@dataclass(frozen=True, slots=True)
class EmailClaims:
    email: str
    user_id: str | None = None
    update_to: str | None = None
    request_type: str | None = None


class TokenError(Exception):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem.value)
        self.problem = problem


def create_email_token(
    secret: bytes,
    email: str,
    *,
    expires_in: int,
    user_id: str | None = None,
    update_to: str | None = None,
    request_type: str | None = None,
) -> str:
    payload: dict[str, object] = {"email": email.lower()}
    if update_to is not None:
        payload["updateTo"] = update_to.lower()
    if user_id is not None:
        payload["userId"] = user_id
    if request_type is not None:
        payload["requestType"] = request_type
    now = int(time.time())
    payload["iat"] = now
    payload["exp"] = now + expires_in
    return jwt.encode(payload, secret, algorithm="HS256", headers={"typ": None})


def read_email_token(secret: bytes, token: str) -> EmailClaims:
    """The claims of a valid token; `TokenError` for a bad signature, shape or expiry."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp"], "verify_iat": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError(TokenProblem.EXPIRED) from exc
    except jwt.PyJWTError as exc:
        raise TokenError(TokenProblem.INVALID) from exc
    email = payload.get("email")
    optional = [payload.get(key) for key in ("userId", "updateTo", "requestType")]
    if not isinstance(email, str) or not is_valid_email(email):
        raise TokenError(TokenProblem.INVALID)
    if any(value is not None and not isinstance(value, str) for value in optional):
        raise TokenError(TokenProblem.INVALID)
    user_id, update_to, request_type = optional
    return EmailClaims(
        email=email,
        user_id=user_id or None,
        update_to=update_to or None,
        request_type=request_type or None,
    )
