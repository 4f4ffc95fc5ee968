"""/api/internal/forward-auth: the check nginx auth_request, Traefik ForwardAuth and Envoy
ext_authz call unchanged.

Contract: any method, the bare path or any sub-path (Envoy appends the original path to its
path_prefix); `x-gateway-auth` as for validate. The credential is the forwarded request's
`Authorization: Bearer` (JWT, or session token signed or bare) or its session cookie. A live
credential answers 200 with an empty body and the identity headers (always all three; the
session id is empty for a JWT; values percent-encoded outside visible ASCII); anything else
401 with an empty body. Never a 5xx for any input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.auth_client import (
    API,
    SESSION_TOKEN,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    hmac_signature,
    sign_in,
    sign_up,
    signed_cookie_value,
    utc_now,
)
from tests.support.gateway import (
    DISABLED_ENV,
    FORWARD_AUTH,
    GATEWAY,
    GATEWAY_SECRET,
    gateway_server,
    jwt_for,
    no_tracebacks,
)
from tests.support.nginx import Nginx, start_nginx
from tests.support.server import LiveServer

USER_ID = "x-auth-user-id"
EMAIL = "x-auth-user-email"
SESSION_ID = "x-auth-session-id"
# Every method the server's HTTP parser (httptools) accepts reaches the route.
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND", "PURGE"]


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return gateway_server(server_factory)


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(server) as client, no_tracebacks(server):
        yield client


@pytest.fixture
def user(http: httpx.Client) -> SignedIn:
    return sign_up(http)


def _session_id(database_url: str, token: str) -> str:
    return str(db_fetch(database_url, "SELECT id FROM session WHERE token = $1", token)[0]["id"])


def _assert_allowed(
    response: httpx.Response, user: SignedIn, *, session_id: str, email: str | None = None
) -> None:
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers[USER_ID] == user.user_id
    assert response.headers[EMAIL] == (email if email is not None else user.email)
    assert response.headers[SESSION_ID] == session_id
    cache = response.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    assert 0 < int(cache.removeprefix("private, max-age=")) <= 30
    assert response.headers["vary"] == "Authorization, Cookie"


def _assert_denied(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["www-authenticate"] == 'Bearer realm="auth-service"'
    for name in (USER_ID, EMAIL, SESSION_ID):
        assert name not in response.headers


# --------------------------------------------------------------------------- as the proxies call it


def test_nginx_and_traefik_style_get_with_the_forwarded_cookie(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    response = http.get(
        FORWARD_AUTH,
        headers={
            **GATEWAY,
            "cookie": f"theme=dark; {user.cookie}",
            "x-forwarded-method": "POST",
            "x-forwarded-proto": "https",
            "x-forwarded-host": "app.example.com",
            "x-forwarded-uri": "/orders/42?x=1",
            "x-original-uri": "/orders/42?x=1",
        },
    )

    _assert_allowed(response, user, session_id=_session_id(database_url, user.token))


@pytest.mark.parametrize("original", ["/some/original/path?x=1&y=%2F", "/", "//a//b/", "/a%20b"])
def test_envoy_style_post_to_the_prefix_plus_original_path(
    http: httpx.Client, user: SignedIn, database_url: str, original: str
) -> None:
    signed = f"{user.token}.{hmac_signature(user.token)}"

    response = http.post(
        FORWARD_AUTH + original,
        headers={**GATEWAY, "authorization": f"Bearer {signed}", "content-length": "0"},
    )

    _assert_allowed(response, user, session_id=_session_id(database_url, user.token))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_on_every_path_is_answered(
    http: httpx.Client, user: SignedIn, database_url: str, method: str
) -> None:
    session_id = _session_id(database_url, user.token)
    for path in (FORWARD_AUTH, f"{FORWARD_AUTH}/api/orders/7"):
        allowed = http.request(
            method, path, headers={**GATEWAY, "authorization": f"Bearer {user.token}"}
        )
        _assert_allowed(allowed, user, session_id=session_id)
        _assert_denied(http.request(method, path, headers=GATEWAY))


def test_head_carries_the_identity_headers(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    response = http.head(FORWARD_AUTH, headers={**GATEWAY, "cookie": user.cookie})

    _assert_allowed(response, user, session_id=_session_id(database_url, user.token))


def test_a_jwt_identifies_the_user_without_a_session_id(http: httpx.Client, user: SignedIn) -> None:
    token = jwt_for(http, user)

    response = http.get(FORWARD_AUTH, headers={**GATEWAY, "authorization": f"Bearer {token}"})

    _assert_allowed(response, user, session_id="")


def test_bearer_wins_over_the_cookie(http: httpx.Client, user: SignedIn, database_url: str) -> None:
    other = sign_up(http)

    response = http.get(
        FORWARD_AUTH,
        headers={**GATEWAY, "cookie": user.cookie, "authorization": f"Bearer {other.token}"},
    )

    _assert_allowed(response, other, session_id=_session_id(database_url, other.token))


def test_a_forwarded_request_body_is_ignored(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    response = http.post(
        f"{FORWARD_AUTH}/upload",
        content=b"\xff" * 100_000,
        headers={**GATEWAY, "cookie": user.cookie, "content-type": "application/json"},
    )

    _assert_allowed(response, user, session_id=_session_id(database_url, user.token))


# --------------------------------------------------------------------------- denied


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"cookie": "theme=dark"},
        {"cookie": f"{SESSION_TOKEN}=garbage"},
        {"cookie": f"{SESSION_TOKEN}={signed_cookie_value('no-such-token')}"},
        {"cookie": f"{SESSION_TOKEN}=%ZZ%"},
        {"cookie": f"{SESSION_TOKEN}={'q' * 20_000}"},
        {"authorization": "Bearer garbage"},
        {"authorization": "Bearer a.b.c"},
        {"authorization": "Bearer ...."},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer " + "w" * 20_000},
        {"authorization": "Bearer tok%00en"},
    ],
)
def test_missing_or_unusable_credentials_are_401(
    http: httpx.Client, headers: dict[str, str]
) -> None:
    _assert_denied(http.get(FORWARD_AUTH, headers={**GATEWAY, **headers}))
    _assert_denied(http.post(f"{FORWARD_AUTH}/x", headers={**GATEWAY, **headers}))


def test_an_expired_session_is_401(http: httpx.Client, user: SignedIn, database_url: str) -> None:
    db_fetch(
        database_url,
        "UPDATE session SET expires_at = $1 WHERE token = $2",
        utc_now() - timedelta(seconds=1),
        user.token,
    )

    _assert_denied(http.get(FORWARD_AUTH, headers={**GATEWAY, "cookie": user.cookie}))


def test_a_revoked_session_is_401_at_once(
    http: httpx.Client, server: LiveServer, user: SignedIn, database_url: str
) -> None:
    other = sign_in(http, user.email)
    headers = {**GATEWAY, "authorization": f"Bearer {other.token}"}
    _assert_allowed(
        http.get(FORWARD_AUTH, headers=headers),
        other,
        session_id=_session_id(database_url, other.token),
    )

    revoked = http.post(
        f"{API}/revoke-session", json={"token": other.token}, headers=authed(user, server.origin)
    )
    assert revoked.status_code == 200

    _assert_denied(http.get(FORWARD_AUTH, headers=headers))


def test_the_gateway_secret_is_required(http: httpx.Client, user: SignedIn) -> None:
    for headers in ({}, {"x-gateway-auth": GATEWAY_SECRET[:-1]}, {"x-gateway-auth": "x"}):
        response = http.get(FORWARD_AUTH, headers={**headers, "cookie": user.cookie})
        assert response.status_code == 401
        assert response.json()["code"] == "INVALID_GATEWAY_CREDENTIALS"
        assert USER_ID not in response.headers


def test_without_api_gateway_secret_forward_auth_is_disabled(
    server_factory: Callable[..., LiveServer],
) -> None:
    disabled = server_factory(env=DISABLED_ENV)
    with api_client(disabled) as http:
        response = http.get(f"{FORWARD_AUTH}/x", headers=GATEWAY)
    assert response.status_code == 503
    assert response.json()["code"] == "GATEWAY_AUTH_DISABLED"


# --------------------------------------------------------------------------- header values


def test_identity_values_are_percent_encoded_never_injected(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    weird = "\u00fcn\u00efc\u00f8de\r\nX-Injected: 1%@example.com"
    db_fetch(database_url, 'UPDATE "user" SET email = $1 WHERE id = $2', weird, user.user_id)

    response = http.get(FORWARD_AUTH, headers={**GATEWAY, "cookie": user.cookie})

    _assert_allowed(
        response,
        user,
        session_id=_session_id(database_url, user.token),
        email="%C3%BCn%C3%AFc%C3%B8de%0D%0AX-Injected:%201%25@example.com",
    )
    assert "x-injected" not in response.headers


def test_identity_header_names_are_configurable(
    server_factory: Callable[..., LiveServer], database_url: str
) -> None:
    custom = gateway_server(
        server_factory,
        GATEWAY_USER_ID_HEADER="X-User",
        GATEWAY_USER_EMAIL_HEADER="X-Email",
        GATEWAY_SESSION_ID_HEADER="X-Session",
        GATEWAY_CACHE_MAX_AGE="0",
    )
    with api_client(custom) as http:
        user = sign_up(http)
        response = http.get(FORWARD_AUTH, headers={**GATEWAY, "cookie": user.cookie})

    assert response.status_code == 200
    assert response.headers["x-user"] == user.user_id
    assert response.headers["x-email"] == user.email
    assert response.headers["x-session"] == _session_id(database_url, user.token)
    assert USER_ID not in response.headers
    assert response.headers["cache-control"] == "private, max-age=0"


# --------------------------------------------------------------------------- a real nginx


@pytest.fixture(scope="module")
def nginx(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    proxy = start_nginx(
        Path(tmp_path_factory.mktemp("nginx")), auth_url=server.url, secret=GATEWAY_SECRET
    )
    yield proxy
    proxy.stop()


def _echo(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return dict(part.split("=", 1) for part in response.text.split("|"))


def test_nginx_auth_request_lets_a_session_through_with_identity_headers(
    nginx: Nginx, http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    with httpx.Client(base_url=nginx.url, timeout=30) as browser:
        got = _echo(browser.get("/orders/42?x=1", headers={"cookie": user.cookie}))
        posted = _echo(browser.post("/orders", content=b'{"a":1}', headers={"cookie": user.cookie}))

    assert got == {
        "user": user.user_id,
        "email": user.email,
        "session": _session_id(database_url, user.token),
        "method": "GET",
        "uri": "/orders/42?x=1",
    }
    assert posted["user"] == user.user_id
    assert posted["method"] == "POST"


def test_nginx_auth_request_with_a_jwt_and_spoofed_identity_headers(
    nginx: Nginx, http: httpx.Client, user: SignedIn
) -> None:
    token = jwt_for(http, user)
    spoofed = {USER_ID: "attacker", EMAIL: "attacker@example.com", SESSION_ID: "forged"}

    with httpx.Client(base_url=nginx.url, timeout=30) as browser:
        echoed = _echo(browser.get("/", headers={"authorization": f"Bearer {token}", **spoofed}))
        denied = browser.get("/", headers=spoofed)

    assert echoed["user"] == user.user_id
    assert echoed["email"] == user.email
    assert echoed["session"] == ""
    assert denied.status_code == 401


def test_nginx_auth_request_refuses_missing_and_revoked_sessions(
    nginx: Nginx, http: httpx.Client, server: LiveServer, user: SignedIn
) -> None:
    with httpx.Client(base_url=nginx.url, timeout=30) as browser:
        assert browser.get("/").status_code == 401
        assert browser.get("/", headers={"cookie": f"{SESSION_TOKEN}=forged"}).status_code == 401
        assert browser.get("/", headers={"cookie": user.cookie}).status_code == 200

        signed_out = http.post(f"{API}/sign-out", headers=authed(user, server.origin))
        assert signed_out.status_code == 200

        assert browser.get("/", headers={"cookie": user.cookie}).status_code == 401
    assert "auth request unexpected status" not in nginx.log()
