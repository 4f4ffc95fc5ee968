"""Helpers for the behaviour tests of the auth endpoints.

Everything here is computed independently of the service's code: cookie values are signed
with hmac/hashlib/base64/urllib and the test secret, Set-Cookie lines are parsed by hand,
and the database is read with asyncpg directly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from tests.conftest import TEST_SECRET
from tests.support.server import LiveServer, keep_for_the_session

API = "/api/auth"
PASSWORD = "correct-horse-battery"
COOKIE_PREFIX = "better-auth"
SESSION_TOKEN = f"{COOKIE_PREFIX}.session_token"
SESSION_DATA = f"{COOKIE_PREFIX}.session_data"
DONT_REMEMBER = f"{COOKIE_PREFIX}.dont_remember"
WEEK = 7 * 24 * 3600
DAY = 24 * 3600

ISO_JS_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ID_32 = re.compile(r"^[A-Za-z0-9]{32}$")
USER_KEYS = ["name", "email", "emailVerified", "image", "createdAt", "updatedAt", "id"]
SESSION_KEYS = [
    "expiresAt",
    "token",
    "createdAt",
    "updatedAt",
    "ipAddress",
    "userAgent",
    "userId",
    "id",
]

# encodeURIComponent leaves these unescaped besides ASCII letters and digits.
_URI_COMPONENT_SAFE = "-_.!~*'()"


class NoCookieJar(CookieJar):
    """A jar that keeps nothing: every request carries exactly the cookies a test gives it."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


def api_client(server: LiveServer) -> httpx.Client:
    """An HTTP client for `server` that never stores cookies between requests."""
    return server.client(cookies=NoCookieJar())


# A service behind an https BETTER_AUTH_URL that also trusts an app origin and a wildcard: the
# secure-cookie tests and the configured-origin tests share one such server.
HTTPS_BASE_URL = "https://auth.example.test"
APP_ORIGIN = "https://app.example.com"
HTTPS_SERVER_ENV = {
    "BETTER_AUTH_URL": HTTPS_BASE_URL,
    "CORS_ORIGINS": APP_ORIGIN,
    "BETTER_AUTH_TRUSTED_ORIGINS": "https://*.trusted.example",
}
_shared_servers: dict[tuple[tuple[str, str], ...], LiveServer] = {}


def shared_server(factory: Callable[..., LiveServer], env: Mapping[str, str]) -> LiveServer:
    """One server per distinct settings for the whole run (`server_factory` stops them)."""
    key = tuple(sorted(env.items()))
    if key not in _shared_servers:
        _shared_servers[key] = keep_for_the_session(factory(dict(env)))
    return _shared_servers[key]


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


# --------------------------------------------------------------------------- cookies


def hmac_signature(value: str, secret: str = TEST_SECRET) -> str:
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signed_cookie_value(value: str, secret: str = TEST_SECRET) -> str:
    """Better Auth's cookie value: encodeURIComponent(value + "." + base64(HMAC-SHA256))."""
    return quote(f"{value}.{hmac_signature(value, secret)}", safe=_URI_COMPONENT_SAFE)


def cookie_name(name: str, *, secure: bool = False) -> str:
    return f"__Secure-{name}" if secure else name


def session_cookie(token: str, *, secure: bool = False, secret: str = TEST_SECRET) -> str:
    """A `Cookie` header carrying the signed session token."""
    return f"{cookie_name(SESSION_TOKEN, secure=secure)}={signed_cookie_value(token, secret)}"


def dont_remember_cookie(*, secure: bool = False) -> str:
    return f"{cookie_name(DONT_REMEMBER, secure=secure)}={signed_cookie_value('true')}"


@dataclass(frozen=True)
class SetCookie:
    name: str
    value: str
    attributes: list[str]

    @classmethod
    def parse(cls, line: str) -> SetCookie:
        pair, *attributes = line.split("; ")
        name, _, value = pair.partition("=")
        return cls(name=name, value=value, attributes=attributes)


def set_cookie_lines(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def set_cookies(response: httpx.Response) -> list[SetCookie]:
    return [SetCookie.parse(line) for line in set_cookie_lines(response)]


def clearing_lines(*, secure: bool = False) -> list[str]:
    """The three Set-Cookie lines Better Auth sends to end a session, in its order."""
    flags = "HttpOnly; Secure; SameSite=Lax" if secure else "HttpOnly; SameSite=Lax"
    return [
        f"{cookie_name(name, secure=secure)}=; Max-Age=0; Path=/; {flags}"
        for name in (SESSION_TOKEN, SESSION_DATA, DONT_REMEMBER)
    ]


# --------------------------------------------------------------------------- sign-up / sign-in


@dataclass
class SignedIn:
    """A user with a live session, as the sign-up or sign-in response described it."""

    email: str
    password: str
    token: str
    user: dict[str, Any]
    response: httpx.Response
    secure: bool = False
    extra_cookies: list[str] = field(default_factory=list)

    @property
    def user_id(self) -> str:
        return str(self.user["id"])

    @property
    def cookie(self) -> str:
        """The `Cookie` header a browser would send back."""
        return "; ".join([session_cookie(self.token, secure=self.secure), *self.extra_cookies])


def _signed_in(response: httpx.Response, email: str, password: str, *, secure: bool) -> SignedIn:
    assert response.status_code == 200, response.text
    body = response.json()
    return SignedIn(
        email=email.lower(),
        password=password,
        token=body["token"],
        user=body["user"],
        response=response,
        secure=secure,
    )


def sign_up(
    client: httpx.Client,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    name: str = "Test User",
    headers: Mapping[str, str] | None = None,
    secure: bool = False,
    **extra: Any,
) -> SignedIn:
    email = email or unique_email()
    response = client.post(
        f"{API}/sign-up/email",
        json={"name": name, "email": email, "password": password, **extra},
        headers=headers,
    )
    return _signed_in(response, email, password, secure=secure)


def sign_in(
    client: httpx.Client,
    email: str,
    password: str = PASSWORD,
    *,
    headers: Mapping[str, str] | None = None,
    secure: bool = False,
    **extra: Any,
) -> SignedIn:
    response = client.post(
        f"{API}/sign-in/email",
        json={"email": email, "password": password, **extra},
        headers=headers,
    )
    return _signed_in(response, email, password, secure=secure)


def authed(user: SignedIn, origin: str, **headers: str) -> dict[str, str]:
    """Headers of a browser request with the user's cookie from a trusted page."""
    return {"cookie": user.cookie, "origin": origin, **headers}


def error_body(code: str, message: str) -> dict[str, str]:
    return {"message": message, "code": code}


# --------------------------------------------------------------------------- database


def _asyncpg_dsn(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def db_fetch(database_url: str, sql: str, *args: object) -> list[dict[str, Any]]:
    """Run one statement on the test database and return its rows."""

    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(_asyncpg_dsn(database_url))
        try:
            return [dict(row) for row in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(run())


def db_one(database_url: str, sql: str, *args: object) -> dict[str, Any]:
    rows = db_fetch(database_url, sql, *args)
    assert len(rows) == 1, rows
    return rows[0]


def user_count(database_url: str) -> int:
    return int(db_one(database_url, 'SELECT count(*) AS n FROM "user"')["n"])


def users_with_email(database_url: str, email: str) -> list[dict[str, Any]]:
    return db_fetch(database_url, 'SELECT * FROM "user" WHERE email = $1', email)


def session_row(database_url: str, token: str) -> dict[str, Any] | None:
    rows = db_fetch(database_url, "SELECT * FROM session WHERE token = $1", token)
    return rows[0] if rows else None


def session_tokens(database_url: str, user_id: str) -> set[str]:
    rows = db_fetch(database_url, "SELECT token FROM session WHERE user_id = $1", user_id)
    return {row["token"] for row in rows}


def credential_hash(database_url: str, user_id: str) -> str:
    row = db_one(
        database_url,
        "SELECT password FROM account WHERE user_id = $1 AND provider_id = 'credential'",
        user_id,
    )
    return str(row["password"])


def utc_now() -> datetime:
    """Now as the naive UTC the `timestamp` columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def parse_js_date(value: str) -> datetime:
    """A `2026-11-30T00:22:16.344Z` string as naive UTC."""
    assert ISO_JS_DATE.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def assert_close(actual: datetime, expected: datetime, *, seconds: float = 10) -> None:
    assert abs(actual - expected) < timedelta(seconds=seconds), (actual, expected)
