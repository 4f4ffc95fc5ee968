"""Better Auth's cookies: names, signed values and Set-Cookie lines."""

from __future__ import annotations

import base64
import functools
import hmac
from dataclasses import dataclass
from urllib.parse import quote, unquote

# encodeURIComponent leaves these unescaped besides letters and digits.
_URI_COMPONENT_SAFE = "-_.!~*'()"
_SIGNATURE_LENGTH = 44


def hmac_signature(secret: bytes, value: str) -> str:
    return base64.b64encode(hmac.digest(secret, value.encode(), "sha256")).decode()


def sign_value(secret: bytes, value: str) -> str:
    """`value.base64(HMAC-SHA256(secret, value))`, not yet URL-encoded."""
    return f"{value}.{hmac_signature(secret, value)}"


def encode_cookie_value(value: str) -> str:
    return quote(value, safe=_URI_COMPONENT_SAFE)


def verify_signed_value(secret: bytes, raw: str) -> str | None:
    """The unsigned value if `raw` carries a valid signature, else None.

    Every request presents its session cookie: the outcome for a (secret, raw value) pair never
    changes, so recent ones are remembered (a hit skips the URL-decoding and the HMAC)."""
    if len(raw) > _MAX_REMEMBERED_LENGTH:
        return _verify_signed_value(secret, raw)
    return _remembered_verification(secret, raw)


_MAX_REMEMBERED_LENGTH = 256


@functools.lru_cache(maxsize=8192)
def _remembered_verification(secret: bytes, raw: str) -> str | None:
    return _verify_signed_value(secret, raw)


def _verify_signed_value(secret: bytes, raw: str) -> str | None:
    if "%" in raw:
        try:
            raw = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
    value, _, signature = raw.rpartition(".")  # no dot leaves `value` empty
    if not value or len(signature) != _SIGNATURE_LENGTH or not signature.endswith("="):
        return None
    if not hmac.compare_digest(signature, hmac_signature(secret, value)):
        return None
    return value


def parse_cookie_header(header: str | None) -> dict[str, str]:
    """Cookie header to a dict; when a name repeats, the first one wins."""
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name and name not in cookies:
            cookies[name] = value.strip()
    return cookies


def is_cookie_or_chunk(name: str, base: str) -> bool:
    """`base` itself or one of its chunks `base.0`, `base.1`, ... (Better Auth chunks cookies)."""
    if name == base:
        return True
    head, dot, index = name.rpartition(".")
    return bool(dot) and head == base and index.isdigit() and str(int(index)) == index


@dataclass(frozen=True, slots=True)
class CookieNames:
    session_token: str
    session_data: str
    dont_remember: str

    @classmethod
    def build(cls, prefix: str, secure: bool) -> CookieNames:
        head = "__Secure-" if secure else ""
        return cls(
            session_token=f"{head}{prefix}.session_token",
            session_data=f"{head}{prefix}.session_data",
            dont_remember=f"{head}{prefix}.dont_remember",
        )


def set_cookie_line(name: str, value: str, *, max_age: int | None, secure: bool) -> str:
    """A Set-Cookie value with Better Auth's attribute order."""
    parts = [f"{name}={value}"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    parts.append("Path=/")
    parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    parts.append("SameSite=Lax")
    return "; ".join(parts)


def clear_cookie_line(name: str, *, secure: bool) -> str:
    return set_cookie_line(name, "", max_age=0, secure=secure)
