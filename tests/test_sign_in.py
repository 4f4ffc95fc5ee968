"""POST /api/auth/sign-in/email: answers, failures, what the session records, password rehash."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.auth_client import (
    API,
    DAY,
    PASSWORD,
    USER_KEYS,
    WEEK,
    SignedIn,
    api_client,
    assert_close,
    credential_hash,
    error_body,
    session_row,
    sign_in,
    sign_up,
    unique_email,
    utc_now,
)
from tests.support.server import LiveServer

SIGN_IN = f"{API}/sign-in/email"
SCRYPT_HASH = re.compile(r"^([0-9a-f]{32}):([0-9a-f]{128})$")
INVALID_CREDENTIALS = error_body("INVALID_EMAIL_OR_PASSWORD", "Invalid email or password")


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


@pytest.fixture(scope="module")
def account(api: httpx.Client) -> SignedIn:
    """One user shared by the tests of this module that do not change it."""
    return sign_up(api)


def _post(api: httpx.Client, body: dict[str, Any], **headers: str) -> httpx.Response:
    return api.post(SIGN_IN, json=body, headers=headers)


def test_sign_in_answers_redirect_token_and_user(
    api: httpx.Client, account: SignedIn, database_url: str
) -> None:
    response = _post(api, {"email": account.email, "password": PASSWORD})

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["redirect", "token", "user"]  # no "url" without a callbackURL
    assert body["redirect"] is False
    assert body["token"] != account.token
    assert list(body["user"]) == USER_KEYS
    assert body["user"] == account.user
    assert "location" not in response.headers
    session = session_row(database_url, body["token"])
    assert session is not None
    assert session["user_id"] == account.user_id
    assert_close(session["expires_at"], utc_now() + timedelta(seconds=WEEK))


def test_sign_in_with_callback_url_sets_redirect_url_and_location(
    api: httpx.Client, account: SignedIn
) -> None:
    response = _post(
        api, {"email": account.email, "password": PASSWORD, "callbackURL": "/dashboard?tab=1"}
    )

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["redirect", "token", "url", "user"]
    assert body["redirect"] is True
    assert body["url"] == "/dashboard?tab=1"
    assert response.headers["location"] == "/dashboard?tab=1"


def test_sign_in_with_empty_callback_url_echoes_it_without_redirect(
    api: httpx.Client, account: SignedIn
) -> None:
    response = _post(api, {"email": account.email, "password": PASSWORD, "callbackURL": ""})

    assert response.status_code == 200
    body = response.json()
    assert body["redirect"] is False
    assert body["url"] == ""
    assert "location" not in response.headers


def test_sign_in_matches_the_email_case_insensitively(api: httpx.Client, account: SignedIn) -> None:
    response = _post(api, {"email": account.email.upper(), "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.user_id


def test_unknown_email_and_wrong_password_get_the_identical_401(
    api: httpx.Client, account: SignedIn
) -> None:
    unknown = _post(api, {"email": unique_email("nobody"), "password": PASSWORD})
    wrong = _post(api, {"email": account.email, "password": PASSWORD + "x"})
    empty = _post(api, {"email": account.email, "password": ""})

    for response in (unknown, wrong, empty):
        assert response.status_code == 401
        assert response.content == unknown.content
        assert response.json() == INVALID_CREDENTIALS
        assert response.headers.get_list("set-cookie") == []


def test_sign_in_with_a_malformed_email_is_invalid_email(api: httpx.Client) -> None:
    for email in ("not-an-email", " spaced@example.com", "\u00e9@example.com"):
        response = _post(api, {"email": email, "password": PASSWORD})

        assert response.status_code == 400
        assert response.json() == error_body("INVALID_EMAIL", "Invalid email")


def test_sign_in_checks_the_email_before_the_password_length(api: httpx.Client) -> None:
    response = _post(api, {"email": "bad", "password": "x" * 129})

    assert response.status_code == 400
    assert response.json() == error_body("INVALID_EMAIL", "Invalid email")


def test_sign_in_with_a_password_over_128_is_too_long(api: httpx.Client, account: SignedIn) -> None:
    response = _post(api, {"email": account.email, "password": "x" * 129})

    assert response.status_code == 400
    assert response.json() == error_body("PASSWORD_TOO_LONG", "Password too long")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {},
            "[body.email] Invalid input: expected string, received undefined; "
            "[body.password] Invalid input: expected string, received undefined",
        ),
        (
            {"email": 5, "password": None, "rememberMe": "x"},
            "[body.email] Invalid input: expected string, received number; "
            "[body.password] Invalid input: expected string, received null; "
            "[body.rememberMe] Invalid input: expected boolean, received string",
        ),
        (
            {"email": "a@example.com", "password": PASSWORD, "callbackURL": None},
            "[body.callbackURL] Invalid input: expected string, received null",
        ),
    ],
    ids=["empty", "wrong-types", "null-callback"],
)
def test_sign_in_validation_errors_use_zod_messages(
    api: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = _post(api, body)

    assert response.status_code == 400
    assert response.json() == error_body("VALIDATION_ERROR", message)


def test_sign_in_with_remember_me_false_makes_a_one_day_session(
    api: httpx.Client, account: SignedIn, database_url: str
) -> None:
    signed = sign_in(api, account.email, rememberMe=False)

    session = session_row(database_url, signed.token)
    assert session is not None
    assert_close(session["expires_at"], utc_now() + timedelta(seconds=DAY))


def test_sign_in_accepts_a_form_body(api: httpx.Client, account: SignedIn) -> None:
    response = api.post(
        SIGN_IN,
        content=f"email={account.email.replace('@', '%40')}&password={PASSWORD}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert response.json()["user"]["id"] == account.user_id


def test_every_sign_in_creates_its_own_session(
    api: httpx.Client, account: SignedIn, database_url: str
) -> None:
    first = sign_in(api, account.email)
    second = sign_in(api, account.email)

    assert first.token != second.token
    assert session_row(database_url, first.token) is not None
    assert session_row(database_url, second.token) is not None


# --------------------------------------------------------------------------- ip and user agent


@pytest.mark.parametrize(
    ("forwarded_for", "recorded"),
    [
        (None, ""),
        ("203.0.113.5", "203.0.113.5"),
        ("203.0.113.5, 10.0.0.1", ""),
        ("2001:db8:1:2:3:4:5:6", "2001:0db8:0001:0002:0000:0000:0000:0000"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("not-an-ip", ""),
    ],
    ids=["none", "one-ipv4", "two-hops", "ipv6-as-expanded-64", "ipv4-mapped", "garbage"],
)
def test_session_records_the_client_ip_from_a_single_forwarded_for(
    api: httpx.Client,
    account: SignedIn,
    database_url: str,
    forwarded_for: str | None,
    recorded: str,
) -> None:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    signed = sign_in(api, account.email, headers=headers)

    session = session_row(database_url, signed.token)
    assert session is not None
    assert session["ip_address"] == recorded


def test_session_records_the_user_agent_or_an_empty_string(
    api: httpx.Client, account: SignedIn, database_url: str
) -> None:
    with_agent = sign_in(api, account.email, headers={"user-agent": "Browser/1.0 (Test)"})
    request = api.build_request(
        "POST", SIGN_IN, json={"email": account.email, "password": PASSWORD}
    )
    del request.headers["user-agent"]
    without_agent = api.send(request)
    assert without_agent.status_code == 200

    first = session_row(database_url, with_agent.token)
    second = session_row(database_url, without_agent.json()["token"])
    assert first is not None
    assert second is not None
    assert first["user_agent"] == "Browser/1.0 (Test)"
    assert second["user_agent"] == ""


# --------------------------------------------------------------------------- rehash


@pytest.fixture(scope="module")
def scrypt_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory({"PASSWORD_ALGORITHM": "scrypt"})


def _better_auth_scrypt(password: str, salt_hex: str) -> str:
    key = hashlib.scrypt(
        unicodedata.normalize("NFKC", password).encode(),
        salt=salt_hex.encode(),
        n=16384,
        r=16,
        p=1,
        dklen=64,
        maxmem=64 * 1024 * 1024,
    )
    return key.hex()


def test_scrypt_server_stores_better_auth_scrypt_hashes(
    scrypt_server: LiveServer, database_url: str
) -> None:
    password = "\ufb01sh-and-chips"  # the ligature checks the NFKC normalisation
    with api_client(scrypt_server) as http:
        created = sign_up(http, password=password)

    match = SCRYPT_HASH.match(credential_hash(database_url, created.user_id))
    assert match is not None
    salt_hex, key_hex = match.groups()
    assert _better_auth_scrypt(password, salt_hex) == key_hex
    assert _better_auth_scrypt("fish-and-chips", salt_hex) == key_hex


def test_signing_in_rehashes_a_scrypt_password_to_argon2id(
    scrypt_server: LiveServer, api: httpx.Client, database_url: str
) -> None:
    with api_client(scrypt_server) as http:
        created = sign_up(http)
    assert SCRYPT_HASH.match(credential_hash(database_url, created.user_id))

    sign_in(api, created.email)

    rehashed = credential_hash(database_url, created.user_id)
    assert rehashed.startswith("$argon2id$")
    sign_in(api, created.email)  # the new hash verifies
    assert credential_hash(database_url, created.user_id) == rehashed  # and is kept
    failed = _post(api, {"email": created.email, "password": "wrong-password"})
    assert failed.status_code == 401
