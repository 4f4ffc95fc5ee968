"""Session cookies on the wire: names, attribute order, the signed value (checked with an
independent HMAC computation), rememberMe:false, clearing, and the `__Secure-` variants."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.support.auth_client import (
    API,
    HTTPS_BASE_URL,
    HTTPS_SERVER_ENV,
    PASSWORD,
    SignedIn,
    api_client,
    authed,
    clearing_lines,
    session_cookie,
    set_cookie_lines,
    shared_server,
    sign_in,
    sign_up,
)
from tests.support.server import LiveServer

LOGIN_ATTRIBUTES = "Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
SECURE_LOGIN_ATTRIBUTES = "Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax"


def expected_value(value: str) -> str:
    """encodeURIComponent(value + "." + base64(HMAC-SHA256(secret, value))), computed here."""
    mac = hmac.new(TEST_SECRET.encode("utf-8"), value.encode("utf-8"), hashlib.sha256)
    signature = base64.b64encode(mac.digest()).decode("ascii")
    assert len(signature) == 44
    assert signature.endswith("=")
    return quote(f"{value}.{signature}", safe="-_.!~*'()")


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


def test_sign_up_sets_one_signed_session_cookie(api: httpx.Client) -> None:
    created = sign_up(api)

    assert set_cookie_lines(created.response) == [
        f"better-auth.session_token={expected_value(created.token)}; {LOGIN_ATTRIBUTES}"
    ]


def test_sign_in_sets_one_signed_session_cookie(api: httpx.Client) -> None:
    created = sign_up(api)

    signed = sign_in(api, created.email)

    assert set_cookie_lines(signed.response) == [
        f"better-auth.session_token={expected_value(signed.token)}; {LOGIN_ATTRIBUTES}"
    ]


def test_the_cookie_value_is_url_encoded_token_dot_signature(api: httpx.Client) -> None:
    created = sign_up(api)
    [line] = set_cookie_lines(created.response)
    value = line.split(";", 1)[0].split("=", 1)[1]

    token, _, signature = unquote(value).rpartition(".")

    assert token == created.token
    mac = hmac.new(TEST_SECRET.encode(), token.encode(), hashlib.sha256).digest()
    assert base64.b64decode(signature) == mac
    assert "/" not in value
    assert "+" not in value
    assert "=" not in value  # base64 padding and symbols are percent-encoded


def test_remember_me_false_drops_max_age_and_adds_signed_dont_remember(
    api: httpx.Client,
) -> None:
    created = sign_up(api, rememberMe=False)
    signed = sign_in(api, created.email, rememberMe=False)

    for session in (created, signed):
        assert set_cookie_lines(session.response) == [
            f"better-auth.session_token={expected_value(session.token)}; "
            "Path=/; HttpOnly; SameSite=Lax",
            f"better-auth.dont_remember={expected_value('true')}; Path=/; HttpOnly; SameSite=Lax",
        ]


def test_sign_out_emits_the_three_clearing_cookies_in_order(
    api: httpx.Client, live_server: LiveServer
) -> None:
    created = sign_up(api)

    response = api.post(f"{API}/sign-out", headers=authed(created, live_server.origin))

    assert set_cookie_lines(response) == [
        "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_a_cookie_signed_with_another_secret_is_ignored(api: httpx.Client) -> None:
    created = sign_up(api)
    forged = session_cookie(created.token, secret="better-auth-secret-12345678901234567890")

    response = api.get(f"{API}/get-session", headers={"cookie": forged})

    assert response.content == b"null"
    assert set_cookie_lines(response) == []


# --------------------------------------------------------------------------- secure cookies


@pytest.fixture(scope="module")
def https_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return shared_server(server_factory, HTTPS_SERVER_ENV)


@pytest.fixture(scope="module")
def forced_secure_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory({"USE_SECURE_COOKIES": "true"})


@pytest.fixture(params=["https-base-url", "use-secure-cookies"])
def secure_server(
    request: pytest.FixtureRequest, https_server: LiveServer, forced_secure_server: LiveServer
) -> LiveServer:
    return https_server if request.param == "https-base-url" else forced_secure_server


def _trusted_origin(server: LiveServer) -> str:
    return HTTPS_BASE_URL if server.env.get("BETTER_AUTH_URL") else server.origin


def test_secure_servers_use_the_secure_prefix_and_flag(secure_server: LiveServer) -> None:
    with api_client(secure_server) as http:
        created = sign_up(http, secure=True)
        short = sign_in(http, created.email, secure=True, rememberMe=False)

    assert set_cookie_lines(created.response) == [
        f"__Secure-better-auth.session_token={expected_value(created.token)}; "
        f"{SECURE_LOGIN_ATTRIBUTES}"
    ]
    assert set_cookie_lines(short.response) == [
        f"__Secure-better-auth.session_token={expected_value(short.token)}; "
        "Path=/; HttpOnly; Secure; SameSite=Lax",
        f"__Secure-better-auth.dont_remember={expected_value('true')}; "
        "Path=/; HttpOnly; Secure; SameSite=Lax",
    ]


def test_secure_servers_read_only_the_prefixed_cookie(secure_server: LiveServer) -> None:
    with api_client(secure_server) as http:
        created = sign_up(http, secure=True)
        plain = SignedIn(created.email, PASSWORD, created.token, created.user, created.response)

        prefixed = http.get(f"{API}/get-session", headers={"cookie": created.cookie})
        unprefixed = http.get(f"{API}/get-session", headers={"cookie": plain.cookie})

    assert prefixed.json()["session"]["token"] == created.token
    assert unprefixed.content == b"null"
    assert set_cookie_lines(unprefixed) == []


def test_secure_servers_clear_the_prefixed_cookies(secure_server: LiveServer) -> None:
    with api_client(secure_server) as http:
        created = sign_up(http, secure=True)
        response = http.post(
            f"{API}/sign-out", headers=authed(created, _trusted_origin(secure_server))
        )

    assert response.status_code == 200
    assert set_cookie_lines(response) == clearing_lines(secure=True)
    assert set_cookie_lines(response)[0] == (
        "__Secure-better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
    )


# --------------------------------------------------------------------------- dont_remember


def _browser_headers(server: LiveServer, cookie: str) -> dict[str, str]:
    return {"cookie": cookie, "origin": server.origin}


@pytest.mark.parametrize("remember_me", [None, True], ids=["default", "explicit-true"])
def test_a_remembered_sign_in_expires_a_leftover_dont_remember_cookie(
    api: httpx.Client, live_server: LiveServer, remember_me: bool | None
) -> None:
    created = sign_up(api)
    extra: dict[str, Any] = {} if remember_me is None else {"rememberMe": remember_me}
    leftover = f"better-auth.dont_remember={expected_value('true')}"

    signed = sign_in(api, created.email, headers=_browser_headers(live_server, leftover), **extra)

    assert set_cookie_lines(signed.response) == [
        f"better-auth.session_token={expected_value(signed.token)}; {LOGIN_ATTRIBUTES}",
        "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_sign_up_expires_a_leftover_dont_remember_cookie(
    api: httpx.Client, live_server: LiveServer
) -> None:
    leftover = f"better-auth.dont_remember={expected_value('true')}"

    created = sign_up(api, headers=_browser_headers(live_server, leftover))

    assert set_cookie_lines(created.response)[1:] == [
        "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_an_unsigned_dont_remember_cookie_is_ignored(
    api: httpx.Client, live_server: LiveServer
) -> None:
    created = sign_up(api, headers=_browser_headers(live_server, "better-auth.dont_remember=true"))

    assert set_cookie_lines(created.response) == [
        f"better-auth.session_token={expected_value(created.token)}; {LOGIN_ATTRIBUTES}"
    ]


def test_a_forgotten_sign_in_keeps_the_dont_remember_cookie(
    api: httpx.Client, live_server: LiveServer
) -> None:
    created = sign_up(api)
    leftover = f"better-auth.dont_remember={expected_value('true')}"

    signed = sign_in(
        api, created.email, headers=_browser_headers(live_server, leftover), rememberMe=False
    )

    assert set_cookie_lines(signed.response) == [
        f"better-auth.session_token={expected_value(signed.token)}; Path=/; HttpOnly; SameSite=Lax",
        f"better-auth.dont_remember={expected_value('true')}; Path=/; HttpOnly; SameSite=Lax",
    ]


@pytest.mark.parametrize("signed_value", ["true", "false"])
def test_any_signed_dont_remember_value_keeps_later_cookies_session_only(
    api: httpx.Client, live_server: LiveServer, signed_value: str
) -> None:
    # Better Auth tests the signed value for truthiness, so even "false" means "don't remember".
    created = sign_up(api)
    cookie = f"{created.cookie}; better-auth.dont_remember={expected_value(signed_value)}"

    response = api.post(
        f"{API}/update-user", json={"name": "n"}, headers=_browser_headers(live_server, cookie)
    )

    assert set_cookie_lines(response) == [
        f"better-auth.session_token={expected_value(created.token)}; Path=/; HttpOnly; "
        "SameSite=Lax",
        f"better-auth.dont_remember={expected_value('true')}; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_change_password_new_session_cookie_follows_dont_remember(
    api: httpx.Client, live_server: LiveServer
) -> None:
    created = sign_up(api)
    cookie = f"{created.cookie}; better-auth.dont_remember={expected_value('true')}"

    response = api.post(
        f"{API}/change-password",
        json={
            "currentPassword": PASSWORD,
            "newPassword": "another-password-1",
            "revokeOtherSessions": True,
        },
        headers=_browser_headers(live_server, cookie),
    )

    token = response.json()["token"]
    assert set_cookie_lines(response) == [
        f"better-auth.session_token={expected_value(token)}; Path=/; HttpOnly; SameSite=Lax",
        f"better-auth.dont_remember={expected_value('true')}; Path=/; HttpOnly; SameSite=Lax",
    ]
