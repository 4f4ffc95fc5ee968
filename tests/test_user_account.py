"""POST /update-user, /change-password and /verify-password."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.auth_client import (
    API,
    DONT_REMEMBER,
    PASSWORD,
    SESSION_TOKEN,
    USER_KEYS,
    SignedIn,
    api_client,
    authed,
    credential_hash,
    db_fetch,
    db_one,
    dont_remember_cookie,
    error_body,
    session_row,
    session_tokens,
    set_cookies,
    sign_in,
    sign_up,
    signed_cookie_value,
)
from tests.support.server import LiveServer

UPDATE_USER = f"{API}/update-user"
CHANGE_PASSWORD = f"{API}/change-password"
VERIFY_PASSWORD = f"{API}/verify-password"
NEW_PASSWORD = "a-brand-new-password"
UNAUTHORIZED = error_body("UNAUTHORIZED", "Unauthorized")
INVALID_PASSWORD = error_body("INVALID_PASSWORD", "Invalid password")
NO_FIELDS = {"message": "No fields to update"}


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


@pytest.fixture
def user(api: httpx.Client) -> SignedIn:
    return sign_up(api, name="Before")


def _post(
    api: httpx.Client,
    server: LiveServer,
    user: SignedIn,
    path: str,
    body: Any = None,
    **headers: str,
) -> httpx.Response:
    return api.post(path, json=body, headers=authed(user, server.origin, **headers))


def _user_row(database_url: str, user_id: str) -> dict[str, Any]:
    return db_one(database_url, 'SELECT * FROM "user" WHERE id = $1', user_id)


# --------------------------------------------------------------------------- update-user


def test_update_user_changes_the_name_and_reissues_the_cookie(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    before = _user_row(database_url, user.user_id)

    response = _post(api, live_server, user, UPDATE_USER, {"name": "After"})

    assert response.status_code == 200
    assert response.json() == {"status": True}
    [cookie] = set_cookies(response)
    assert cookie.name == SESSION_TOKEN
    assert cookie.value == signed_cookie_value(user.token)
    assert cookie.attributes == ["Max-Age=604800", "Path=/", "HttpOnly", "SameSite=Lax"]
    after = _user_row(database_url, user.user_id)
    assert after["name"] == "After"
    assert after["updated_at"] > before["updated_at"]
    session = api.get(f"{API}/get-session", headers={"cookie": user.cookie}).json()
    assert session["user"]["name"] == "After"
    assert list(session["user"]) == USER_KEYS


def test_update_user_sets_and_clears_the_image(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    set_image = _post(api, live_server, user, UPDATE_USER, {"image": "https://img.example/a.png"})
    assert set_image.json() == {"status": True}
    assert _user_row(database_url, user.user_id)["image"] == "https://img.example/a.png"

    cleared = _post(api, live_server, user, UPDATE_USER, {"image": None})

    assert cleared.json() == {"status": True}
    assert _user_row(database_url, user.user_id)["image"] is None


def test_update_user_with_dont_remember_keeps_a_session_cookie(
    api: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    user.extra_cookies.append(dont_remember_cookie())

    response = _post(api, live_server, user, UPDATE_USER, {"name": "Short"})

    token_cookie, remember_cookie = set_cookies(response)
    assert token_cookie.name == SESSION_TOKEN
    assert token_cookie.attributes == ["Path=/", "HttpOnly", "SameSite=Lax"]
    assert remember_cookie.name == DONT_REMEMBER
    assert remember_cookie.value == signed_cookie_value("true")


@pytest.mark.parametrize(
    "body",
    [{"email": "new@example.com"}, {"name": "X", "email": "new@example.com"}, {"email": ["x"]}],
    ids=["email", "name-and-email", "email-array"],
)
def test_update_user_refuses_to_change_the_email(
    api: httpx.Client,
    live_server: LiveServer,
    user: SignedIn,
    database_url: str,
    body: dict[str, Any],
) -> None:
    response = _post(api, live_server, user, UPDATE_USER, body)

    assert response.status_code == 400
    assert response.json() == error_body("EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated")
    row = _user_row(database_url, user.user_id)
    assert (row["email"], row["name"]) == (user.email, "Before")


@pytest.mark.parametrize(
    "body",
    [{}, {"foo": 1}, {"emailVerified": True}, {"email": ""}, {"email": None}],
    ids=["empty", "unknown", "email-verified", "empty-email", "null-email"],
)
def test_update_user_with_nothing_to_update_is_400_without_code(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, body: dict[str, Any]
) -> None:
    response = _post(api, live_server, user, UPDATE_USER, body)

    assert response.status_code == 400
    assert response.json() == NO_FIELDS


def test_update_user_cannot_verify_the_email(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    response = _post(api, live_server, user, UPDATE_USER, {"name": "V", "emailVerified": True})

    assert response.status_code == 200
    assert _user_row(database_url, user.user_id)["email_verified"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": 5}, "[body.name] Invalid input: expected string, received number"),
        ({"name": None}, "[body.name] Invalid input: expected string, received null"),
        ({"image": 5}, "[body.image] Invalid input: expected string, received number"),
    ],
    ids=["name-number", "name-null", "image-number"],
)
def test_update_user_rejects_non_string_fields(
    api: httpx.Client,
    live_server: LiveServer,
    user: SignedIn,
    database_url: str,
    body: dict[str, Any],
    message: str,
) -> None:
    # Better Auth stores `5` as "5" and answers 500 for a null name; the spec asks for a 400.
    response = _post(api, live_server, user, UPDATE_USER, body)

    assert response.status_code == 400
    assert response.json() == error_body("VALIDATION_ERROR", message)
    assert _user_row(database_url, user.user_id)["name"] == "Before"


def test_update_user_without_a_session_is_401(api: httpx.Client) -> None:
    response = api.post(UPDATE_USER, json={"name": "x"})

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


# --------------------------------------------------------------------------- change-password


def test_change_password_replaces_the_hash_and_keeps_sessions(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    other = sign_in(api, user.email)
    old_hash = credential_hash(database_url, user.user_id)

    response = _post(
        api,
        live_server,
        user,
        CHANGE_PASSWORD,
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["token", "user"]
    assert body["token"] is None
    assert body["user"]["id"] == user.user_id
    assert list(body["user"]) == USER_KEYS
    assert response.headers.get_list("set-cookie") == []
    assert credential_hash(database_url, user.user_id) != old_hash
    assert session_tokens(database_url, user.user_id) >= {user.token, other.token}
    old = api.post(f"{API}/sign-in/email", json={"email": user.email, "password": PASSWORD})
    assert old.status_code == 401
    sign_in(api, user.email, NEW_PASSWORD)


def test_change_password_can_revoke_every_other_session(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    other = sign_in(api, user.email)

    response = _post(
        api,
        live_server,
        user,
        CHANGE_PASSWORD,
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": True},
    )

    assert response.status_code == 200
    token = response.json()["token"]
    assert token not in (None, user.token, other.token)
    [cookie] = set_cookies(response)
    assert cookie.name == SESSION_TOKEN
    assert cookie.value == signed_cookie_value(token)
    assert cookie.attributes[0] == "Max-Age=604800"
    # All the old sessions, the current one included, are gone; the new one lives.
    assert session_tokens(database_url, user.user_id) == {token}


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"currentPassword": "wrong-password", "newPassword": NEW_PASSWORD},
            "INVALID_PASSWORD",
            "Invalid password",
        ),
        (
            {"currentPassword": PASSWORD, "newPassword": "short"},
            "PASSWORD_TOO_SHORT",
            "Password too short",
        ),
        (
            {"currentPassword": "wrong-password", "newPassword": "short"},
            "PASSWORD_TOO_SHORT",
            "Password too short",
        ),
        (
            {"currentPassword": PASSWORD, "newPassword": "x" * 129},
            "PASSWORD_TOO_LONG",
            "Password too long",
        ),
        (
            {"currentPassword": "x" * 129, "newPassword": NEW_PASSWORD},
            "PASSWORD_TOO_LONG",
            "Password too long",
        ),
    ],
    ids=[
        "wrong-current",
        "new-too-short",
        "length-checked-first",
        "new-too-long",
        "current-too-long",
    ],
)
def test_change_password_failures_are_400_and_keep_the_hash(
    api: httpx.Client,
    live_server: LiveServer,
    user: SignedIn,
    database_url: str,
    body: dict[str, Any],
    code: str,
    message: str,
) -> None:
    old_hash = credential_hash(database_url, user.user_id)

    response = _post(api, live_server, user, CHANGE_PASSWORD, body)

    assert response.status_code == 400
    assert response.json() == error_body(code, message)
    assert credential_hash(database_url, user.user_id) == old_hash


def test_change_password_without_a_credential_account(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    db_fetch(database_url, "DELETE FROM account WHERE user_id = $1", user.user_id)

    change = _post(
        api,
        live_server,
        user,
        CHANGE_PASSWORD,
        {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD},
    )
    verify = _post(api, live_server, user, VERIFY_PASSWORD, {"password": PASSWORD})

    assert change.status_code == 400
    assert change.json() == error_body(
        "CREDENTIAL_ACCOUNT_NOT_FOUND", "Credential account not found"
    )
    assert verify.status_code == 400
    assert verify.json() == INVALID_PASSWORD


def test_change_password_validates_before_requiring_a_session(api: httpx.Client) -> None:
    missing = api.post(CHANGE_PASSWORD, json={})
    anonymous = api.post(
        CHANGE_PASSWORD, json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    )

    assert missing.status_code == 400
    assert missing.json() == error_body(
        "VALIDATION_ERROR",
        "[body.newPassword] Invalid input: expected string, received undefined; "
        "[body.currentPassword] Invalid input: expected string, received undefined",
    )
    assert anonymous.status_code == 401
    assert anonymous.json() == UNAUTHORIZED


# --------------------------------------------------------------------------- verify-password


def test_verify_password_accepts_the_current_password(
    api: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    response = _post(api, live_server, user, VERIFY_PASSWORD, {"password": PASSWORD})

    assert response.status_code == 200
    assert response.json() == {"status": True}


@pytest.mark.parametrize("password", ["wrong-password", ""], ids=["wrong", "empty"])
def test_verify_password_refuses_another_password(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, password: str
) -> None:
    response = _post(api, live_server, user, VERIFY_PASSWORD, {"password": password})

    assert response.status_code == 400
    assert response.json() == INVALID_PASSWORD


def test_verify_password_over_128_is_too_long(
    api: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    response = _post(api, live_server, user, VERIFY_PASSWORD, {"password": "x" * 200})

    assert response.status_code == 400
    assert response.json() == error_body("PASSWORD_TOO_LONG", "Password too long")


def test_verify_password_needs_a_password_and_a_session(api: httpx.Client) -> None:
    missing = api.post(VERIFY_PASSWORD, json={})
    anonymous = api.post(VERIFY_PASSWORD, json={"password": PASSWORD})

    assert missing.status_code == 400
    assert missing.json() == error_body(
        "VALIDATION_ERROR", "[body.password] Invalid input: expected string, received undefined"
    )
    assert anonymous.status_code == 401
    assert anonymous.json() == UNAUTHORIZED


def test_verify_password_uses_the_session_not_a_stale_cookie(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    db_fetch(database_url, "DELETE FROM session WHERE token = $1", user.token)

    response = _post(api, live_server, user, VERIFY_PASSWORD, {"password": PASSWORD})

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert session_row(database_url, user.token) is None
