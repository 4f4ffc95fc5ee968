"""POST /api/auth/sign-up/email: what it answers, what it writes, and what it refuses."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.auth_client import (
    API,
    DAY,
    ID_32,
    ISO_JS_DATE,
    PASSWORD,
    USER_KEYS,
    WEEK,
    api_client,
    assert_close,
    credential_hash,
    db_fetch,
    db_one,
    error_body,
    parse_js_date,
    session_row,
    sign_up,
    unique_email,
    user_count,
    users_with_email,
    utc_now,
)
from tests.support.server import LiveServer

SIGN_UP = f"{API}/sign-up/email"
ARGON2_PARAMS = re.compile(r"^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$[^$]+\$[^$]+$")


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


def _post(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.post(SIGN_UP, json=body)


def test_sign_up_answers_token_and_user_in_better_auth_shape(api: httpx.Client) -> None:
    email = unique_email()
    response = _post(api, {"name": "Ada", "email": email, "password": PASSWORD})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["token", "user"]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", body["token"])
    user = body["user"]
    assert list(user) == USER_KEYS
    assert user["name"] == "Ada"
    assert user["email"] == email
    assert user["emailVerified"] is False
    assert user["image"] is None
    assert ID_32.match(user["id"])
    assert ISO_JS_DATE.match(user["createdAt"])
    assert user["createdAt"] == user["updatedAt"]
    assert_close(parse_js_date(user["createdAt"]), utc_now())


def test_sign_up_writes_user_credential_account_and_session(
    api: httpx.Client, database_url: str
) -> None:
    created = sign_up(api, name="Grace")

    user = db_one(database_url, 'SELECT * FROM "user" WHERE id = $1', created.user_id)
    assert user["email"] == created.email
    assert user["name"] == "Grace"
    assert user["email_verified"] is False
    accounts = db_fetch(database_url, "SELECT * FROM account WHERE user_id = $1", created.user_id)
    assert len(accounts) == 1
    assert accounts[0]["provider_id"] == "credential"
    assert accounts[0]["account_id"] == created.user_id
    assert accounts[0]["password"].startswith("$argon2id$")
    session = session_row(database_url, created.token)
    assert session is not None
    assert session["user_id"] == created.user_id
    assert_close(session["expires_at"], utc_now() + timedelta(seconds=WEEK))


def test_sign_up_stores_argon2id_with_at_least_owasp_parameters(
    api: httpx.Client, database_url: str
) -> None:
    created = sign_up(api)

    match = ARGON2_PARAMS.match(credential_hash(database_url, created.user_id))
    assert match is not None
    memory_kib, time_cost, parallelism = (int(group) for group in match.groups())
    assert memory_kib >= 19456
    assert time_cost >= 2
    assert parallelism >= 1


def test_sign_up_lower_cases_the_email_and_keeps_the_name_as_given(
    api: httpx.Client, database_url: str
) -> None:
    local = unique_email().split("@")[0]
    response = _post(
        api,
        {"name": "  Mixed Name  ", "email": f"{local.upper()}@Example.COM", "password": PASSWORD},
    )

    assert response.status_code == 200
    assert response.json()["user"]["email"] == f"{local}@example.com"
    stored = users_with_email(database_url, f"{local}@example.com")
    assert [row["name"] for row in stored] == ["  Mixed Name  "]


def test_sign_up_accepts_an_empty_name(api: httpx.Client) -> None:
    response = _post(api, {"name": "", "email": unique_email(), "password": PASSWORD})

    assert response.status_code == 200
    assert response.json()["user"]["name"] == ""


def test_sign_up_stores_the_image(api: httpx.Client) -> None:
    response = _post(
        api,
        {
            "name": "Img",
            "email": unique_email(),
            "password": PASSWORD,
            "image": "https://cdn.example.com/a.png",
        },
    )

    assert response.status_code == 200
    assert response.json()["user"]["image"] == "https://cdn.example.com/a.png"


def test_sign_up_with_a_taken_email_in_any_case_is_422(
    api: httpx.Client, database_url: str
) -> None:
    created = sign_up(api)

    response = _post(api, {"name": "Twin", "email": created.email.upper(), "password": PASSWORD})

    assert response.status_code == 422
    assert response.json() == error_body(
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email."
    )
    assert len(users_with_email(database_url, created.email)) == 1


def test_sign_up_ignores_email_verified_and_unknown_fields(
    api: httpx.Client, database_url: str
) -> None:
    email = unique_email()
    response = _post(
        api,
        {
            "name": "N",
            "email": email,
            "password": PASSWORD,
            "emailVerified": True,
            "id": "chosen-by-client",
            "role": "admin",
        },
    )

    assert response.status_code == 200
    user = response.json()["user"]
    assert user["emailVerified"] is False
    assert user["id"] != "chosen-by-client"
    assert "role" not in user
    assert users_with_email(database_url, email)[0]["email_verified"] is False


@pytest.mark.parametrize(
    "password",
    ["12345678", "x" * 128, "\U0001f600" * 64],
    ids=["8-chars", "128-chars", "64-emoji-128-utf16-units"],
)
def test_sign_up_accepts_passwords_from_8_to_128_utf16_units(
    api: httpx.Client, password: str
) -> None:
    response = _post(api, {"name": "N", "email": unique_email(), "password": password})

    assert response.status_code == 200


def test_sign_up_with_a_7_character_password_is_too_short(
    api: httpx.Client, database_url: str
) -> None:
    email = unique_email()
    response = _post(api, {"name": "N", "email": email, "password": "1234567"})

    assert response.status_code == 400
    assert response.json() == error_body("PASSWORD_TOO_SHORT", "Password too short")
    assert users_with_email(database_url, email) == []


@pytest.mark.parametrize(
    "password",
    ["x" * 129, "\U0001f600" * 64 + "a"],
    ids=["129-chars", "64-emoji-plus-1-is-129-utf16-units"],
)
def test_sign_up_with_more_than_128_utf16_units_is_too_long(
    api: httpx.Client, database_url: str, password: str
) -> None:
    email = unique_email()
    response = _post(api, {"name": "N", "email": email, "password": password})

    assert response.status_code == 400
    assert response.json() == error_body("PASSWORD_TOO_LONG", "Password too long")
    assert users_with_email(database_url, email) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {},
            "[body.name] Invalid input: expected string, received undefined; "
            "[body.email] Invalid input: expected string, received undefined; "
            "[body.password] Invalid input: expected string, received undefined",
        ),
        (
            {"name": "N", "email": "not-an-email", "password": PASSWORD},
            "[body.email] Invalid email address",
        ),
        (
            {"name": "N", "email": " lead@example.com", "password": PASSWORD},
            "[body.email] Invalid email address",
        ),
        (
            {"name": "N", "email": "a@example.com", "password": ""},
            "[body.password] Too small: expected string to have >=1 characters",
        ),
        (
            {"name": None, "email": True, "password": 1.5, "image": None},
            "[body.name] Invalid input: expected string, received null; "
            "[body.email] Invalid input: expected string, received boolean; "
            "[body.password] Invalid input: expected string, received number; "
            "[body.image] Invalid input: expected string, received null",
        ),
        (
            {"name": "N", "email": "a@example.com", "password": PASSWORD, "rememberMe": "no"},
            "[body.rememberMe] Invalid input: expected boolean, received string",
        ),
    ],
    ids=[
        "empty",
        "bad-email",
        "untrimmed-email",
        "empty-password",
        "wrong-types",
        "remember-me-string",
    ],
)
def test_sign_up_validation_errors_use_zod_messages(
    api: httpx.Client, database_url: str, body: dict[str, Any], message: str
) -> None:
    before = user_count(database_url)

    response = _post(api, body)

    assert response.status_code == 400
    assert response.json() == error_body("VALIDATION_ERROR", message)
    assert user_count(database_url) == before


def test_sign_up_with_remember_me_false_makes_a_one_day_session(
    api: httpx.Client, database_url: str
) -> None:
    created = sign_up(api, rememberMe=False)

    session = session_row(database_url, created.token)
    assert session is not None
    assert_close(session["expires_at"], utc_now() + timedelta(seconds=DAY))
    names = [line.split("=", 1)[0] for line in created.response.headers.get_list("set-cookie")]
    assert names == ["better-auth.session_token", "better-auth.dont_remember"]


def test_sign_up_accepts_a_form_body(api: httpx.Client, database_url: str) -> None:
    email = unique_email()
    response = api.post(
        SIGN_UP,
        content=f"name=Form+User&email={email.replace('@', '%40')}&password={PASSWORD}",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 200
    assert response.json()["user"]["name"] == "Form User"
    assert len(users_with_email(database_url, email)) == 1


def test_sign_up_form_body_cannot_carry_a_boolean(api: httpx.Client, database_url: str) -> None:
    email = unique_email()
    response = api.post(
        SIGN_UP,
        content=f"name=F&email={email}&password={PASSWORD}&rememberMe=false",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert response.status_code == 400
    assert response.json() == error_body(
        "VALIDATION_ERROR", "[body.rememberMe] Invalid input: expected boolean, received string"
    )
    assert users_with_email(database_url, email) == []


def test_sign_up_session_is_usable_at_once(api: httpx.Client) -> None:
    created = sign_up(api)

    response = api.get(f"{API}/get-session", headers={"cookie": created.cookie})

    assert response.status_code == 200
    assert response.json()["user"] == created.user
    assert response.json()["session"]["token"] == created.token
