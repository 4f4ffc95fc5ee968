"""Trusted origins and the origin / CSRF checks of Better Auth (spec §8.1)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from auth_service.core.errors import APIError, ErrorCode
from auth_service.core.validation import is_js_truthy

# Body or query keys holding URLs that must be trusted, with the error each one raises.
CALLBACK_FIELDS: tuple[tuple[str, str, ErrorCode], ...] = (
    ("callbackURL", "callbackURL", ErrorCode.INVALID_CALLBACK_URL),
    ("redirectTo", "redirectURL", ErrorCode.INVALID_REDIRECT_URL),
    ("errorCallbackURL", "errorCallbackURL", ErrorCode.INVALID_ERROR_CALLBACK_URL),
    ("newUserCallbackURL", "newUserCallbackURL", ErrorCode.INVALID_NEW_USER_CALLBACK_URL),
)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, or None when it has no scheme and host."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def is_safe_relative_path(url: str) -> bool:
    """A root-relative path that cannot leave the site: `/x`, not `//x`, no `\\`."""
    if not url.startswith("/") or url.startswith("//"):
        return False
    lowered = url.lower()
    return "\\" not in url and "%2f" not in lowered and "%5c" not in lowered


class TrustedOrigins:
    """The set of origins allowed to call with cookies and to be redirected to."""

    def __init__(self, origins: Iterable[str]) -> None:
        exact: set[str] = set()
        patterns: list[str] = []
        scheme_prefixes: list[str] = []
        for raw_entry in origins:
            entry = raw_entry.strip().rstrip("/").lower()
            if not entry:
                continue
            if "*" in entry or "?" in entry:
                patterns.append(entry)
            elif origin_of(entry) is not None:
                exact.add(origin_of(entry) or entry)
            elif "://" in entry or entry.endswith(":"):
                scheme_prefixes.append(entry)  # custom schemes such as `myapp://`
        self._exact = frozenset(exact)
        self._patterns = tuple(patterns)
        self._scheme_prefixes = tuple(scheme_prefixes)

    def contains_url(self, url: str) -> bool:
        origin = origin_of(url)
        if origin is None:
            return any(url.lower().startswith(prefix) for prefix in self._scheme_prefixes)
        if origin in self._exact:
            return True
        host = urlsplit(origin).netloc
        for pattern in self._patterns:
            target = origin if "://" in pattern else host
            if fnmatch.fnmatchcase(target, pattern):
                return True
        return any(url.lower().startswith(prefix) for prefix in self._scheme_prefixes)

    def allows_target(self, url: str) -> bool:
        """A callback or redirect target: a trusted origin or a safe relative path, without
        control characters (urlsplit drops CR, LF and tab; a Location header must never get
        them)."""
        if not url.isprintable():
            return False
        return is_safe_relative_path(url) or self.contains_url(url)


def check_request_origin(
    trusted: TrustedOrigins, headers: Mapping[str, str], own_origin: str
) -> None:
    """Rule A.1: a request carrying cookies must come from a trusted Origin or Referer."""
    origin = headers.get("origin") or headers.get("referer") or ""
    if origin == "null" and headers.get("sec-fetch-site") == "same-origin":
        origin = own_origin
    if not origin or origin == "null":
        raise APIError(403, ErrorCode.MISSING_OR_NULL_ORIGIN)
    if not trusted.contains_url(origin):
        raise APIError(403, ErrorCode.INVALID_ORIGIN)


def check_form_csrf(
    trusted: TrustedOrigins, headers: Mapping[str, str], own_origin: str, has_cookie: bool
) -> None:
    """Rule B, for sign-in and sign-up (they accept form posts from other sites)."""
    if has_cookie:
        check_request_origin(trusted, headers, own_origin)
        return
    site = headers.get("sec-fetch-site", "")
    mode = headers.get("sec-fetch-mode", "")
    dest = headers.get("sec-fetch-dest", "")
    if site.strip() or mode.strip() or dest.strip():
        if site == "cross-site" and mode == "navigate":
            raise APIError(403, ErrorCode.CROSS_SITE_NAVIGATION_LOGIN_BLOCKED)
        check_request_origin(trusted, headers, own_origin)
        return
    if headers.get("origin") or headers.get("referer"):
        check_request_origin(trusted, headers, own_origin)


def check_callback_urls(
    trusted: TrustedOrigins, body: Mapping[str, object], query: Mapping[str, str]
) -> None:
    """Rule A.2: every callback-like URL in the body is trusted or relative.

    As Better Auth: `callbackURL` comes from the body, else from the query; the other keys only
    from the body; values that are falsy in JavaScript ("" , 0, false, null) are not checked.
    """
    for key, label, code in CALLBACK_FIELDS:
        value = body.get(key)
        if key == "callbackURL" and not is_js_truthy(value):
            value = query.get(key)
        if not is_js_truthy(value):
            continue
        if not isinstance(value, str):
            raise APIError(400, None, f"Invalid {label}: expected a string")
        if not trusted.allows_target(value):
            raise APIError(403, code)


def check_query_callback_url(trusted: TrustedOrigins, query: Mapping[str, str]) -> None:
    """Rule C: a GET endpoint's `callbackURL` query (verify-email, reset-password/:token,
    delete-user/callback) is a trusted origin or a safe relative path."""
    value = query.get("callbackURL")
    if value and not trusted.allows_target(value):
        raise APIError(403, ErrorCode.INVALID_CALLBACK_URL)
