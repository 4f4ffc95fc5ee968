"""GET /api/internal/user: a user for service-to-service calls.

Contract: `x-service-auth` = INTERNAL_SERVICE_SECRET (401 INVALID_SERVICE_CREDENTIALS
otherwise; 503 SERVICE_AUTH_DISABLED when unset); exactly one of `?id=`, `?email=`, `?token=`
(400 INVALID_USER_SELECTOR otherwise) → 200 `{"user": {...}}` as Better Auth serialises users,
or 404 USER_NOT_FOUND. A token names the user of a live session (signed or bare).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest

from tests.support.auth_client import (
    API,
    USER_KEYS,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    hmac_signature,
    sign_up,
    utc_now,
)
from tests.support.gateway import (
    DISABLED_ENV,
    GATEWAY_SECRET,
    INTERNAL_USER,
    SERVICE,
    SERVICE_SECRET,
    gateway_server,
    no_tracebacks,
)
from tests.support.server import LiveServer

NOT_FOUND = {"code": "USER_NOT_FOUND", "message": "User not found"}
BAD_SELECTOR = {
    "message": "Give exactly one of the query parameters id, email or token",
    "code": "INVALID_USER_SELECTOR",
}


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return gateway_server(server_factory)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(server) as client, no_tracebacks(server):
        yield client


@pytest.fixture
def user(http: httpx.Client) -> SignedIn:
    return sign_up(http, name="Internal User")


def _get(http: httpx.Client, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return http.get(f"{INTERNAL_USER}{query}", headers=SERVICE if headers is None else headers)


def _assert_user(response: httpx.Response, http: httpx.Client, user: SignedIn) -> None:
    assert response.status_code == 200, response.text
    current = http.get(f"{API}/get-session", headers={"cookie": user.cookie}).json()["user"]
    assert response.json() == {"user": current}
    assert list(response.json()["user"]) == USER_KEYS
    assert response.headers["cache-control"] == "no-store"


# --------------------------------------------------------------------------- the caller


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-service-auth": ""},
        {"x-service-auth": SERVICE_SECRET[:-1] + ("x" if SERVICE_SECRET[-1] != "x" else "y")},
        {"x-service-auth": SERVICE_SECRET[:-1]},
        {"x-service-auth": SERVICE_SECRET + "f"},
        {"x-gateway-auth": GATEWAY_SECRET},
        {"x-service-auth": GATEWAY_SECRET},
    ],
    ids=["missing", "empty", "last-char", "shorter", "longer", "gateway-header", "gateway-secret"],
)
def test_a_missing_or_wrong_service_secret_is_401(
    http: httpx.Client, user: SignedIn, headers: dict[str, str]
) -> None:
    response = _get(http, f"?id={user.user_id}", headers)

    assert response.status_code == 401
    assert response.json() == {
        "message": "Missing or invalid x-service-auth header",
        "code": "INVALID_SERVICE_CREDENTIALS",
    }


def test_the_secret_is_checked_before_the_query(http: httpx.Client) -> None:
    assert _get(http, "", {}).status_code == 401
    assert _get(http, "?id=a&email=b", {"x-service-auth": "nope"}).status_code == 401


def test_without_internal_service_secret_the_endpoint_is_disabled(
    server_factory: Callable[..., LiveServer],
) -> None:
    disabled = server_factory(env=DISABLED_ENV)
    with api_client(disabled) as http:
        for headers in ({}, SERVICE):
            response = _get(http, "?id=x", headers)
            assert response.status_code == 503
            assert response.json() == {
                "message": "INTERNAL_SERVICE_SECRET is not set: this endpoint is disabled",
                "code": "SERVICE_AUTH_DISABLED",
            }


# --------------------------------------------------------------------------- selectors


def test_by_id(http: httpx.Client, user: SignedIn) -> None:
    _assert_user(_get(http, f"?id={user.user_id}"), http, user)


def test_by_email_in_any_case(http: httpx.Client, user: SignedIn) -> None:
    _assert_user(_get(http, f"?email={quote(user.email)}"), http, user)
    _assert_user(_get(http, f"?email={quote(user.email.upper())}"), http, user)


def test_by_session_token_bare_or_signed(http: httpx.Client, user: SignedIn) -> None:
    signed = f"{user.token}.{hmac_signature(user.token)}"
    _assert_user(_get(http, f"?token={user.token}"), http, user)
    _assert_user(_get(http, f"?token={quote(signed, safe='')}"), http, user)
    # Double-encoded, as the cookie value itself (encodeURIComponent of token.sig).
    _assert_user(_get(http, f"?token={quote(quote(signed, safe=''), safe='')}"), http, user)


def test_the_token_of_an_ended_session_finds_nobody(
    http: httpx.Client, server: LiveServer, user: SignedIn, database_url: str
) -> None:
    other = sign_up(http)
    db_fetch(
        database_url,
        "UPDATE session SET expires_at = $1 WHERE token = $2",
        utc_now() - timedelta(seconds=1),
        other.token,
    )
    assert _get(http, f"?token={other.token}").json() == NOT_FOUND

    assert http.post(f"{API}/sign-out", headers=authed(user, server.origin)).status_code == 200
    response = _get(http, f"?token={user.token}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    # The user is still there; only the session ended.
    found = _get(http, f"?id={user.user_id}")
    assert found.status_code == 200
    assert found.json()["user"]["id"] == user.user_id


@pytest.mark.parametrize(
    "query",
    [
        "?id=no-such-user",
        "?email=nobody%40example.com",
        "?token=no-such-token",
        "?id=%00",
        "?email=a%00b%40example.com",
        "?token=%00",
        "?id=" + "x" * 9000,
        "?email=" + "y" * 9000,
        "?id=%C3%A9%E2%9C%93",
        "?token=tok.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
    ],
    ids=[
        "id",
        "email",
        "token",
        "id-nul",
        "email-nul",
        "token-nul",
        "id-huge",
        "email-huge",
        "id-unicode",
        "token-bad-signature",
    ],
)
def test_an_unknown_user_is_404(http: httpx.Client, query: str) -> None:
    response = _get(http, query)

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    "query",
    ["", "?", "?name=x", "?id=", "?id=a&email=b", "?id=a&id=a", "?token=a&email=b&id=c"],
)
def test_anything_but_exactly_one_selector_is_400(http: httpx.Client, query: str) -> None:
    response = _get(http, query)

    assert response.status_code == 400
    assert response.json() == BAD_SELECTOR


def test_unrelated_query_parameters_are_ignored(http: httpx.Client, user: SignedIn) -> None:
    _assert_user(_get(http, f"?id={user.user_id}&trace=1"), http, user)
