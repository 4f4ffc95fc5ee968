"""The bearer plugin (spec §9.2, §12): `Authorization: Bearer` sessions and `set-auth-token`.

Expected answers were measured on the reference (Better Auth 1.7.25 with bearer() and jwt());
the last test replays the same questions and compares with the reference's recorded answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.support.auth_client import (
    API,
    SESSION_TOKEN,
    WEEK,
    NoCookieJar,
    SignedIn,
    api_client,
    assert_close,
    authed,
    clearing_lines,
    db_fetch,
    hmac_signature,
    parse_js_date,
    session_row,
    set_cookies,
    shared_server,
    sign_in,
    sign_up,
    unique_email,
    utc_now,
)
from tests.support.server import LiveServer

BEARER_GOLDEN = Path(__file__).parent / "compat" / "anchor_bearer_golden.json"


@pytest.fixture
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(live_server) as client:
        yield client


@pytest.fixture
def user(http: httpx.Client) -> SignedIn:
    return sign_up(http, name="Bearer User")


def signed(token: str) -> str:
    return f"{token}.{hmac_signature(token)}"


def get_session(http: httpx.Client, authorization: str, **headers: str) -> httpx.Response:
    response = http.get(f"{API}/get-session", headers={"authorization": authorization, **headers})
    assert response.status_code == 200, response.text
    return response


def session_of(response: httpx.Response) -> dict[str, Any] | None:
    body: dict[str, Any] | None = response.json()
    return body


# --------------------------------------------------------------------------- input


@pytest.mark.parametrize(
    "form",
    ["signed", "signed-url-encoded", "bare"],
)
def test_a_bearer_token_is_a_session(http: httpx.Client, user: SignedIn, form: str) -> None:
    value = {
        "signed": signed(user.token),
        "signed-url-encoded": quote(signed(user.token), safe=""),
        "bare": user.token,
    }[form]

    response = get_session(http, f"Bearer {value}")

    body = session_of(response)
    assert body is not None
    assert body["user"]["id"] == user.user_id
    assert body["session"]["token"] == user.token
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_scheme_is_case_insensitive(http: httpx.Client, user: SignedIn, scheme: str) -> None:
    body = session_of(get_session(http, f"{scheme} {signed(user.token)}"))
    assert body is not None
    assert body["user"]["id"] == user.user_id


def test_the_set_auth_token_header_is_a_bearer_token(http: httpx.Client) -> None:
    fresh = sign_up(http)
    value = fresh.response.headers["set-auth-token"]

    body = session_of(get_session(http, f"Bearer {value}"))

    assert body is not None
    assert body["session"]["token"] == fresh.token


def test_an_unknown_bare_token_ends_in_the_three_clearing_cookies(http: httpx.Client) -> None:
    # Better Auth signs a bare token itself; no session has it, so it clears the cookies.
    for value in ("not-a-real-token", "a%2Eb"):
        response = get_session(http, f"Bearer {value}")
        assert session_of(response) is None
        assert response.headers.get_list("set-cookie") == clearing_lines()


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc.def",
        "Bearer {token}.AAAA",
        "Bearer {token}.{wrong}",
        "Bearer {token}.{urlsafe}",
        "Basic {token}",
        "Bearer\t{token}",
        "{token}",
    ],
    ids=[
        "dotted-garbage",
        "short-signature",
        "wrong-signature",
        "base64url-signature",
        "basic-scheme",
        "tab",
        "no-scheme",
    ],
)
def test_an_unusable_value_is_ignored(
    http: httpx.Client, user: SignedIn, authorization: str
) -> None:
    """A `token.sig` whose signature fails, or another scheme, is not a credential at all: the
    request is unauthenticated and nothing is cleared (the reference's answers)."""
    header = authorization.format(
        token=user.token,
        wrong=hmac_signature(user.token + "x"),
        urlsafe=hmac_signature(user.token).replace("+", "-").replace("/", "_").rstrip("="),
    )

    response = get_session(http, header)

    assert session_of(response) is None
    assert "set-cookie" not in response.headers
    assert "set-auth-jwt" not in response.headers


# --------------------------------------------------------------------------- bearer and cookie


def test_the_bearer_session_wins_over_the_cookie(http: httpx.Client, user: SignedIn) -> None:
    other = sign_up(http)

    body = session_of(get_session(http, f"Bearer {signed(other.token)}", cookie=user.cookie))

    assert body is not None
    assert body["user"]["id"] == other.user_id


def test_an_ignored_bearer_value_leaves_the_cookie_in_charge(
    http: httpx.Client, user: SignedIn
) -> None:
    body = session_of(get_session(http, f"Bearer {user.token}.AAAA", cookie=user.cookie))
    assert body is not None
    assert body["user"]["id"] == user.user_id


def test_an_unknown_bare_bearer_token_wins_over_a_valid_cookie(
    http: httpx.Client, user: SignedIn
) -> None:
    response = get_session(http, "Bearer unknown-bare-token", cookie=user.cookie)

    assert session_of(response) is None
    assert response.headers.get_list("set-cookie") == clearing_lines()
    assert session_row_exists(http, user)


def session_row_exists(http: httpx.Client, user: SignedIn) -> bool:
    return session_of(get_session(http, f"Bearer {user.token}")) is not None


def test_a_post_with_a_cookie_header_still_needs_a_trusted_origin(
    http: httpx.Client, live_server: LiveServer
) -> None:
    user = sign_up(http)
    bearer = {"authorization": f"Bearer {signed(user.token)}"}

    refused = http.post(f"{API}/sign-out", headers={**bearer, "cookie": "theme=dark"})
    assert refused.status_code == 403
    assert refused.json() == {"message": "Missing or null Origin", "code": "MISSING_OR_NULL_ORIGIN"}
    evil = http.post(
        f"{API}/sign-out",
        headers={**bearer, "cookie": "theme=dark", "origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    assert evil.json()["code"] == "INVALID_ORIGIN"
    assert session_row_exists(http, user)

    allowed = http.post(
        f"{API}/sign-out",
        headers={**bearer, "cookie": "theme=dark", "origin": live_server.origin},
    )
    assert allowed.status_code == 200, allowed.text
    assert not session_row_exists(http, user)


def test_a_post_with_only_a_bearer_token_needs_no_origin(
    http: httpx.Client, database_url: str
) -> None:
    user = sign_up(http)

    response = http.post(
        f"{API}/sign-out", headers={"authorization": f"Bearer {signed(user.token)}"}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"success": True}
    assert session_row(database_url, user.token) is None


# --------------------------------------------------------------------------- set-auth-token


def assert_set_auth_token(response: httpx.Response, token: str, *, exposed: str) -> None:
    cookie = next(c for c in set_cookies(response) if c.name == SESSION_TOKEN)
    value = response.headers["set-auth-token"]
    assert value == signed(token)  # raw base64: `+`, `/` and `=` are not percent-encoded
    assert value == unquote(cookie.value)
    assert cookie.value.endswith("%3D")
    assert value.endswith("=")
    assert "%" not in value
    assert response.headers.get_list("access-control-expose-headers") == [exposed]


def test_sign_up_and_sign_in_send_set_auth_token(http: httpx.Client) -> None:
    up = sign_up(http)
    assert_set_auth_token(up.response, up.token, exposed="set-auth-token")

    signed_in = sign_in(http, up.email)
    assert_set_auth_token(signed_in.response, signed_in.token, exposed="set-auth-token")


def test_a_session_refresh_sends_set_auth_token_with_set_auth_jwt(
    http: httpx.Client, database_url: str
) -> None:
    user = sign_up(http)
    # Two days left: get-session slides the session (updateAge has passed) and re-sets the cookie.
    db_fetch(
        database_url,
        "UPDATE session SET expires_at = $1 WHERE token = $2",
        utc_now() + timedelta(days=2),
        user.token,
    )

    response = get_session(http, f"Bearer {user.token}")

    body = session_of(response)
    assert body is not None
    assert_close(parse_js_date(body["session"]["expiresAt"]), utc_now() + timedelta(seconds=WEEK))
    assert_set_auth_token(response, user.token, exposed="set-auth-jwt, set-auth-token")
    assert response.headers["set-auth-jwt"]


def test_no_set_auth_token_without_a_new_session_cookie(
    http: httpx.Client, live_server: LiveServer, user: SignedIn
) -> None:
    plain = get_session(http, f"Bearer {user.token}")
    assert "set-auth-token" not in plain.headers
    assert plain.headers["access-control-expose-headers"] == "set-auth-jwt"

    cleared = get_session(http, "Bearer not-a-real-token")
    assert "set-auth-token" not in cleared.headers
    assert "access-control-expose-headers" not in cleared.headers

    signed_out = http.post(f"{API}/sign-out", headers=authed(user, live_server.origin))
    assert signed_out.status_code == 200
    assert signed_out.headers.get_list("set-cookie") == clearing_lines()
    assert "set-auth-token" not in signed_out.headers

    failed = http.post(f"{API}/sign-in/email", json={"email": unique_email(), "password": "x" * 9})
    assert failed.status_code == 401
    assert "set-auth-token" not in failed.headers


# --------------------------------------------------------------------------- requireSignature


@pytest.fixture(scope="module")
def strict_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return shared_server(server_factory, {"BEARER_REQUIRE_SIGNATURE": "true"})


def test_require_signature_refuses_bare_tokens(strict_server: LiveServer) -> None:
    with api_client(strict_server) as http:
        user = sign_up(http)

        bare = get_session(http, f"Bearer {user.token}")
        assert session_of(bare) is None
        assert "set-cookie" not in bare.headers  # ignored, not an unknown session

        for value in (signed(user.token), quote(signed(user.token), safe="")):
            body = session_of(get_session(http, f"Bearer {value}"))
            assert body is not None
            assert body["user"]["id"] == user.user_id

        # The ignored bare token leaves the cookie in charge.
        with_cookie = session_of(get_session(http, f"Bearer {user.token}", cookie=user.cookie))
        assert with_cookie is not None
        assert with_cookie["user"]["id"] == user.user_id
        token = http.get(f"{API}/token", headers={"authorization": f"Bearer {user.token}"})
        assert token.status_code == 401


# --------------------------------------------------------------------------- the reference, live


def _normalised(response: httpx.Response, tokens: dict[str, str]) -> dict[str, Any]:
    """What must match between the two implementations, with volatile values replaced."""

    def mask(text: str) -> str:
        for name, value in tokens.items():
            text = text.replace(value, f"<{name}>")
        return text

    body = response.json() if response.content else None
    return {
        "status": response.status_code,
        "token": mask(body["token"] if "token" in body else body["session"]["token"])
        if isinstance(body, dict)
        else body,
        "set-cookie": [mask(line) for line in response.headers.get_list("set-cookie")],
        "set-auth-token": mask(response.headers.get("set-auth-token", "")),
        "set-auth-jwt": bool(response.headers.get("set-auth-jwt")),
        "expose": response.headers.get("access-control-expose-headers"),
    }


def _transcript(base_url: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=base_url, timeout=10, cookies=NoCookieJar()) as http:
        up = http.post(
            f"{API}/sign-up/email",
            json={"name": "Anchor", "email": unique_email("bearer"), "password": "x" * 12},
        )
        token = up.json()["token"]
        raw = up.headers["set-auth-token"]
        other = http.post(
            f"{API}/sign-up/email",
            json={"name": "Other", "email": unique_email("bearer"), "password": "x" * 12},
        )
        other_raw = other.headers["set-auth-token"]
        tokens = {
            "raw": raw,
            "raw-encoded": quote(raw, safe=""),
            "other": other_raw,
            "token": token,
            "other-token": other.json()["token"],
        }
        cookie = f"{SESSION_TOKEN}={quote(other_raw, safe='')}"
        requests = [
            {"authorization": f"Bearer {raw}"},
            {"authorization": f"Bearer {quote(raw, safe='')}"},
            {"authorization": f"bearer {token}"},
            {"authorization": "Bearer not-a-real-token"},
            {"authorization": "Bearer abc.def"},
            {"authorization": f"Bearer {token}.AAAA"},
            {"authorization": f"Basic {token}"},
            {"authorization": f"Bearer {raw}", "cookie": cookie},
            {"authorization": f"Bearer {token}.AAAA", "cookie": cookie},
            {"authorization": "Bearer not-a-real-token", "cookie": cookie},
        ]
        answers = [_normalised(up, tokens)]
        for headers in requests:
            answers.append(_normalised(http.get(f"{API}/get-session", headers=headers), tokens))
        sign_out = http.post(
            f"{API}/sign-out", headers={"authorization": f"Bearer {raw}", "cookie": "a=b"}
        )
        answers.append({"status": sign_out.status_code, "body": sign_out.json()})
        return answers


def test_the_same_answers_as_the_reference(live_server: LiveServer) -> None:
    """The transcript recorded from the reference (tests/compat/anchor_bearer_golden.json,
    re-record with `_transcript(<anchor url>)`) is what our server answers too."""
    reference = json.loads(BEARER_GOLDEN.read_text())
    assert _transcript(live_server.url) == reference
