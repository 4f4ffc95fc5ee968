"""Session rules: get-session, expiry, the sliding refresh, freshness, listing, revoking and
sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from tests.support.auth_client import (
    API,
    DAY,
    SESSION_KEYS,
    SESSION_TOKEN,
    USER_KEYS,
    WEEK,
    SignedIn,
    api_client,
    assert_close,
    authed,
    clearing_lines,
    db_fetch,
    dont_remember_cookie,
    error_body,
    parse_js_date,
    session_cookie,
    session_row,
    session_tokens,
    set_cookies,
    sign_in,
    sign_up,
    signed_cookie_value,
    utc_now,
)
from tests.support.server import LiveServer

GET_SESSION = f"{API}/get-session"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
UNAUTHORIZED = error_body("UNAUTHORIZED", "Unauthorized")
STATUS_TRUE = {"status": True}


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    """One client for the module: it keeps no cookies, so tests cannot leak state."""
    with api_client(live_server) as http:
        yield http


@pytest.fixture
def user(api: httpx.Client) -> SignedIn:
    return sign_up(api)


def _get_session(api: httpx.Client, cookie: str, query: str = "") -> httpx.Response:
    return api.get(GET_SESSION + query, headers={"cookie": cookie})


def _set_session_times(
    database_url: str,
    token: str,
    *,
    expires_in: timedelta | None = None,
    created_ago: timedelta | None = None,
) -> None:
    now = utc_now()
    if expires_in is not None:
        db_fetch(
            database_url,
            "UPDATE session SET expires_at = $1 WHERE token = $2",
            now + expires_in,
            token,
        )
    if created_ago is not None:
        db_fetch(
            database_url,
            "UPDATE session SET created_at = $1 WHERE token = $2",
            now - created_ago,
            token,
        )


def _assert_no_store(response: httpx.Response) -> None:
    for name, value in NO_STORE.items():
        assert response.headers[name] == value


# --------------------------------------------------------------------------- get-session


def test_get_session_without_cookie_is_200_null_and_not_cached(api: httpx.Client) -> None:
    response = api.get(GET_SESSION)

    assert response.status_code == 200
    assert response.content == b"null"
    _assert_no_store(response)
    assert response.headers.get_list("set-cookie") == []


def test_get_session_returns_session_and_user_with_the_raw_token(
    api: httpx.Client, user: SignedIn
) -> None:
    response = _get_session(api, user.cookie)

    assert response.status_code == 200
    _assert_no_store(response)
    body = response.json()
    assert list(body) == ["session", "user"]
    assert list(body["session"]) == SESSION_KEYS
    assert list(body["user"]) == USER_KEYS
    assert body["session"]["token"] == user.token
    assert body["session"]["userId"] == user.user_id
    assert body["user"] == user.user
    # A fresh session is not due for refresh: no cookie is re-issued.
    assert response.headers.get_list("set-cookie") == []


def test_get_session_with_a_bad_signature_is_null_and_clears_nothing(
    api: httpx.Client, user: SignedIn
) -> None:
    forged = signed_cookie_value(user.token, secret="not-the-secret-" * 3)

    for value in (forged, f"{user.token}.AAAA", user.token, "garbage"):
        response = _get_session(api, f"{SESSION_TOKEN}={value}")

        assert response.status_code == 200
        assert response.content == b"null"
        assert response.headers.get_list("set-cookie") == []


def test_get_session_with_a_signed_unknown_token_is_null_and_clears_cookies(
    api: httpx.Client,
) -> None:
    response = _get_session(api, session_cookie("x" * 32))

    assert response.status_code == 200
    assert response.content == b"null"
    assert response.headers.get_list("set-cookie") == clearing_lines()


def test_get_session_accepts_an_unencoded_signed_value(api: httpx.Client, user: SignedIn) -> None:
    raw = signed_cookie_value(user.token).replace("%2F", "/").replace("%2B", "+")
    raw = raw.replace("%3D", "=")

    response = _get_session(api, f"{SESSION_TOKEN}={raw}")

    assert response.json()["session"]["token"] == user.token


def test_when_a_cookie_name_repeats_the_first_one_wins(api: httpx.Client, user: SignedIn) -> None:
    unknown = session_cookie("x" * 32)

    first_valid = _get_session(api, f"{user.cookie}; {unknown}")
    first_unknown = _get_session(api, f"{unknown}; {user.cookie}")
    first_unsigned = _get_session(api, f"{SESSION_TOKEN}=junk; {user.cookie}")

    assert first_valid.json()["session"]["token"] == user.token
    assert first_unknown.content == b"null"
    assert first_unknown.headers.get_list("set-cookie") == clearing_lines()
    assert first_unsigned.content == b"null"
    assert first_unsigned.headers.get_list("set-cookie") == []


def test_post_get_session_is_405_without_defer_session_refresh(
    api: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    response = api.post(GET_SESSION, json={})

    assert response.status_code == 405
    assert response.json() == error_body(
        "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED",
        "POST method requires deferSessionRefresh to be enabled in session config",
    )
    _assert_no_store(response)
    # With a cookie the origin check still runs first.
    with_cookie = api.post(GET_SESSION, headers={"cookie": user.cookie})
    assert with_cookie.status_code == 403
    assert with_cookie.json()["code"] == "MISSING_OR_NULL_ORIGIN"
    trusted = api.post(GET_SESSION, headers=authed(user, live_server.origin))
    assert trusted.status_code == 405


# --------------------------------------------------------------------------- expiry and refresh


def test_an_expired_session_is_null_deleted_and_its_cookies_cleared(
    api: httpx.Client, user: SignedIn, database_url: str
) -> None:
    _set_session_times(database_url, user.token, expires_in=timedelta(seconds=-1))

    response = _get_session(api, user.cookie)

    assert response.status_code == 200
    assert response.content == b"null"
    assert response.headers.get_list("set-cookie") == clearing_lines()
    assert session_row(database_url, user.token) is None


def test_an_expired_session_is_refused_by_session_endpoints(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    _set_session_times(database_url, user.token, expires_in=timedelta(seconds=-1))

    response = api.post(f"{API}/revoke-sessions", headers=authed(user, live_server.origin))

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert response.headers.get_list("set-cookie") == clearing_lines()


def test_get_session_slides_the_expiry_once_update_age_has_passed(
    api: httpx.Client, user: SignedIn, database_url: str
) -> None:
    # Issued a day and a minute ago: expiresAt - expiresIn + updateAge <= now.
    _set_session_times(database_url, user.token, expires_in=timedelta(seconds=WEEK - DAY - 60))

    response = _get_session(api, user.cookie)

    assert response.status_code == 200
    session = response.json()["session"]
    assert_close(parse_js_date(session["expiresAt"]), utc_now() + timedelta(seconds=WEEK))
    assert_close(parse_js_date(session["updatedAt"]), utc_now())
    [cookie] = set_cookies(response)
    assert cookie.name == SESSION_TOKEN
    assert cookie.value == signed_cookie_value(user.token)
    assert cookie.attributes == ["Max-Age=604800", "Path=/", "HttpOnly", "SameSite=Lax"]
    row = session_row(database_url, user.token)
    assert row is not None
    assert_close(row["expires_at"], utc_now() + timedelta(seconds=WEEK))


def test_an_empty_disable_refresh_still_refreshes(
    api: httpx.Client, user: SignedIn, database_url: str
) -> None:
    _set_session_times(database_url, user.token, expires_in=timedelta(seconds=WEEK - DAY - 60))

    response = _get_session(api, user.cookie, "?disableRefresh=")

    assert_close(
        parse_js_date(response.json()["session"]["expiresAt"]), utc_now() + timedelta(seconds=WEEK)
    )
    assert len(response.headers.get_list("set-cookie")) == 1


def test_get_session_does_not_refresh_before_update_age(
    api: httpx.Client, user: SignedIn, database_url: str
) -> None:
    _set_session_times(database_url, user.token, expires_in=timedelta(seconds=WEEK - DAY + 60))
    before = session_row(database_url, user.token)

    response = _get_session(api, user.cookie)

    assert response.headers.get_list("set-cookie") == []
    assert session_row(database_url, user.token) == before


@pytest.mark.parametrize(
    "how",
    ["dont_remember-cookie", "?disableRefresh=true", "?disableRefresh=false", "?disableRefresh=0"],
)
def test_refresh_is_skipped_with_dont_remember_or_disable_refresh(
    api: httpx.Client, user: SignedIn, database_url: str, how: str
) -> None:
    # disableRefresh is coerced as zod's coerce.boolean(): any non-empty value is true.
    _set_session_times(database_url, user.token, expires_in=timedelta(seconds=WEEK - DAY - 60))
    before = session_row(database_url, user.token)
    assert before is not None

    if how == "dont_remember-cookie":
        response = _get_session(api, f"{user.cookie}; {dont_remember_cookie()}")
    else:
        response = _get_session(api, user.cookie, how)

    assert response.status_code == 200
    assert response.json()["session"]["token"] == user.token
    assert response.headers.get_list("set-cookie") == []
    assert session_row(database_url, user.token) == before


def test_a_remember_me_false_session_without_dont_remember_is_refreshed_to_a_week(
    api: httpx.Client, user: SignedIn, database_url: str
) -> None:
    short = sign_in(api, user.email, rememberMe=False)

    response = _get_session(api, session_cookie(short.token))

    assert_close(
        parse_js_date(response.json()["session"]["expiresAt"]), utc_now() + timedelta(seconds=WEEK)
    )
    [cookie] = set_cookies(response)
    assert cookie.attributes[0] == "Max-Age=604800"


# --------------------------------------------------------------------------- refresh elsewhere


def _make_due(database_url: str, token: str) -> None:
    _set_session_times(database_url, token, expires_in=timedelta(seconds=WEEK - DAY - 60))


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "list-sessions", None, 200),
        ("POST", "revoke-other-sessions", None, 200),
        ("POST", "verify-password", {"password": "not-the-password"}, 400),
        ("POST", "update-user", {"unknown": 1}, 400),
    ],
    ids=["list-sessions", "revoke-other-sessions", "verify-password-error", "update-user-error"],
)
def test_session_endpoints_refresh_a_due_session_even_when_they_fail(
    api: httpx.Client,
    live_server: LiveServer,
    user: SignedIn,
    database_url: str,
    method: str,
    path: str,
    body: dict[str, object] | None,
    status: int,
) -> None:
    _make_due(database_url, user.token)

    response = api.request(
        method, f"{API}/{path}", json=body, headers=authed(user, live_server.origin)
    )

    assert response.status_code == status
    [cookie] = set_cookies(response)
    assert cookie.name == SESSION_TOKEN
    assert cookie.value == signed_cookie_value(user.token)
    assert cookie.attributes[0] == "Max-Age=604800"
    row = session_row(database_url, user.token)
    assert row is not None
    assert_close(row["expires_at"], utc_now() + timedelta(seconds=WEEK))


def test_update_user_after_a_refresh_sends_the_cookie_twice_as_better_auth(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    _make_due(database_url, user.token)

    response = api.post(
        f"{API}/update-user", json={"name": "Again"}, headers=authed(user, live_server.origin)
    )

    lines = response.headers.get_list("set-cookie")
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert lines[0].startswith(f"{SESSION_TOKEN}={signed_cookie_value(user.token)}; Max-Age=")


def test_ending_the_session_replaces_the_refreshed_cookie(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    _make_due(database_url, user.token)

    response = api.post(f"{API}/revoke-sessions", headers=authed(user, live_server.origin))

    assert response.headers.get_list("set-cookie") == clearing_lines()


@pytest.mark.parametrize("how", ["dont_remember-cookie", "disableRefresh-query"])
def test_session_endpoints_skip_the_refresh_like_get_session(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str, how: str
) -> None:
    _make_due(database_url, user.token)
    before = session_row(database_url, user.token)
    if how == "dont_remember-cookie":
        user.extra_cookies.append(dont_remember_cookie())
    query = "?disableRefresh=true" if how == "disableRefresh-query" else ""

    response = api.get(f"{API}/list-sessions{query}", headers={"cookie": user.cookie})

    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == []
    assert session_row(database_url, user.token) == before


# --------------------------------------------------------------------------- stale cache cookies


def test_get_session_expires_a_stale_session_data_cookie(api: httpx.Client, user: SignedIn) -> None:
    response = _get_session(api, f"{user.cookie}; better-auth.session_data=stale-cache")

    assert response.json()["session"]["token"] == user.token
    assert response.headers.get_list("set-cookie") == [
        "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    ]


def test_get_session_expires_every_chunk_of_a_stale_cache(api: httpx.Client) -> None:
    response = _get_session(
        api,
        "better-auth.session_data.1=b; better-auth.session_data.0=a; "
        "better-auth.session_data.x=not-a-chunk",
    )

    assert response.content == b"null"
    assert response.headers.get_list("set-cookie") == [
        "better-auth.session_data.1=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "better-auth.session_data.0=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_an_empty_session_data_cookie_is_left_alone(api: httpx.Client, user: SignedIn) -> None:
    response = _get_session(api, f"{user.cookie}; better-auth.session_data=")

    assert response.headers.get_list("set-cookie") == []


def test_clearing_also_expires_the_cache_cookies_the_request_carried(
    api: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    user.extra_cookies.append("better-auth.session_data=stale; better-auth.session_data.0=x")

    response = api.post(f"{API}/sign-out", headers=authed(user, live_server.origin))

    # Better Auth's deleteSessionCookie: the three lines, with every cache cookie seen in the
    # request expired after the plain one (so the plain one twice).
    token, data, *carried, remember = response.headers.get_list("set-cookie")
    assert [token, data, remember] == clearing_lines()
    assert carried == [
        "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
        "better-auth.session_data.0=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    ]


# --------------------------------------------------------------------------- list-sessions


def test_list_sessions_lists_the_users_live_sessions_with_tokens(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    second = sign_in(api, user.email)
    expired = sign_in(api, user.email)
    _set_session_times(database_url, expired.token, expires_in=timedelta(seconds=-5))
    other_user = sign_up(api)

    response = api.get(f"{API}/list-sessions", headers={"cookie": user.cookie})

    assert response.status_code == 200
    sessions = response.json()
    assert {s["token"] for s in sessions} == {user.token, second.token}
    assert all(list(s) == SESSION_KEYS for s in sessions)
    assert all(s["userId"] == user.user_id for s in sessions)
    assert other_user.token not in {s["token"] for s in sessions}


def test_list_sessions_needs_a_fresh_session(
    api: httpx.Client, user: SignedIn, database_url: str
) -> None:
    _set_session_times(database_url, user.token, created_ago=timedelta(seconds=DAY + 60))

    response = api.get(f"{API}/list-sessions", headers={"cookie": user.cookie})

    assert response.status_code == 403
    assert response.json() == error_body("SESSION_NOT_FRESH", "Session is not fresh")
    # Staleness only matters to fresh-session endpoints.
    assert _get_session(api, user.cookie).json()["session"]["token"] == user.token


def test_list_sessions_without_a_session_is_401(api: httpx.Client, user: SignedIn) -> None:
    anonymous = api.get(f"{API}/list-sessions")
    badly_signed = api.get(
        f"{API}/list-sessions", headers={"cookie": f"{SESSION_TOKEN}={user.token}.AAAA"}
    )
    unknown = api.get(f"{API}/list-sessions", headers={"cookie": session_cookie("y" * 32)})

    for response in (anonymous, badly_signed, unknown):
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED
    # Only a validly signed cookie naming no session is cleared.
    assert anonymous.headers.get_list("set-cookie") == []
    assert badly_signed.headers.get_list("set-cookie") == []
    assert unknown.headers.get_list("set-cookie") == clearing_lines()


# --------------------------------------------------------------------------- revoking


def test_revoke_session_deletes_another_session_of_the_user(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    other = sign_in(api, user.email)

    response = api.post(
        f"{API}/revoke-session",
        json={"token": other.token},
        headers=authed(user, live_server.origin),
    )

    assert response.status_code == 200
    assert response.json() == STATUS_TRUE
    assert response.headers.get_list("set-cookie") == []
    assert session_tokens(database_url, user.user_id) == {user.token}


def test_revoke_session_of_the_current_session_clears_cookies(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    response = api.post(
        f"{API}/revoke-session",
        json={"token": user.token},
        headers=authed(user, live_server.origin),
    )

    assert response.json() == STATUS_TRUE
    assert response.headers.get_list("set-cookie") == clearing_lines()
    assert session_row(database_url, user.token) is None


def test_revoke_session_of_someone_elses_token_changes_nothing(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    stranger = sign_up(api)

    for token in (stranger.token, "x" * 32, ""):
        response = api.post(
            f"{API}/revoke-session", json={"token": token}, headers=authed(user, live_server.origin)
        )
        assert response.status_code == 200
        assert response.json() == STATUS_TRUE
    assert session_row(database_url, stranger.token) is not None


def test_revoke_session_requires_a_token_and_a_session(
    api: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    missing = api.post(f"{API}/revoke-session", json={}, headers=authed(user, live_server.origin))
    wrong_type = api.post(
        f"{API}/revoke-session", json={"token": 5}, headers=authed(user, live_server.origin)
    )
    anonymous = api.post(f"{API}/revoke-session", json={"token": user.token})

    assert missing.status_code == 400
    assert missing.json() == error_body(
        "VALIDATION_ERROR", "[body.token] Invalid input: expected string, received undefined"
    )
    assert wrong_type.json() == error_body(
        "VALIDATION_ERROR", "[body.token] Invalid input: expected string, received number"
    )
    assert anonymous.status_code == 401
    assert anonymous.json() == UNAUTHORIZED


def test_revoke_sessions_deletes_every_session_of_the_user_only(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    sign_in(api, user.email)
    stranger = sign_up(api)

    response = api.post(f"{API}/revoke-sessions", headers=authed(user, live_server.origin))

    assert response.status_code == 200
    assert response.json() == STATUS_TRUE
    assert response.headers.get_list("set-cookie") == clearing_lines()
    assert session_tokens(database_url, user.user_id) == set()
    assert session_row(database_url, stranger.token) is not None


def test_revoke_other_sessions_keeps_only_the_current_one(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    sign_in(api, user.email)
    sign_in(api, user.email, rememberMe=False)

    response = api.post(f"{API}/revoke-other-sessions", headers=authed(user, live_server.origin))

    assert response.status_code == 200
    assert response.json() == STATUS_TRUE
    assert response.headers.get_list("set-cookie") == []
    assert session_tokens(database_url, user.user_id) == {user.token}


@pytest.mark.parametrize("path", ["revoke-sessions", "revoke-other-sessions"])
def test_revoke_endpoints_without_a_session_are_401(api: httpx.Client, path: str) -> None:
    response = api.post(f"{API}/{path}")

    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


# --------------------------------------------------------------------------- sign-out


def test_sign_out_deletes_the_session_and_clears_the_three_cookies(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    response = api.post(f"{API}/sign-out", headers=authed(user, live_server.origin))

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert response.headers.get_list("set-cookie") == clearing_lines()
    assert session_row(database_url, user.token) is None
    after = _get_session(api, user.cookie)
    assert after.content == b"null"


def test_sign_out_without_a_session_still_clears_cookies(api: httpx.Client) -> None:
    for response in (api.post(f"{API}/sign-out"), api.post(f"{API}/sign-out", json={})):
        assert response.status_code == 200
        assert response.json() == {"success": True}
        assert response.headers.get_list("set-cookie") == clearing_lines()


def test_sign_out_leaves_other_sessions_alone(
    api: httpx.Client, live_server: LiveServer, user: SignedIn, database_url: str
) -> None:
    other = sign_in(api, user.email)

    api.post(f"{API}/sign-out", headers=authed(user, live_server.origin))

    assert session_tokens(database_url, user.user_id) == {other.token}
