"""POST /api/internal/validate: the gateway's structured credential check.

Contract: the caller proves itself with `x-gateway-auth` = API_GATEWAY_SECRET (401
INVALID_GATEWAY_CREDENTIALS otherwise; 503 GATEWAY_AUTH_DISABLED when the secret is unset).
Any credential that identifies nobody answers 200 `{"valid": false}` with `no-store`; a live
session answers its user and session (without the raw token), a JWT its claims, with
`Cache-Control: private, max-age=n` and n never past the credential's expiry. A malformed
request (not a JSON object, wrong types, unknown fields) is a 400; nothing is ever a 5xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.auth_client import (
    API,
    SESSION_KEYS,
    SESSION_TOKEN,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    hmac_signature,
    parse_js_date,
    session_cookie,
    session_row,
    sign_in,
    sign_up,
    signed_cookie_value,
    utc_now,
)
from tests.support.gateway import (
    DISABLED_ENV,
    GATEWAY_ENV,
    GATEWAY_SECRET,
    INVALID,
    b64url,
    b64url_json,
    gateway_server,
    jwt_for,
    jwt_parts,
    no_tracebacks,
    validate,
)
from tests.support.postgres import PrivatePostgres, create_database
from tests.support.server import LiveServer

NO_STORE = "no-store"


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


def _max_age(response: httpx.Response) -> int:
    value = response.headers["cache-control"]
    assert value.startswith("private, max-age="), value
    return int(value.removeprefix("private, max-age="))


def _assert_invalid(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text
    assert response.json() == INVALID
    assert response.headers["cache-control"] == NO_STORE


def _assert_session_answer(response: httpx.Response, http: httpx.Client, user: SignedIn) -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    current = http.get(f"{API}/get-session", headers={"cookie": user.cookie}).json()
    expected_session = {k: v for k, v in current["session"].items() if k != "token"}
    assert body == {
        "valid": True,
        "type": "session",
        "user": current["user"],
        "session": expected_session,
        "expiresAt": current["session"]["expiresAt"],
    }
    assert list(body["session"]) == [key for key in SESSION_KEYS if key != "token"]
    assert body["user"]["id"] == user.user_id
    assert user.token not in response.text
    assert 0 < _max_age(response) <= 30


# --------------------------------------------------------------------------- the caller


def test_a_missing_gateway_secret_is_401(http: httpx.Client, user: SignedIn) -> None:
    response = validate(http, {"token": user.token}, secret=None)

    assert response.status_code == 401
    assert response.json() == {
        "message": "Missing or invalid x-gateway-auth header",
        "code": "INVALID_GATEWAY_CREDENTIALS",
    }


@pytest.mark.parametrize(
    "secret",
    [
        GATEWAY_SECRET[:-1] + ("x" if GATEWAY_SECRET[-1] != "x" else "y"),  # last char differs
        GATEWAY_SECRET[:-1],  # shorter
        GATEWAY_SECRET + "0",  # longer
        "x" * 8,
        "",
        GATEWAY_SECRET.upper(),
        f"{GATEWAY_SECRET} x",
    ],
    ids=["last-char", "prefix", "longer", "short", "empty", "case", "padded"],
)
def test_a_wrong_gateway_secret_is_401(http: httpx.Client, user: SignedIn, secret: str) -> None:
    response = validate(http, {"token": user.token}, secret=secret)

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_GATEWAY_CREDENTIALS"
    assert "user" not in response.json()


def test_the_gateway_secret_twice_is_401(http: httpx.Client, user: SignedIn) -> None:
    response = http.post(
        "/api/internal/validate",
        json={"token": user.token},
        headers=[("x-gateway-auth", GATEWAY_SECRET), ("x-gateway-auth", "other")],
    )

    assert response.status_code == 401


def test_the_service_secret_does_not_open_the_gateway_endpoint(
    http: httpx.Client, user: SignedIn
) -> None:
    response = http.post(
        "/api/internal/validate",
        json={"token": user.token},
        headers={"x-service-auth": "service-secret-for-the-tests-0123456789-abcdef"},
    )

    assert response.status_code == 401


def test_without_api_gateway_secret_validate_is_disabled_and_says_so_once(
    server_factory: Callable[..., LiveServer],
) -> None:
    disabled = server_factory(env=DISABLED_ENV)
    with api_client(disabled) as http:
        for secret in (None, "", "anything"):
            response = validate(http, {"token": "x"}, secret=secret)
            assert response.status_code == 503
            assert response.json() == {
                "message": "API_GATEWAY_SECRET is not set: this endpoint is disabled",
                "code": "GATEWAY_AUTH_DISABLED",
            }
    assert disabled.log().count("API_GATEWAY_SECRET is not set") == 1
    assert disabled.log().count("INTERNAL_SERVICE_SECRET is not set") == 1


# --------------------------------------------------------------------------- sessions


def test_a_bare_session_token_is_valid(http: httpx.Client, user: SignedIn) -> None:
    _assert_session_answer(validate(http, {"token": user.token}), http, user)


@pytest.mark.parametrize("encoded", [False, True], ids=["raw", "url-encoded"])
def test_a_signed_session_token_is_valid(http: httpx.Client, user: SignedIn, encoded: bool) -> None:
    signed = f"{user.token}.{hmac_signature(user.token)}"
    value = quote(signed, safe="") if encoded else signed

    _assert_session_answer(validate(http, {"token": value}), http, user)


def test_a_session_cookie_value_is_valid(http: httpx.Client, user: SignedIn) -> None:
    _assert_session_answer(validate(http, {"cookie": signed_cookie_value(user.token)}), http, user)


def test_a_whole_cookie_header_in_the_body_is_valid(http: httpx.Client, user: SignedIn) -> None:
    cookie = f"theme=dark; {session_cookie(user.token)}; other=1"

    _assert_session_answer(validate(http, {"cookie": cookie}), http, user)


def test_without_a_body_the_forwarded_cookie_is_used(http: httpx.Client, user: SignedIn) -> None:
    _assert_session_answer(validate(http, headers={"cookie": user.cookie}), http, user)


def test_without_a_body_a_forwarded_bearer_token_is_used(
    http: httpx.Client, user: SignedIn
) -> None:
    signed = f"{user.token}.{hmac_signature(user.token)}"
    for value in (user.token, signed):
        response = validate(http, headers={"authorization": f"Bearer {value}"})
        _assert_session_answer(response, http, user)


def test_an_empty_object_body_falls_back_to_forwarded_headers(
    http: httpx.Client, user: SignedIn
) -> None:
    _assert_session_answer(validate(http, {}, headers={"cookie": user.cookie}), http, user)
    _assert_invalid(validate(http, {}))


def test_no_credential_at_all_is_invalid(http: httpx.Client) -> None:
    _assert_invalid(validate(http))
    _assert_invalid(validate(http, headers={"cookie": "theme=dark"}))


def test_an_expired_session_is_invalid_at_once(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    _assert_session_answer(validate(http, {"token": user.token}), http, user)
    db_fetch(
        database_url,
        "UPDATE session SET expires_at = $1 WHERE token = $2",
        utc_now() - timedelta(seconds=1),
        user.token,
    )

    _assert_invalid(validate(http, {"token": user.token}))
    _assert_invalid(validate(http, headers={"cookie": user.cookie}))


def test_a_signed_out_session_is_invalid_at_once(
    http: httpx.Client, server: LiveServer, user: SignedIn
) -> None:
    _assert_session_answer(validate(http, {"token": user.token}), http, user)
    assert http.post(f"{API}/sign-out", headers=authed(user, server.origin)).status_code == 200

    _assert_invalid(validate(http, {"token": user.token}))


def test_a_revoked_session_is_invalid_at_once(
    http: httpx.Client, server: LiveServer, user: SignedIn
) -> None:
    other = sign_in(http, user.email)
    _assert_session_answer(validate(http, {"token": other.token}), http, other)
    revoked = http.post(
        f"{API}/revoke-session", json={"token": other.token}, headers=authed(user, server.origin)
    )
    assert revoked.status_code == 200

    _assert_invalid(validate(http, {"token": other.token}))
    _assert_session_answer(validate(http, {"token": user.token}), http, user)


def test_validate_never_extends_a_session(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    # Two days left: get-session would slide this session's expiry (updateAge has passed).
    expires_at = (utc_now() + timedelta(days=2)).replace(microsecond=0)
    db_fetch(
        database_url,
        "UPDATE session SET expires_at = $1 WHERE token = $2",
        expires_at,
        user.token,
    )
    before = session_row(database_url, user.token)

    for _ in range(3):
        response = validate(http, {"token": user.token})
        assert response.json()["valid"] is True
        assert parse_js_date(response.json()["expiresAt"]) == expires_at

    assert session_row(database_url, user.token) == before
    assert "set-cookie" not in response.headers


def test_cache_max_age_never_outlives_the_session(
    http: httpx.Client, user: SignedIn, database_url: str
) -> None:
    db_fetch(
        database_url,
        "UPDATE session SET expires_at = $1 WHERE token = $2",
        utc_now() + timedelta(seconds=8),
        user.token,
    )

    response = validate(http, {"token": user.token})

    assert response.json()["valid"] is True
    assert _max_age(response) <= 8


# --------------------------------------------------------------------------- JWTs


def test_a_jwt_from_the_token_endpoint_is_valid(http: httpx.Client, user: SignedIn) -> None:
    token = jwt_for(http, user)

    response = validate(http, {"jwt": token})

    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["type"] == "jwt"
    claims = body["claims"]
    assert claims["sub"] == user.user_id
    assert claims["email"] == user.email
    assert claims["id"] == user.user_id
    assert claims["exp"] - claims["iat"] == 900
    assert claims == jwt_parts(token)[1]
    assert parse_js_date(body["expiresAt"]) == datetime.fromtimestamp(claims["exp"], UTC).replace(
        tzinfo=None
    )
    assert 0 < _max_age(response) <= 30


def test_a_forwarded_bearer_jwt_is_valid(http: httpx.Client, user: SignedIn) -> None:
    token = jwt_for(http, user)

    response = validate(http, headers={"authorization": f"Bearer {token}"})

    assert response.json()["valid"] is True
    assert response.json()["type"] == "jwt"
    assert response.json()["claims"]["sub"] == user.user_id


def _tampered_payload(token: str, **changes: Any) -> str:
    header, _payload, signature = token.split(".")
    claims = jwt_parts(token)[1]
    claims.update(changes)
    return f"{header}.{b64url_json(claims)}.{signature}"


def test_a_jwt_with_a_tampered_payload_is_invalid(http: httpx.Client, user: SignedIn) -> None:
    token = jwt_for(http, user)
    other = sign_up(http)

    for forged in (
        _tampered_payload(token, sub=other.user_id),
        _tampered_payload(token, exp=int(time.time()) + 86400),
        _tampered_payload(token, email="admin@example.com"),
    ):
        _assert_invalid(validate(http, {"jwt": forged}))


def test_an_unsigned_alg_none_jwt_is_invalid(http: httpx.Client, user: SignedIn) -> None:
    token = jwt_for(http, user)
    header, claims, _ = jwt_parts(token)

    for alg in ("none", "None", "NONE"):
        forged = f"{b64url_json({**header, 'alg': alg})}.{b64url_json(claims)}."
        _assert_invalid(validate(http, {"jwt": forged}))
        _assert_invalid(validate(http, headers={"authorization": f"Bearer {forged}"}))


def test_an_hs256_jwt_keyed_with_the_public_key_is_invalid(
    http: httpx.Client, user: SignedIn
) -> None:
    token = jwt_for(http, user)
    header, claims, _ = jwt_parts(token)
    jwks = http.get(f"{API}/jwks").json()["keys"]
    public = next(key for key in jwks if key["kid"] == header["kid"])
    signing_input = f"{b64url_json({'alg': 'HS256', 'kid': header['kid']})}.{b64url_json(claims)}"

    for secret in (public["x"].encode(), json.dumps(public).encode()):
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        _assert_invalid(validate(http, {"jwt": f"{signing_input}.{b64url(signature)}"}))


def test_a_jwt_signed_by_a_foreign_ed25519_key_is_invalid(
    http: httpx.Client, user: SignedIn
) -> None:
    token = jwt_for(http, user)
    header, claims, _ = jwt_parts(token)
    foreign = ed25519.Ed25519PrivateKey.generate()
    now = int(time.time())
    claims = {**claims, "iat": now, "exp": now + 900}

    for kid in (header["kid"], "foreign-kid"):
        forged = pyjwt.encode(claims, foreign, algorithm="EdDSA", headers={"kid": kid})
        _assert_invalid(validate(http, {"jwt": forged}))
        _assert_invalid(validate(http, headers={"authorization": f"Bearer {forged}"}))


def test_a_jwt_is_not_a_session_token_and_the_reverse(http: httpx.Client, user: SignedIn) -> None:
    token = jwt_for(http, user)

    _assert_invalid(validate(http, {"token": token}))
    _assert_invalid(validate(http, {"jwt": user.token}))


# --------------------------------------------------------------------------- malformed input


def _bad_signature(token: str) -> str:
    return f"{token}.{'A' * 43}="


@pytest.mark.parametrize(
    "body",
    [
        {"token": "garbage"},
        {"token": ""},
        {"token": " "},
        {"token": "x" * 60_000},
        {"token": "tok\u0000en"},
        {"token": "\u00e9\u2713\U0001f600"},
        {"token": "%E0%A4%A"},
        {"cookie": ""},
        {"cookie": "garbage"},
        {"cookie": "%FF%FE.sig"},
        {"cookie": f"{SESSION_TOKEN}="},
        {"cookie": "a" * 60_000},
        {"jwt": ""},
        {"jwt": "garbage"},
        {"jwt": "a.b.c"},
        {"jwt": "...."},
        {"jwt": "eyJhbGciOiJFZERTQSJ9.e30."},
        {"jwt": "x" * 60_000},
    ],
)
def test_garbage_credentials_are_invalid(http: httpx.Client, body: dict[str, Any]) -> None:
    _assert_invalid(validate(http, body))


def test_bad_signatures_are_invalid(http: httpx.Client, user: SignedIn) -> None:
    _assert_invalid(validate(http, {"cookie": _bad_signature(user.token)}))
    _assert_invalid(validate(http, {"cookie": user.token}))  # a cookie must be signed
    _assert_invalid(validate(http, {"token": _bad_signature(user.token)}))
    wrong_secret = signed_cookie_value(user.token, secret="another-secret-0123456789abcdefghij")
    _assert_invalid(validate(http, {"cookie": wrong_secret}))
    _assert_invalid(validate(http, headers={"cookie": f"{SESSION_TOKEN}={wrong_secret}"}))


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer"},
        {"authorization": "bEaReR"},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer a.b.c"},
        {"authorization": "Bearer " + "y" * 60_000},
        {"cookie": f"{SESSION_TOKEN}=%%%"},
        {"cookie": ";;;==;"},
        {"cookie": f"{SESSION_TOKEN}={'z' * 60_000}"},
    ],
    ids=[
        "bearer-empty",
        "bearer-scheme-only",
        "basic",
        "bearer-jwt-garbage",
        "bearer-huge",
        "cookie-percent",
        "cookie-syntax",
        "cookie-huge",
    ],
)
def test_garbage_forwarded_headers_are_invalid(http: httpx.Client, headers: dict[str, str]) -> None:
    _assert_invalid(validate(http, headers=headers))


def test_non_latin1_header_bytes_are_invalid(http: httpx.Client) -> None:
    response = http.post(
        "/api/internal/validate",
        headers=[
            (b"x-gateway-auth", GATEWAY_SECRET.encode()),
            (b"cookie", f"{SESSION_TOKEN}=\xff\xfe".encode("latin-1")),
            (b"authorization", "Bearer \u00e9t\u00e9".encode()),
        ],
    )

    _assert_invalid(response)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json", 'The body must be JSON such as {"token": "..."}'),
        (b"{", 'The body must be JSON such as {"token": "..."}'),
        (b"\xff\xfe{}", 'The body must be JSON such as {"token": "..."}'),
        (b"[" * 5000 + b"]" * 5000, 'The body must be JSON such as {"token": "..."}'),
        (b"[]", 'Invalid body: the body must be a JSON object such as {"token": "..."}'),
        (b'"token"', 'Invalid body: the body must be a JSON object such as {"token": "..."}'),
        (b"null", 'Invalid body: the body must be a JSON object such as {"token": "..."}'),
        (b"42", 'Invalid body: the body must be a JSON object such as {"token": "..."}'),
        (b'{"token": 123}', "Invalid body: token must be a string"),
        (b'{"token": null}', "Invalid body: token must be a string"),
        (b'{"jwt": ["a"]}', "Invalid body: jwt must be a string"),
        (b'{"cookie": {"a": 1}}', "Invalid body: cookie must be a string"),
        (b'{"token": "a", "jwt": "b"}', "Invalid body: give exactly one of token, cookie, jwt"),
        (
            b'{"tokn": "a"}',
            "Invalid body: unknown field(s) tokn; expected one of token, cookie, jwt",
        ),
    ],
)
def test_a_malformed_body_is_400(http: httpx.Client, content: bytes, message: str) -> None:
    response = validate(http, content=content, headers={"content-type": "application/json"})

    assert response.status_code == 400
    assert response.json() == {"message": message, "code": "INVALID_BODY"}


def test_a_body_over_64_kib_is_413(http: httpx.Client) -> None:
    response = validate(http, {"token": "x" * 70_000})

    assert response.status_code == 413
    assert response.json() == {
        "message": "Request body is too large",
        "code": "PAYLOAD_TOO_LARGE",
    }


def test_the_secret_is_checked_before_the_body_is_read(http: httpx.Client) -> None:
    response = validate(http, content=b"not json", secret="wrong")

    assert response.status_code == 401


def test_wrong_methods_and_paths_are_404_json(http: httpx.Client) -> None:
    for response in (
        http.get("/api/internal/validate", headers={"x-gateway-auth": GATEWAY_SECRET}),
        http.post("/api/internal/nothing", headers={"x-gateway-auth": GATEWAY_SECRET}),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"


# --------------------------------------------------------------------------- no database for JWTs


def test_a_jwt_is_verified_without_the_database(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> None:
    """With PostgreSQL stopped, a JWT still validates (the key set is in memory) while a
    session credential answers 503 quickly: the JWT path makes no database round trip."""
    postgres = PrivatePostgres(tmp_path / "pgdata")
    try:
        url = create_database(postgres.as_server(), "gateway_jwt_outage")
        server = server_factory(
            env={**GATEWAY_ENV, "DB_TIMEOUT_SECONDS": "2", "JWKS_REFRESH_SECONDS": "3600"},
            database=url,
        )
        with api_client(server) as http, no_tracebacks(server):
            user = sign_up(http)
            token = jwt_for(http, user)
            assert validate(http, {"jwt": token}).json()["valid"] is True

            postgres.stop()

            for _ in range(20):
                response = validate(http, {"jwt": token})
                assert response.status_code == 200
                assert response.json()["claims"]["sub"] == user.user_id
            started = time.monotonic()
            session = validate(http, {"token": user.token})
            assert session.status_code == 503
            assert session.json()["code"] == "SERVICE_UNAVAILABLE"
            assert time.monotonic() - started < 5
    finally:
        postgres.close()
