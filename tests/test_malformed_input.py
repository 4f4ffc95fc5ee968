"""Malformed input never gives a 500 nor a partial write.

Content types, non-object bodies, wrong types for every field, huge strings, NUL characters,
deep nesting and invalid UTF-8: each is answered with a 4xx JSON error (or, where Better Auth
accepts the input, stored intact), and a refused sign-up leaves no row behind.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.auth_client import (
    API,
    PASSWORD,
    SignedIn,
    api_client,
    authed,
    clearing_lines,
    db_one,
    error_body,
    session_cookie,
    sign_in,
    sign_up,
    unique_email,
    user_count,
    users_with_email,
)
from tests.support.server import LiveServer

SIGN_UP = f"{API}/sign-up/email"
SIGN_IN = f"{API}/sign-in/email"
SIGN_OUT = f"{API}/sign-out"
JSON_TYPE = {"content-type": "application/json"}
FORM_TYPE = {"content-type": "application/x-www-form-urlencoded"}
FORM_AND_JSON = "application/x-www-form-urlencoded, application/json"
INVALID_JSON = error_body("BAD_REQUEST", "Invalid JSON in request body")


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


@pytest.fixture(autouse=True)
def _no_unhandled_errors(live_server: LiveServer) -> Iterator[None]:
    """Whatever a test sends, the server logs no unhandled exception for it."""
    start = len(live_server.log())
    yield
    assert "Traceback" not in live_server.log()[start:]


@pytest.fixture
def rows_unchanged(database_url: str) -> Iterator[None]:
    """The test must leave the user and account tables exactly as it found them."""

    def counts() -> tuple[int, int]:
        row = db_one(
            database_url,
            'SELECT (SELECT count(*) FROM "user") AS u, (SELECT count(*) FROM account) AS a',
        )
        return int(row["u"]), int(row["a"])

    before = counts()
    yield
    assert counts() == before


def _random_text(length: int) -> str:
    """Lower-case hex: random enough that PostgreSQL cannot compress it into an index entry."""
    return secrets.token_hex(length // 2 + 1)[:length]


# --------------------------------------------------------------------------- content types


@pytest.mark.parametrize(
    ("path", "content_type", "allowed"),
    [
        (SIGN_UP, "text/plain", FORM_AND_JSON),
        (SIGN_IN, "text/plain; charset=utf-8", FORM_AND_JSON),
        (SIGN_UP, "Text/Plain; Charset=UTF-8", FORM_AND_JSON),
        (SIGN_UP, "multipart/form-data; boundary=x", FORM_AND_JSON),
        (SIGN_OUT, "text/plain", "application/json"),
        (SIGN_OUT, "application/x-www-form-urlencoded", "application/json"),
        (SIGN_UP, "application/jsonx", FORM_AND_JSON),
    ],
    ids=[
        "text-plain",
        "params-echoed",
        "case-echoed",
        "multipart",
        "json-only-endpoint",
        "form-on-json-only-endpoint",
        "near-miss",
    ],
)
def test_an_unsupported_content_type_is_415_quoting_the_header(
    api: httpx.Client, path: str, content_type: str, allowed: str
) -> None:
    body = {"name": "x", "email": unique_email(), "password": PASSWORD}

    response = api.post(path, content=json.dumps(body), headers={"content-type": content_type})

    assert response.status_code == 415
    assert response.json() == error_body(
        "UNSUPPORTED_MEDIA_TYPE",
        f'Content-Type "{content_type}" is not allowed. Allowed types: {allowed}',
    )


@pytest.mark.parametrize(
    ("path", "allowed"), [(SIGN_UP, FORM_AND_JSON), (SIGN_OUT, "application/json")]
)
def test_a_body_without_content_type_is_415(
    api: httpx.Client, database_url: str, path: str, allowed: str
) -> None:
    email = unique_email()
    body = json.dumps({"name": "x", "email": email, "password": PASSWORD}).encode()

    response = api.post(path, content=body)  # httpx adds no content-type to raw bytes

    assert response.status_code == 415
    assert response.json() == error_body(
        "UNSUPPORTED_MEDIA_TYPE", f"Content-Type is required. Allowed types: {allowed}"
    )
    assert users_with_email(database_url, email) == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "Application/JSON", "application/json; charset=utf-8"],
)
def test_json_media_type_is_matched_case_insensitively(
    api: httpx.Client, content_type: str
) -> None:
    email = unique_email()
    body = json.dumps({"name": "J", "email": email, "password": PASSWORD})

    response = api.post(SIGN_UP, content=body, headers={"content-type": content_type})

    assert response.status_code == 200
    assert response.json()["user"]["email"] == email


def test_a_utf8_bom_before_json_is_ignored(api: httpx.Client) -> None:
    email = unique_email()
    body = json.dumps({"name": "B", "email": email, "password": PASSWORD}).encode()

    response = api.post(SIGN_UP, content=b"\xef\xbb\xbf" + body, headers=JSON_TYPE)

    assert response.status_code == 200


@pytest.mark.parametrize(
    "raw",
    [
        b'{"email":',
        b"   ",
        b'{"a":1} trailing',
        b'{"email":NaN}',
        b'{"email":1e999}',
        b"{'single':'quotes'}",
    ],
    ids=[
        "truncated",
        "whitespace",
        "trailing-garbage",
        "nan",
        "overflowing-number",
        "single-quotes",
    ],
)
def test_bad_json_is_400_invalid_json(api: httpx.Client, raw: bytes, rows_unchanged: None) -> None:
    response = api.post(SIGN_UP, content=raw, headers=JSON_TYPE)

    assert response.status_code == 400
    assert response.json() == INVALID_JSON


# --------------------------------------------------------------------------- body shapes


def _object_issue(received: str) -> str:
    return f"[body] Invalid input: expected object, received {received}"


def _record_issue(received: str) -> str:
    return f"[body] Invalid input: expected record, received {received}"


@pytest.mark.parametrize(
    ("raw", "received"),
    [
        (b"null", "null"),
        (b"42", "number"),
        (b"[]", "array"),
        (b'"text"', "string"),
        (b"true", "boolean"),
        (None, "undefined"),
    ],
    ids=["null", "number", "array", "string", "boolean", "missing"],
)
@pytest.mark.parametrize(
    ("path", "issues"),
    [
        (SIGN_UP, (_object_issue, _record_issue)),  # z.object(...).and(z.record(...))
        (SIGN_IN, (_object_issue,)),
        (f"{API}/update-user", (_record_issue,)),  # z.record(...)
        (f"{API}/change-password", (_object_issue,)),
        (f"{API}/revoke-session", (_object_issue,)),
    ],
    ids=["sign-up", "sign-in", "update-user", "change-password", "revoke-session"],
)
def test_a_non_object_body_is_a_validation_error_naming_the_zod_type(
    api: httpx.Client,
    rows_unchanged: None,
    path: str,
    issues: tuple[Any, ...],
    raw: bytes | None,
    received: str,
) -> None:
    response = api.post(path) if raw is None else api.post(path, content=raw, headers=JSON_TYPE)

    assert response.status_code == 400
    assert response.json() == error_body(
        "VALIDATION_ERROR", "; ".join(issue(received) for issue in issues)
    )


def test_sign_out_takes_no_body_but_refuses_a_non_object_one(api: httpx.Client) -> None:
    empty = api.post(SIGN_OUT)
    null = api.post(SIGN_OUT, content=b"null", headers=JSON_TYPE)

    assert empty.status_code == 200
    assert null.status_code == 400
    assert null.json() == error_body("VALIDATION_ERROR", _object_issue("null"))
    assert null.headers.get_list("set-cookie") == []


# --------------------------------------------------------------------------- wrong types


def _endpoint(path: str) -> str:
    return path.removeprefix(f"{API}/").removesuffix("/email")


WRONG_VALUES: list[tuple[Any, str]] = [
    (None, "null"),
    (7, "number"),
    (True, "boolean"),
    ([], "array"),
    ({}, "object"),
]
STRING_FIELDS = [
    (SIGN_UP, {"name": "N", "email": "typed@example.com", "password": PASSWORD}, "name"),
    (SIGN_UP, {"name": "N", "email": "typed@example.com", "password": PASSWORD}, "email"),
    (SIGN_UP, {"name": "N", "email": "typed@example.com", "password": PASSWORD}, "password"),
    (SIGN_UP, {"name": "N", "email": "typed@example.com", "password": PASSWORD}, "image"),
    (SIGN_IN, {"email": "typed@example.com", "password": PASSWORD}, "email"),
    (SIGN_IN, {"email": "typed@example.com", "password": PASSWORD}, "password"),
    (
        f"{API}/change-password",
        {"currentPassword": PASSWORD, "newPassword": PASSWORD},
        "currentPassword",
    ),
    (
        f"{API}/change-password",
        {"currentPassword": PASSWORD, "newPassword": PASSWORD},
        "newPassword",
    ),
    (f"{API}/verify-password", {"password": PASSWORD}, "password"),
    (f"{API}/revoke-session", {"token": "t"}, "token"),
]
BOOLEAN_FIELDS = [
    (SIGN_UP, {"name": "N", "email": "typed@example.com", "password": PASSWORD}, "rememberMe"),
    (SIGN_IN, {"email": "typed@example.com", "password": PASSWORD}, "rememberMe"),
    (
        f"{API}/change-password",
        {"currentPassword": PASSWORD, "newPassword": PASSWORD},
        "revokeOtherSessions",
    ),
    (SIGN_OUT, {}, "disableRedirect"),
]


@pytest.mark.parametrize(("value", "received"), WRONG_VALUES, ids=[r for _, r in WRONG_VALUES])
@pytest.mark.parametrize(
    ("path", "valid", "field"),
    STRING_FIELDS,
    ids=[f"{_endpoint(path)}.{field}" for path, _, field in STRING_FIELDS],
)
def test_a_string_field_of_another_type_is_a_validation_error(
    api: httpx.Client,
    rows_unchanged: None,
    path: str,
    valid: dict[str, Any],
    field: str,
    value: Any,
    received: str,
) -> None:
    response = api.post(path, json={**valid, field: value})

    expected = f"[body.{field}] Invalid input: expected string, received {received}"
    if (path, field) == (SIGN_UP, "password") and value == []:
        # zod still runs the password's min(1) length check on an array.
        expected += "; [body.password] Too small: expected array to have >=1 items"
    assert response.status_code == 400
    assert response.json() == error_body("VALIDATION_ERROR", expected)


@pytest.mark.parametrize(
    ("value", "received"),
    [(None, "null"), (1, "number"), ("true", "string"), ([], "array"), ({}, "object")],
    ids=["null", "number", "string", "array", "object"],
)
@pytest.mark.parametrize(
    ("path", "valid", "field"),
    BOOLEAN_FIELDS,
    ids=[f"{_endpoint(path)}.{field}" for path, _, field in BOOLEAN_FIELDS],
)
def test_a_boolean_field_of_another_type_is_a_validation_error(
    api: httpx.Client,
    rows_unchanged: None,
    path: str,
    valid: dict[str, Any],
    field: str,
    value: Any,
    received: str,
) -> None:
    response = api.post(path, json={**valid, field: value})

    assert response.status_code == 400
    assert response.json() == error_body(
        "VALIDATION_ERROR", f"[body.{field}] Invalid input: expected boolean, received {received}"
    )


# --------------------------------------------------------------------------- huge strings


def test_a_one_megabyte_name_is_stored_whole(api: httpx.Client, database_url: str) -> None:
    # Better Auth accepts it too; what matters is that nothing is cut or half-written.
    name = _random_text(1_000_000)

    created = sign_up(api, name=name)

    row = db_one(
        database_url,
        'SELECT length(name) AS n, md5(name) = md5($2) AS same FROM "user" WHERE id = $1',
        created.user_id,
        name,
    )
    assert row == {"n": 1_000_000, "same": True}


def test_a_100k_email_is_refused_with_no_row_written(
    api: httpx.Client, rows_unchanged: None
) -> None:
    email = f"{_random_text(100_000)}@example.com"

    sign_up_response = api.post(SIGN_UP, json={"name": "x", "email": email, "password": PASSWORD})
    sign_in_response = api.post(SIGN_IN, json={"email": email, "password": PASSWORD})

    # Too long for the e-mail index: PostgreSQL refuses it, as Better Auth reports.
    assert sign_up_response.status_code == 422
    assert sign_up_response.json() == error_body("FAILED_TO_CREATE_USER", "Failed to create user")
    assert sign_in_response.status_code == 401
    assert sign_in_response.json()["code"] == "INVALID_EMAIL_OR_PASSWORD"


def test_a_one_megabyte_password_is_too_long(api: httpx.Client, rows_unchanged: None) -> None:
    response = api.post(
        SIGN_UP, json={"name": "x", "email": unique_email(), "password": "p" * 1_000_000}
    )

    assert response.status_code == 400
    assert response.json() == error_body("PASSWORD_TOO_LONG", "Password too long")


# --------------------------------------------------------------------------- NUL characters


@pytest.mark.parametrize("field", ["name", "image"])
def test_a_nul_character_in_a_stored_field_fails_sign_up_cleanly(
    api: httpx.Client, database_url: str, rows_unchanged: None, field: str
) -> None:
    email = unique_email("nul")
    body = {"name": "ok", "email": email, "password": PASSWORD, field: "a\u0000b"}

    response = api.post(SIGN_UP, json=body)

    assert response.status_code == 422
    assert response.json() == error_body("FAILED_TO_CREATE_USER", "Failed to create user")
    assert users_with_email(database_url, email) == []


def test_a_nul_character_in_the_email_is_an_invalid_email(
    api: httpx.Client, rows_unchanged: None
) -> None:
    response = api.post(
        SIGN_UP, json={"name": "x", "email": "a\u0000b@example.com", "password": PASSWORD}
    )

    assert response.status_code == 400
    assert response.json() == error_body("VALIDATION_ERROR", "[body.email] Invalid email address")


def test_a_nul_character_in_the_password_is_kept(api: httpx.Client) -> None:
    password = "pass\u0000word-123"
    created = sign_up(api, password=password)

    sign_in(api, created.email, password)
    without_nul = api.post(SIGN_IN, json={"email": created.email, "password": "password-123"})

    assert without_nul.status_code == 401


@pytest.mark.parametrize("field", ["name", "image"])
def test_a_nul_character_in_update_user_changes_nothing(
    api: httpx.Client, live_server: LiveServer, database_url: str, field: str
) -> None:
    user = sign_up(api, name="Unchanged")

    response = api.post(
        f"{API}/update-user", json={field: "x\u0000y"}, headers=authed(user, live_server.origin)
    )

    # Better Auth answers an empty 500 here (PostgreSQL refuses NUL in text): we validate.
    assert response.status_code == 400
    assert response.json() == error_body(
        "VALIDATION_ERROR", f"[body.{field}] Invalid string: must not contain NUL characters"
    )
    row = db_one(database_url, 'SELECT name, image FROM "user" WHERE id = $1', user.user_id)
    assert row == {"name": "Unchanged", "image": None}


def test_a_nul_character_in_a_session_token_matches_no_session(
    api: httpx.Client, live_server: LiveServer
) -> None:
    user: SignedIn = sign_up(api)

    revoke = api.post(
        f"{API}/revoke-session",
        json={"token": "a\u0000b"},
        headers=authed(user, live_server.origin),
    )
    lookup = api.get(f"{API}/get-session", headers={"cookie": session_cookie("a\u0000b")})

    assert revoke.status_code == 200
    assert revoke.json() == {"status": True}
    assert lookup.status_code == 200
    assert lookup.content == b"null"
    assert lookup.headers.get_list("set-cookie") == clearing_lines()


# --------------------------------------------------------------------------- nesting and bytes


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"name":' + b"[" * 5000 + b"]" * 5000 + b',"email":"deep@example.com","password":"x"}',
    ],
    ids=["deep-array", "deep-object", "deep-field"],
)
def test_json_nested_beyond_the_parser_limit_is_invalid_json(
    api: httpx.Client, rows_unchanged: None, raw: bytes
) -> None:
    response = api.post(SIGN_UP, content=raw, headers=JSON_TYPE)

    assert response.status_code == 400
    assert response.json() == INVALID_JSON


def test_moderately_nested_values_are_validation_errors(
    api: httpx.Client, rows_unchanged: None
) -> None:
    nested: Any = "x"
    for _ in range(200):
        nested = {"k": [nested]}

    response = api.post(
        SIGN_UP, json={"name": nested, "email": unique_email(), "password": PASSWORD}
    )

    assert response.status_code == 400
    assert response.json() == error_body(
        "VALIDATION_ERROR", "[body.name] Invalid input: expected string, received object"
    )


@pytest.mark.parametrize(
    ("raw", "headers", "expected"),
    [
        (
            b'{"name":"\xff\xfe","email":"u8@example.com","password":"password-123"}',
            JSON_TYPE,
            INVALID_JSON,
        ),
        (
            b'{"name":"\\ud800","email":"u8@example.com","password":"password-123"}',
            JSON_TYPE,
            INVALID_JSON,
        ),
        (
            b"name=\xff\xfe&email=u8%40example.com&password=password-123",
            FORM_TYPE,
            error_body("BAD_REQUEST", "Invalid form body"),
        ),
    ],
    ids=["raw-bytes-in-json", "lone-surrogate-escape", "raw-bytes-in-form"],
)
def test_text_that_is_not_utf8_is_refused(
    api: httpx.Client,
    database_url: str,
    rows_unchanged: None,
    raw: bytes,
    headers: dict[str, str],
    expected: dict[str, str],
) -> None:
    response = api.post(SIGN_UP, content=raw, headers=headers)

    assert response.status_code == 400
    assert response.json() == expected
    assert users_with_email(database_url, "u8@example.com") == []


def test_the_server_still_answers_after_the_malformed_requests(
    api: httpx.Client, database_url: str
) -> None:
    before = user_count(database_url)

    assert api.get(f"{API}/ok").json() == {"ok": True}
    sign_up(api)
    assert user_count(database_url) == before + 1
