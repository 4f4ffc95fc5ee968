"""Random identifiers and tokens in Better Auth's alphabet."""

from __future__ import annotations

import secrets
import string

ALPHANUMERIC = string.ascii_letters + string.digits


def random_string(length: int, alphabet: str = ALPHANUMERIC) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_id() -> str:
    """A 32-character `[A-Za-z0-9]` primary key, as Better Auth generates them."""
    return random_string(32)


def generate_session_token() -> str:
    return random_string(32)
