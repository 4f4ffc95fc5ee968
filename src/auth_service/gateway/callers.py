"""Trusted callers: a shared secret presented in a header, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from enum import Enum

from pydantic import SecretStr


class CallerCheck(Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DISABLED = "disabled"
    """No secret is configured: the endpoints it guards are off."""


class SharedSecret:
    """The secret one kind of caller (the gateway, internal services) must present.

    Both sides are hashed before `hmac.compare_digest`, so the comparison takes the same time
    whatever the presented value's length or content.
    """

    def __init__(self, header: str, secret: SecretStr | None, setting: str) -> None:
        value = secret.get_secret_value() if secret is not None else ""
        self.header = header
        self.setting = setting
        self._digest = hashlib.sha256(value.encode()).digest() if value else None

    @property
    def enabled(self) -> bool:
        return self._digest is not None

    def check(self, presented: list[str]) -> CallerCheck:
        """`presented`: every value of the header in the request (HTTP headers are latin-1)."""
        if self._digest is None:
            return CallerCheck.DISABLED
        if len(presented) != 1:
            return CallerCheck.REJECTED
        candidate = hashlib.sha256(presented[0].encode("latin-1")).digest()
        if hmac.compare_digest(candidate, self._digest):
            return CallerCheck.ACCEPTED
        return CallerCheck.REJECTED
