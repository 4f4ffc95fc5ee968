"""The links mailed to users, built as Better Auth builds them (spec §4)."""

from __future__ import annotations

from urllib.parse import quote

from auth_service.settings import Settings

AUTH_BASE_PATH = "/api/auth"  # the same as auth.router.BASE_PATH (imported there, not here)


def encode_uri_component(value: str) -> str:
    """JavaScript's encodeURIComponent."""
    return quote(value, safe="-_.!~*'()")


def api_url(settings: Settings, path: str) -> str:
    """`BETTER_AUTH_URL` + `/api/auth` + `path` (Better Auth's `ctx.context.baseURL`)."""
    return f"{settings.base_url}{AUTH_BASE_PATH}{path}"


def verify_email_link(settings: Settings, token: str, callback_url: str | None) -> str:
    callback = encode_uri_component(callback_url or "/")
    return f"{api_url(settings, '/verify-email')}?token={token}&callbackURL={callback}"


def reset_password_link(settings: Settings, token: str, redirect_to: str | None) -> str:
    callback = encode_uri_component(redirect_to) if redirect_to else ""
    return f"{api_url(settings, '/reset-password/' + token)}?callbackURL={callback}"


def delete_account_link(settings: Settings, token: str, callback_url: str | None) -> str:
    callback = encode_uri_component(callback_url or "/")
    return f"{api_url(settings, '/delete-user/callback')}?token={token}&callbackURL={callback}"
