"""Hostile input: oversized requests, injection attempts, forged credentials; security headers.

Oversized headers are refused with 431 and oversized bodies with 413 (limits configurable) before
routing, a declared-too-large body before any of it is sent; SQL text in every stored field is
stored verbatim; CR/LF can never reach a response header; forged, tampered and replayed cookies
and expired JWTs identify nobody. Every answer is a clear 4xx JSON error, never a 5xx, and the
server logs no traceback. Every response, refusals and 404s included, carries the security
headers (docs/security.md).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.auth_client import (
    API,
    HTTPS_SERVER_ENV,
    PASSWORD,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    db_one,
    session_cookie,
    session_row,
    shared_server,
    sign_in,
    sign_up,
    signed_cookie_value,
    unique_email,
)
from tests.support.gateway import GATEWAY_ENV, INVALID, jwt_for, no_tracebacks, validate
from tests.support.server import LiveServer

SIGN_IN = f"{API}/sign-in/email"
SIGN_UP = f"{API}/sign-up/email"
LIMITS_ENV = {
    **GATEWAY_ENV,
    "MAX_BODY_BYTES": "4096",
    "MAX_HEADER_BYTES": "2048",
    "MAX_HEADER_COUNT": "20",
    "JWT_EXPIRES_IN": "1",
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_STORAGE": "memory",
    # Sign-ups here come from no trusted IP (one shared bucket): only sign-in is limited.
    "RATE_LIMIT_CUSTOM_RULES": json.dumps({"/sign-up/email": False}),
}
ALWAYS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
STRICT_CSP = "default-src 'none'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
SQL = [
    '\'; DROP TABLE "user"; --',
    "' OR '1'='1",
    "1; SELECT pg_sleep(5)--",
    '"); DELETE FROM session; --',
    "\\'; TRUNCATE account CASCADE; --",
]


@pytest.fixture(scope="module")
def limited(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """Small, configured limits; gateway secrets; 1-second JWTs; an in-memory rate limiter."""
    return server_factory(env=LIMITS_ENV)


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(live_server) as http:
        yield http


def raw_request(server: LiveServer, data: bytes, *, timeout: float = 5) -> bytes:
    """Send raw bytes on a fresh connection; everything the server answers until it closes."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received
            received += chunk


def parse_raw(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def request_head(method: str, path: str, *headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def assert_hardened(headers: httpx.Headers | dict[str, str]) -> None:
    for name, value in ALWAYS.items():
        assert headers.get(name) == value, (name, dict(headers))
    assert headers.get("content-security-policy"), dict(headers)
    assert headers.get("cache-control"), dict(headers)


# --------------------------------------------------------------------------- size limits


def test_a_declared_oversized_body_is_413_before_it_is_sent(limited: LiveServer) -> None:
    # Only the head goes out: the answer comes without a byte of the 10 MiB body.
    answer = raw_request(
        limited,
        request_head(
            "POST",
            SIGN_UP,
            "Content-Type: application/json",
            f"Content-Length: {10 * 1024 * 1024}",
        ),
    )
    status, headers, body = parse_raw(answer)
    assert status == 413
    assert json.loads(body) == {
        "message": "Request body is too large",
        "code": "PAYLOAD_TOO_LARGE",
    }
    assert headers["connection"] == "close"
    assert_hardened(headers)


def test_a_chunked_body_past_the_limit_is_413(limited: LiveServer, database_url: str) -> None:
    email = unique_email("chunked")
    payload = json.dumps(
        {"name": "x" * 5000, "email": email, "password": PASSWORD}, separators=(",", ":")
    ).encode()
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(piece), piece)
        for piece in (payload[i : i + 1000] for i in range(0, len(payload), 1000))
    )
    with no_tracebacks(limited):
        answer = raw_request(
            limited,
            request_head(
                "POST", SIGN_UP, "Content-Type: application/json", "Transfer-Encoding: chunked"
            )
            + chunks
            + b"0\r\n\r\n",
        )
    status, headers, body = parse_raw(answer)
    assert status == 413, answer
    assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"
    assert headers["connection"] == "close"
    assert db_fetch(database_url, 'SELECT id FROM "user" WHERE email = $1', email) == []


def test_bodies_within_the_limit_are_read_chunked_or_not(limited: LiveServer) -> None:
    with api_client(limited) as http:
        user = sign_up(http, name="n" * 1000)

        def pieces() -> Iterator[bytes]:
            yield b'{"email":"' + user.email.encode()
            yield b'","password":"' + PASSWORD.encode() + b'"}'

        chunked = http.post(
            SIGN_IN,
            content=pieces(),
            headers={"content-type": "application/json", "x-forwarded-for": "203.0.113.77"},
        )
    assert chunked.status_code == 200, chunked.text
    assert chunked.json()["user"]["email"] == user.email


def test_the_gateway_body_limit_still_applies_inside_the_global_one(
    limited: LiveServer,
) -> None:
    with api_client(limited) as http:
        answer = validate(http, content=b'{"token":"' + b"t" * 5000 + b'"}')
    assert answer.status_code == 413
    assert answer.json()["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    "headers",
    [
        ["X-Big: " + "a" * 3000],
        [f"X-Header-{n}: v" for n in range(30)],
        ["Cookie: " + "; ".join(f"c{n}={'v' * 100}" for n in range(25))],
    ],
    ids=["one-large-header", "too-many-headers", "large-cookie"],
)
def test_oversized_headers_are_431(limited: LiveServer, headers: list[str]) -> None:
    with no_tracebacks(limited):
        answer = raw_request(
            limited, request_head("GET", f"{API}/get-session", *headers, "Connection: close")
        )
    status, response_headers, body = parse_raw(answer)
    assert status == 431
    assert json.loads(body) == {
        "message": "Request headers are too large",
        "code": "REQUEST_HEADER_FIELDS_TOO_LARGE",
    }
    assert_hardened(response_headers)


def test_default_header_limits_take_big_credentials_and_refuse_64_kib(
    live_server: LiveServer,
) -> None:
    ordinary = request_head(
        "GET", f"{API}/ok", "Cookie: " + "a" * 60_000, *[f"X-H{n}: v" for n in range(90)]
    )
    status, _, _ = parse_raw(raw_request(live_server, ordinary[:-2] + b"Connection: close\r\n\r\n"))
    assert status == 200
    huge = request_head("GET", f"{API}/ok", "X-Big: " + "a" * 65536, "Connection: close")
    assert parse_raw(raw_request(live_server, huge))[0] == 431
    many = request_head(
        "GET", f"{API}/ok", *[f"X-H{n}: v" for n in range(200)], "Connection: close"
    )
    assert parse_raw(raw_request(live_server, many))[0] == 431


def test_settings_refuse_limits_too_small_to_serve(
    server_factory: Callable[..., LiveServer],
) -> None:
    with pytest.raises(RuntimeError, match=r"MAX_BODY_BYTES.*1024"):
        server_factory(env={"MAX_BODY_BYTES": "10"})


# --------------------------------------------------------------------------- security headers


def test_every_kind_of_response_carries_the_security_headers(
    api: httpx.Client, live_server: LiveServer
) -> None:
    user = sign_up(api)
    responses = {
        "root": api.get("/"),
        "health": api.get("/health"),
        "ready": api.get("/ready"),
        "ok": api.get(f"{API}/ok"),
        "get-session (fast path)": api.get(f"{API}/get-session", headers={"cookie": user.cookie}),
        "jwks (fast path)": api.get(f"{API}/jwks"),
        "sign-in 401": api.post(SIGN_IN, json={"email": user.email, "password": "wrong-pass-1"}),
        "validation 400": api.post(SIGN_IN, json={"email": 1}),
        "unknown auth path": api.get(f"{API}/nope"),
        "unknown path": api.get("/nope"),
        "error page": api.get(f"{API}/error", params={"error": "x"}),
        "internal, disabled": validate(api, {"token": "x"}),
    }
    for label, response in responses.items():
        assert response.status_code < 500 or label == "internal, disabled", label
        assert_hardened(response.headers)
        assert "strict-transport-security" not in response.headers, label
    # Endpoints that set their own Cache-Control keep it; JSON gets the strict CSP.
    assert responses["get-session (fast path)"].headers["cache-control"] == "no-store"
    assert responses["sign-in 401"].headers["content-security-policy"] == STRICT_CSP
    assert responses["sign-in 401"].headers["cache-control"] == "no-store"


def test_429s_and_gateway_answers_carry_them_too(limited: LiveServer) -> None:
    with api_client(limited) as http:
        ip = {"x-forwarded-for": "198.51.100.201"}
        statuses = [
            http.post(SIGN_IN, json={"email": "a@b.co", "password": "x"}, headers=ip)
            for _ in range(4)
        ]
        assert [r.status_code for r in statuses] == [401, 401, 401, 429]
        assert_hardened(statuses[-1].headers)
        user = sign_up(http)
        positive = validate(http, {"token": user.token})
    assert positive.json()["valid"] is True
    # The gateway's own cache policy wins over the default no-store.
    assert positive.headers["cache-control"].startswith("private, max-age=")
    assert_hardened(positive.headers)


def test_https_deployments_send_hsts(server_factory: Callable[..., LiveServer]) -> None:
    server = shared_server(server_factory, HTTPS_SERVER_ENV)
    with api_client(server) as http:
        for response in (http.get("/health"), http.get(f"{API}/nope"), http.get(f"{API}/ok")):
            assert response.headers["strict-transport-security"] == (
                "max-age=31536000; includeSubDomains"
            )
            assert_hardened(response.headers)


# --------------------------------------------------------------------------- injection


def test_sql_in_every_string_field_is_stored_verbatim(
    api: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    users_before = int(db_one(database_url, 'SELECT count(*) AS n FROM "user"')["n"])
    with no_tracebacks(live_server):
        for index, text in enumerate(SQL):
            email = f"o'neil+{index}-{unique_email('sql').split('@')[0]}@example.com"
            created = sign_up(api, email=email, name=text, password=f"{text}-pad-pad", image=text)
            row = db_one(
                database_url, 'SELECT name, image, email FROM "user" WHERE id = $1', created.user_id
            )
            assert row == {"name": text, "image": text, "email": email.lower()}
            # The same text as a password signs in; as anything else it matches nothing.
            again = sign_in(api, email, f"{text}-pad-pad")
            assert again.user_id == created.user_id
            wrong = api.post(SIGN_IN, json={"email": email, "password": text + "x"})
            assert wrong.status_code == 401
            renamed = api.post(
                f"{API}/update-user",
                json={"name": text[::-1]},
                headers=authed(created, live_server.url),
            )
            assert renamed.status_code == 200
            as_email = api.post(SIGN_IN, json={"email": text, "password": PASSWORD})
            assert as_email.status_code == 400
            assert as_email.json()["code"] == "INVALID_EMAIL"
            forged = api.get(f"{API}/get-session", headers={"cookie": session_cookie(text)})
            assert forged.status_code == 200
            assert forged.content == b"null"
    users_after = int(db_one(database_url, 'SELECT count(*) AS n FROM "user"')["n"])
    assert users_after == users_before + len(SQL)


@pytest.mark.parametrize(
    "callback",
    [
        "/dashboard\r\nSet-Cookie: injected=1",
        "/dashboard\nX-Injected: 1",
        "/dash\rboard",
        "http://127.0.0.1\r\nX-Injected: 1",
        "/ok\x00",
        "/tab\there",
    ],
)
def test_control_characters_never_reach_a_response_header(
    api: httpx.Client, live_server: LiveServer, callback: str
) -> None:
    user = sign_up(api)
    with no_tracebacks(live_server):
        response = api.post(
            SIGN_IN,
            json={"email": user.email, "password": PASSWORD, "callbackURL": callback},
        )
    assert response.status_code == 403, response.text
    assert response.json() == {"message": "Invalid callbackURL", "code": "INVALID_CALLBACK_URL"}
    assert "location" not in response.headers
    assert "x-injected" not in response.headers
    assert all("injected" not in line for line in response.headers.get_list("set-cookie"))


def test_a_clean_callback_is_still_echoed_in_location(api: httpx.Client) -> None:
    user = sign_up(api)
    response = api.post(
        SIGN_IN, json={"email": user.email, "password": PASSWORD, "callbackURL": "/dashboard?a=1"}
    )
    assert response.status_code == 200
    assert response.headers["location"] == "/dashboard?a=1"


def test_request_ids_with_control_characters_are_replaced(live_server: LiveServer) -> None:
    answer = raw_request(
        live_server,
        request_head("GET", f"{API}/ok", "X-Request-Id: abc\x0bdef", "Connection: close"),
    )
    status, headers, _ = parse_raw(answer)
    assert status in (200, 400)
    assert "\x0b" not in headers.get("x-request-id", "")


# --------------------------------------------------------------------------- forged credentials


def test_forged_and_tampered_cookies_identify_nobody(api: httpx.Client) -> None:
    user = sign_up(api)
    other = sign_up(api)
    value = signed_cookie_value(user.token)
    token, _, signature = value.rpartition(".")
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    forged = [
        f"better-auth.session_token={token}.{flipped}",  # one signature character changed
        f"better-auth.session_token={user.token}",  # no signature at all
        f"better-auth.session_token={user.token}.{signed_cookie_value(other.token).rpartition('.')[2]}",
        f"better-auth.session_token={signed_cookie_value(user.token, 'another-secret-' * 3)}",
        f"better-auth.session_token={value}{value}",
        "better-auth.session_token=" + "%" * 64,
    ]
    for cookie in forged:
        answer = api.get(f"{API}/get-session", headers={"cookie": cookie})
        assert answer.status_code == 200, cookie
        assert answer.content == b"null", cookie


def test_a_cookie_replayed_after_sign_out_is_refused(
    api: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    user = sign_up(api)
    assert api.post(f"{API}/sign-out", headers=authed(user, live_server.url)).status_code == 200
    assert session_row(database_url, user.token) is None
    replayed = api.get(f"{API}/get-session", headers={"cookie": user.cookie})
    assert replayed.content == b"null"
    again = api.post(
        f"{API}/update-user", json={"name": "x"}, headers=authed(user, live_server.url)
    )
    assert again.status_code == 401
    listed = api.get(f"{API}/list-sessions", headers={"cookie": user.cookie})
    assert listed.status_code == 401


def test_an_expired_jwt_is_refused_at_validate_and_forward_auth(limited: LiveServer) -> None:
    with api_client(limited) as http:
        user: SignedIn = sign_up(http)
        token = jwt_for(http, user)
        assert validate(http, {"jwt": token}).json()["valid"] is True
        time.sleep(2.1)  # JWT_EXPIRES_IN=1
        with no_tracebacks(limited):
            assert validate(http, {"jwt": token}).json() == INVALID
            assert validate(http, headers={"authorization": f"Bearer {token}"}).json() == INVALID
            forward = http.get(
                "/api/internal/forward-auth",
                headers={"authorization": f"Bearer {token}", **GATEWAY_ENV_HEADERS},
            )
    assert forward.status_code == 401


GATEWAY_ENV_HEADERS = {"x-gateway-auth": GATEWAY_ENV["API_GATEWAY_SECRET"]}


def test_production_over_plain_http_warns_that_cookies_are_not_secure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from auth_service.app import create_app  # noqa: PLC0415
    from auth_service.settings import Settings  # noqa: PLC0415

    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("BETTER_AUTH_SECRET", "a-production-secret-" + "x" * 40)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    for url, warned in (("http://auth.example.test", True), ("https://auth.example.test", False)):
        monkeypatch.setenv("BETTER_AUTH_URL", url)
        caplog.clear()
        with caplog.at_level("WARNING", logger="auth_service"):
            create_app(Settings())
        assert ("without Secure" in caplog.text) is warned, caplog.text
