"""Trusted origins and CSRF (spec §8.1): the cookie origin check, the sign-in/up form-CSRF
check with Fetch Metadata, and callback URL validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.support.auth_client import (
    API,
    APP_ORIGIN,
    HTTPS_BASE_URL,
    HTTPS_SERVER_ENV,
    PASSWORD,
    SignedIn,
    api_client,
    error_body,
    session_row,
    shared_server,
    sign_up,
    unique_email,
    users_with_email,
)
from tests.support.server import LiveServer

SIGN_IN = f"{API}/sign-in/email"
SIGN_UP = f"{API}/sign-up/email"
SIGN_OUT = f"{API}/sign-out"
MISSING_ORIGIN = error_body("MISSING_OR_NULL_ORIGIN", "Missing or null Origin")
INVALID_ORIGIN = error_body("INVALID_ORIGIN", "Invalid origin")
CROSS_SITE = error_body(
    "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
    "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
)
INVALID_CALLBACK = error_body("INVALID_CALLBACK_URL", "Invalid callbackURL")
EVIL = "https://evil.example.com"


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


@pytest.fixture(scope="module")
def account(api: httpx.Client) -> SignedIn:
    """One user shared by the tests of this module that do not change it."""
    return sign_up(api)


def _sign_in(api: httpx.Client, account: SignedIn, **headers: str) -> httpx.Response:
    return api.post(SIGN_IN, json={"email": account.email, "password": PASSWORD}, headers=headers)


# --------------------------------------------------------------------------- A.1 cookie origin


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("sign-out", None),
        ("update-user", {"name": "x"}),
        ("revoke-sessions", None),
        ("change-password", {"currentPassword": PASSWORD, "newPassword": "another-pass"}),
        ("sign-in/email", {"email": "a@example.com", "password": PASSWORD}),
    ],
)
def test_a_cookie_bearing_post_without_origin_is_refused(
    api: httpx.Client, account: SignedIn, database_url: str, path: str, body: Any
) -> None:
    response = api.post(f"{API}/{path}", json=body, headers={"cookie": account.cookie})

    assert response.status_code == 403
    assert response.json() == MISSING_ORIGIN
    assert session_row(database_url, account.token) is not None


def test_any_cookie_makes_a_post_subject_to_the_origin_check(api: httpx.Client) -> None:
    response = api.post(SIGN_OUT, headers={"cookie": "unrelated=1"})

    assert response.status_code == 403
    assert response.json() == MISSING_ORIGIN


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"origin": EVIL}, INVALID_ORIGIN),
        ({"origin": "http://127.0.0.1:1"}, INVALID_ORIGIN),
        ({"referer": f"{EVIL}/page"}, INVALID_ORIGIN),
        ({"origin": "null"}, MISSING_ORIGIN),
        ({"origin": "null", "referer": "{own}/page"}, MISSING_ORIGIN),
        ({"origin": "null", "sec-fetch-site": "cross-site"}, MISSING_ORIGIN),
        ({"origin": ""}, MISSING_ORIGIN),
    ],
    ids=[
        "untrusted-origin",
        "other-port",
        "untrusted-referer",
        "null-origin",
        "null-origin-beats-referer",
        "null-origin-cross-site",
        "empty-origin",
    ],
)
def test_a_cookie_bearing_post_from_an_untrusted_or_null_origin_is_refused(
    api: httpx.Client,
    live_server: LiveServer,
    account: SignedIn,
    database_url: str,
    headers: dict[str, str],
    expected: dict[str, str],
) -> None:
    headers = {k: v.replace("{own}", live_server.origin) for k, v in headers.items()}

    response = api.post(SIGN_OUT, headers={"cookie": account.cookie, **headers})

    assert response.status_code == 403
    assert response.json() == expected
    assert session_row(database_url, account.token) is not None


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "{own}"},
        {"origin": "{own}/with/a/path"},
        {"referer": "{own}/settings?tab=1"},
        {"origin": "", "referer": "{own}/"},
        {"origin": "null", "sec-fetch-site": "same-origin"},
    ],
    ids=[
        "origin",
        "origin-with-path",
        "referer-fallback",
        "empty-origin-then-referer",
        "null-origin-same-origin-fetch",
    ],
)
def test_a_cookie_bearing_post_from_the_service_origin_is_accepted(
    api: httpx.Client, live_server: LiveServer, database_url: str, headers: dict[str, str]
) -> None:
    user = sign_up(api)
    headers = {k: v.replace("{own}", live_server.origin) for k, v in headers.items()}

    response = api.post(SIGN_OUT, headers={"cookie": user.cookie, **headers})

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert session_row(database_url, user.token) is None


def test_get_requests_are_never_origin_checked(api: httpx.Client, account: SignedIn) -> None:
    response = api.get(f"{API}/get-session", headers={"cookie": account.cookie, "origin": EVIL})

    assert response.json()["session"]["token"] == account.token


def test_a_cookieless_post_skips_the_origin_check(api: httpx.Client) -> None:
    response = api.post(SIGN_OUT, headers={"origin": EVIL})

    assert response.status_code == 200
    assert response.json() == {"success": True}


# --------------------------------------------------------------------------- B. form CSRF


@pytest.mark.parametrize("path", [SIGN_IN, SIGN_UP])
def test_cross_site_navigation_login_is_blocked(
    api: httpx.Client, live_server: LiveServer, database_url: str, path: str
) -> None:
    email = unique_email("csrf")
    body = {"name": "x", "email": email, "password": PASSWORD}
    for extra in ({}, {"origin": live_server.origin}):
        response = api.post(
            path,
            json=body,
            headers={
                "sec-fetch-site": "cross-site",
                "sec-fetch-mode": "navigate",
                **extra,
            },
        )

        assert response.status_code == 403
        assert response.json() == CROSS_SITE
    assert users_with_email(database_url, email) == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"sec-fetch-mode": "cors"}, MISSING_ORIGIN),
        ({"sec-fetch-site": "same-origin"}, MISSING_ORIGIN),
        ({"sec-fetch-dest": "empty"}, MISSING_ORIGIN),
        ({"sec-fetch-site": "none", "sec-fetch-mode": "navigate"}, MISSING_ORIGIN),
        ({"sec-fetch-mode": "cors", "origin": EVIL}, INVALID_ORIGIN),
        ({"origin": EVIL}, INVALID_ORIGIN),
        ({"referer": f"{EVIL}/login"}, INVALID_ORIGIN),
        ({"origin": "null"}, MISSING_ORIGIN),
    ],
    ids=[
        "cors-without-origin",
        "same-origin-without-origin",
        "dest-without-origin",
        "typed-url-navigation",
        "cors-untrusted",
        "untrusted-origin",
        "untrusted-referer",
        "null-origin",
    ],
)
def test_cookieless_sign_in_from_a_browser_needs_a_trusted_origin(
    api: httpx.Client, account: SignedIn, headers: dict[str, str], expected: dict[str, str]
) -> None:
    response = _sign_in(api, account, **headers)

    assert response.status_code == 403
    assert response.json() == expected


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", "origin": "{own}"},
        {"sec-fetch-site": "same-site", "sec-fetch-mode": "navigate", "origin": "{own}"},
        {"referer": "{own}/login"},
        {"sec-fetch-user": "?1"},
    ],
    ids=[
        "server-to-server",
        "same-origin-fetch",
        "same-site-form",
        "trusted-referer",
        "only-sec-fetch-user",
    ],
)
def test_cookieless_sign_in_is_allowed_from_trusted_or_non_browser_callers(
    api: httpx.Client, live_server: LiveServer, account: SignedIn, headers: dict[str, str]
) -> None:
    headers = {k: v.replace("{own}", live_server.origin) for k, v in headers.items()}

    response = _sign_in(api, account, **headers)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.user_id


def test_sign_up_from_an_untrusted_origin_writes_nothing(
    api: httpx.Client, database_url: str
) -> None:
    email = unique_email("evil")
    response = api.post(
        SIGN_UP, json={"name": "x", "email": email, "password": PASSWORD}, headers={"origin": EVIL}
    )

    assert response.status_code == 403
    assert response.json() == INVALID_ORIGIN
    assert users_with_email(database_url, email) == []


# --------------------------------------------------------------------------- A.2 callback URLs


@pytest.mark.parametrize(
    "callback",
    ["/dashboard", "/a/b?c=d#e", "{own}/welcome", ""],
    ids=["relative", "relative-with-query", "own-origin", "empty"],
)
def test_trusted_and_relative_callback_urls_are_accepted(
    api: httpx.Client, live_server: LiveServer, account: SignedIn, callback: str
) -> None:
    callback = callback.replace("{own}", live_server.origin)
    response = api.post(
        SIGN_IN, json={"email": account.email, "password": PASSWORD, "callbackURL": callback}
    )

    assert response.status_code == 200
    assert response.json()["url"] == callback


@pytest.mark.parametrize(
    "callback",
    [
        "//evil.example.com",
        "https://evil.example.com/x",
        "HTTPS://EVIL.EXAMPLE.COM",
        "http://127.0.0.1:1/x",
        "/\\evil.example.com",
        "/%2F%2Fevil.example.com",
        "javascript:alert(1)",
        "dashboard",
    ],
    ids=[
        "protocol-relative",
        "absolute",
        "upper-case",
        "other-port",
        "backslash",
        "encoded-slashes",
        "javascript",
        "not-rooted",
    ],
)
def test_untrusted_callback_urls_are_403(
    api: httpx.Client, account: SignedIn, callback: str
) -> None:
    response = api.post(
        SIGN_IN, json={"email": account.email, "password": PASSWORD, "callbackURL": callback}
    )

    assert response.status_code == 403
    assert response.json() == INVALID_CALLBACK
    assert response.headers.get_list("set-cookie") == []


def test_an_untrusted_callback_url_on_sign_up_writes_nothing(
    api: httpx.Client, database_url: str
) -> None:
    email = unique_email("cb")
    response = api.post(
        SIGN_UP,
        json={
            "name": "x",
            "email": email,
            "password": PASSWORD,
            "callbackURL": "//evil.example.com",
        },
    )

    assert response.status_code == 403
    assert response.json() == INVALID_CALLBACK
    assert users_with_email(database_url, email) == []


def test_the_callback_url_may_come_from_the_query(api: httpx.Client, account: SignedIn) -> None:
    body = {"email": account.email, "password": PASSWORD}

    untrusted = api.post(f"{SIGN_IN}?callbackURL={EVIL}", json=body)
    relative = api.post(f"{SIGN_IN}?callbackURL=/home", json=body)

    assert untrusted.status_code == 403
    assert untrusted.json() == INVALID_CALLBACK
    assert relative.status_code == 200


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"redirectTo": EVIL}, error_body("INVALID_REDIRECT_URL", "Invalid redirectURL")),
        (
            {"errorCallbackURL": EVIL},
            error_body("INVALID_ERROR_CALLBACK_URL", "Invalid errorCallbackURL"),
        ),
        (
            {"newUserCallbackURL": EVIL},
            error_body("INVALID_NEW_USER_CALLBACK_URL", "Invalid newUserCallbackURL"),
        ),
        ({"callbackURL": EVIL}, INVALID_CALLBACK),
    ],
    ids=["redirectTo", "errorCallbackURL", "newUserCallbackURL", "callbackURL"],
)
def test_every_post_checks_all_callback_like_body_keys(
    api: httpx.Client, body: dict[str, str], expected: dict[str, str]
) -> None:
    response = api.post(SIGN_OUT, json=body)

    assert response.status_code == 403
    assert response.json() == expected
    assert response.headers.get_list("set-cookie") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"callbackURL": 5}, "Invalid callbackURL: expected a string"),
        ({"callbackURL": True}, "Invalid callbackURL: expected a string"),
        ({"callbackURL": ["/x"]}, "Invalid callbackURL: expected a string"),
        ({"callbackURL": {}}, "Invalid callbackURL: expected a string"),
        ({"redirectTo": 5}, "Invalid redirectURL: expected a string"),
    ],
    ids=["number", "true", "array", "object", "redirectTo-number"],
)
def test_a_non_string_callback_url_is_400_without_code(
    api: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = api.post(SIGN_OUT, json=body)

    assert response.status_code == 400
    assert response.json() == {"message": message}


def test_a_falsy_non_string_callback_url_is_left_to_validation(api: httpx.Client) -> None:
    response = api.post(SIGN_OUT, json={"callbackURL": 0})

    assert response.status_code == 400
    assert response.json() == error_body(
        "VALIDATION_ERROR", "[body.callbackURL] Invalid input: expected string, received number"
    )


# --------------------------------------------------------------------------- configured origins

BASE_URL = HTTPS_BASE_URL


@pytest.fixture(scope="module")
def configured_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A service behind https://auth.example.test that also trusts an app and a wildcard."""
    return shared_server(server_factory, HTTPS_SERVER_ENV)


@pytest.fixture(scope="module")
def configured(configured_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(configured_server) as http:
        yield http


@pytest.mark.parametrize(
    "origin",
    [APP_ORIGIN, BASE_URL, "https://shop.trusted.example"],
    ids=["cors-origin", "base-url", "trusted-wildcard"],
)
def test_configured_origins_are_trusted_for_cookie_posts(
    configured: httpx.Client, origin: str
) -> None:
    user = sign_up(configured, secure=True)

    response = configured.post(
        f"{API}/update-user",
        json={"name": "From app"},
        headers={"cookie": user.cookie, "origin": origin},
    )

    assert response.status_code == 200
    assert response.json() == {"status": True}


def test_origins_outside_the_configuration_stay_untrusted(configured: httpx.Client) -> None:
    user = sign_up(configured, secure=True)

    for origin in (EVIL, "https://app.example.com.evil.test", "http://app.example.com"):
        response = configured.post(
            f"{API}/update-user",
            json={"name": "x"},
            headers={"cookie": user.cookie, "origin": origin},
        )
        assert response.status_code == 403
        assert response.json() == INVALID_ORIGIN


def test_a_cors_origin_is_a_trusted_callback_target(configured: httpx.Client) -> None:
    user = sign_up(configured, secure=True)

    response = configured.post(
        SIGN_IN,
        json={"email": user.email, "password": PASSWORD, "callbackURL": f"{APP_ORIGIN}/welcome"},
    )

    assert response.status_code == 200
    assert response.json()["url"] == f"{APP_ORIGIN}/welcome"


def test_null_origin_same_origin_is_judged_by_the_request_host(
    configured: httpx.Client,
) -> None:
    # The request reaches http://127.0.0.1:<port>, which is not BETTER_AUTH_URL and not trusted.
    user = sign_up(configured, secure=True)

    response = configured.post(
        f"{API}/update-user",
        json={"name": "x"},
        headers={
            "cookie": user.cookie,
            "origin": "null",
            "sec-fetch-site": "same-origin",
        },
    )

    assert response.status_code == 403
    assert response.json() == INVALID_ORIGIN
