"""Social sign-in (OAuth 2 / OpenID Connect) against a real provider on localhost.

The provider (tests/support/oidc_provider.py) is a real authorization server over HTTP: the
tests follow its redirects like a browser, and read what it received (PKCE verifier, client
authentication, redirect URI) to check the service's side of the protocol.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt

from tests.conftest import TEST_SECRET
from tests.support.auth_client import (
    API,
    ID_32,
    SESSION_TOKEN,
    api_client,
    authed,
    db_fetch,
    db_one,
    error_body,
    hmac_signature,
    session_cookie,
    set_cookies,
    shared_server,
    sign_up,
    unique_email,
)
from tests.support.oidc_provider import (
    CLIENT_ID,
    OidcTestProvider,
    new_signing_keys,
    start_oidc_provider,
)
from tests.support.server import LiveServer, free_port

STATE_COOKIE = "better-auth.state"
STATE_RE = r"^[A-Za-z0-9_-]{32}$"


@pytest.fixture(scope="module")
def oidc() -> Iterator[OidcTestProvider]:
    provider = start_oidc_provider()
    yield provider
    provider.stop()


@pytest.fixture(autouse=True)
def _fresh_provider_user(oidc: OidcTestProvider) -> None:
    oidc.user = _provider_user()
    oidc.authorize_error = None
    oidc.access_token_ttl = 3600


def _provider_user(email: str | None = None, *, verified: bool = True) -> dict[str, Any]:
    sub = hashlib.sha256((email or unique_email()).encode()).hexdigest()[:20]
    return {
        "sub": sub,
        "email": email or unique_email("social"),
        "email_verified": verified,
        "name": "Social Person",
        "picture": "https://img.example.com/p.png",
    }


def _env(oidc: OidcTestProvider, **extra: str) -> dict[str, str]:
    unreachable = {
        **oidc.provider_setting("down"),
        "discoveryUrl": f"http://127.0.0.1:{free_port()}/x",
    }
    providers = [oidc.provider_setting("corp"), oidc.provider_setting("partner"), unreachable]
    return {
        "OIDC_PROVIDERS": json.dumps(providers),
        "GITHUB_CLIENT_ID": "gh-client",
        "GITHUB_CLIENT_SECRET": "gh-secret",
        **extra,
    }


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., LiveServer], oidc: OidcTestProvider) -> LiveServer:
    return shared_server(server_factory, _env(oidc))


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(server) as http:
        yield http


@dataclass
class Flow:
    """One browser run through sign-in/social -> provider -> callback."""

    start: httpx.Response
    authorize: httpx.Response | None
    callback: httpx.Response | None
    state: str

    @property
    def location(self) -> str:
        assert self.callback is not None
        return self.callback.headers["location"]


def _state_cookie(response: httpx.Response) -> str:
    for cookie in set_cookies(response):
        if cookie.name == STATE_COOKIE:
            return cookie.value
    raise AssertionError(f"no state cookie in {response.headers.get_list('set-cookie')}")


def run_flow(
    api: httpx.Client,
    server: LiveServer,
    *,
    provider: str = "corp",
    body: dict[str, Any] | None = None,
    cookie: str | None = None,
    path: str = "/sign-in/social",
    state_cookie: str | None = None,
    send_state_cookie: bool = True,
) -> Flow:
    headers = {"cookie": cookie, "origin": server.origin} if cookie else {}
    start = api.post(f"{API}{path}", json={"provider": provider, **(body or {})}, headers=headers)
    assert start.status_code == 200, start.text
    url = start.json()["url"]
    state = parse_qs(urlsplit(url).query)["state"][0]
    authorize = httpx.get(url, follow_redirects=False)
    assert authorize.status_code == 302, authorize.text
    callback_url = authorize.headers["location"]
    jar = [c for c in [cookie] if c]
    if send_state_cookie:
        jar.append(f"{STATE_COOKIE}={state_cookie or _state_cookie(start)}")
    callback = api.get(callback_url, headers={"cookie": "; ".join(jar)} if jar else {})
    assert callback.status_code == 302, callback.text
    return Flow(start=start, authorize=authorize, callback=callback, state=state)


def _get_session(api: httpx.Client, token_cookie_value: str) -> Any:
    response = api.get(
        f"{API}/get-session", headers={"cookie": f"{SESSION_TOKEN}={token_cookie_value}"}
    )
    assert response.status_code == 200
    return response.json()


def _session_cookie_value(flow: Flow) -> str:
    assert flow.callback is not None
    for cookie in set_cookies(flow.callback):
        if cookie.name == SESSION_TOKEN and cookie.value:
            return cookie.value
    raise AssertionError(f"no session cookie: {flow.callback.headers.get_list('set-cookie')}")


def _accounts(database_url: str, user_id: str) -> list[dict[str, Any]]:
    return db_fetch(
        database_url, "SELECT * FROM account WHERE user_id = $1 ORDER BY created_at", user_id
    )


def _user_by_email(database_url: str, email: str) -> dict[str, Any]:
    return db_one(database_url, 'SELECT * FROM "user" WHERE email = $1', email)


# --------------------------------------------------------------------------- redirect flow


def test_redirect_flow_signs_up_a_new_user_with_state_and_pkce(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    flow = run_flow(
        api,
        server,
        body={"callbackURL": "/dashboard", "newUserCallbackURL": "/welcome"},
    )

    # The start: the authorize URL, Location, and the signed state cookie (Max-Age 300).
    assert flow.start.json() == {"url": flow.start.json()["url"], "redirect": True}
    assert flow.start.headers["location"] == flow.start.json()["url"]
    assert re.match(STATE_RE, flow.state)
    state_line = next(c for c in set_cookies(flow.start) if c.name == STATE_COOKIE)
    assert state_line.attributes == ["Max-Age=300", "Path=/", "HttpOnly", "SameSite=Lax"]
    expected_cookie = f"{flow.state}.{hmac_signature(flow.state)}"
    assert state_line.value.replace("%2F", "/").replace("%2B", "+").replace("%3D", "=") == (
        expected_cookie
    )
    # What the provider received at its authorization endpoint.
    sent = oidc.authorize_requests[-1]
    assert sent["client_id"] == CLIENT_ID
    assert sent["redirect_uri"] == f"{server.url}{API}/callback/corp"
    assert sent["response_type"] == "code"
    assert sent["scope"] == "openid email profile"
    assert sent["code_challenge_method"] == "S256"
    assert len(sent["code_challenge"]) == 43
    assert sent["nonce"]
    # ... and at its token endpoint: the code, the PKCE verifier, the client secret.
    exchange = oidc.token_requests[-1]
    assert exchange["form"]["grant_type"] == "authorization_code"
    assert exchange["pkce_verified"] is True
    assert len(exchange["form"]["code_verifier"]) == 128
    assert exchange["auth_method"] == "client_secret_post"
    assert exchange["form"]["redirect_uri"] == sent["redirect_uri"]

    # The callback: a new user lands on newUserCallbackURL with a session cookie, and the
    # state cookie and row are gone.
    assert flow.location == "/welcome"
    lines = flow.callback.headers.get_list("set-cookie") if flow.callback else []
    assert lines[0] == f"{STATE_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    session = _get_session(api, _session_cookie_value(flow))
    assert session["user"]["email"] == oidc.user["email"]
    assert session["user"]["emailVerified"] is True
    assert session["user"]["name"] == "Social Person"
    assert session["user"]["image"] == "https://img.example.com/p.png"
    rows = db_fetch(
        database_url, "SELECT * FROM verification WHERE identifier = $1", f"auth-state:{flow.state}"
    )
    assert rows == []
    (account,) = _accounts(database_url, session["user"]["id"])
    assert account["provider_id"] == "corp"
    assert account["account_id"] == oidc.user["sub"]
    assert account["scope"] == "openid,email,profile"
    assert account["access_token"] in oidc.access_tokens
    assert account["refresh_token"] in oidc.refresh_tokens
    assert account["id_token"]
    assert account["access_token_expires_at"] is not None
    assert account["password"] is None


def test_the_state_row_holds_better_auths_json(
    api: httpx.Client, server: LiveServer, database_url: str
) -> None:
    response = api.post(
        f"{API}/sign-in/social",
        json={
            "provider": "corp",
            "callbackURL": "/after",
            "errorCallbackURL": "/oops",
            "disableRedirect": True,
            "additionalData": {"plan": "pro"},
        },
    )
    assert response.status_code == 200
    assert response.json()["redirect"] is False
    assert "location" not in response.headers
    state = parse_qs(urlsplit(response.json()["url"]).query)["state"][0]
    row = db_one(
        database_url,
        "SELECT value, expires_at - created_at AS ttl FROM verification WHERE identifier = $1",
        f"auth-state:{state}",
    )
    value = json.loads(row["value"])
    assert value["callbackURL"] == "/after"
    assert value["errorURL"] == "/oops"
    assert value["oauthState"] == state
    assert value["plan"] == "pro"
    assert len(value["codeVerifier"]) == 128
    assert isinstance(value["expiresAt"], int)
    assert row["ttl"].total_seconds() == pytest.approx(600, abs=2)


def test_a_returning_user_goes_to_the_callback_url(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    first = run_flow(api, server, body={"callbackURL": "/home", "newUserCallbackURL": "/new"})
    assert first.location == "/new"
    second = run_flow(api, server, body={"callbackURL": "/home", "newUserCallbackURL": "/new"})
    assert second.location == "/home"
    user = _get_session(api, _session_cookie_value(second))["user"]
    assert user["id"] == _get_session(api, _session_cookie_value(first))["user"]["id"]
    assert len(_accounts(database_url, user["id"])) == 1


def test_the_default_callback_url_is_the_base_url_origin(
    api: httpx.Client, server: LiveServer
) -> None:
    flow = run_flow(api, server)
    assert flow.location == server.url


# --------------------------------------------------------------------------- failures


def test_unknown_provider_is_404(api: httpx.Client) -> None:
    response = api.post(f"{API}/sign-in/social", json={"provider": "nope"})
    assert response.status_code == 404
    assert response.json() == error_body("PROVIDER_NOT_FOUND", "Provider not found")


def test_invalid_bodies_are_400(api: httpx.Client) -> None:
    missing = api.post(f"{API}/sign-in/social", json={})
    assert missing.status_code == 400
    assert missing.json()["code"] == "VALIDATION_ERROR"
    reserved = api.post(
        f"{API}/sign-in/social", json={"provider": "corp", "additionalParams": {"state": "x"}}
    )
    assert reserved.status_code == 400
    assert reserved.json()["code"] == "VALIDATION_ERROR"
    scopes = api.post(f"{API}/sign-in/social", json={"provider": "corp", "scopes": "openid"})
    assert scopes.status_code == 400
    untrusted = api.post(
        f"{API}/sign-in/social",
        json={"provider": "corp", "callbackURL": "https://evil.example.com/"},
    )
    assert untrusted.status_code == 403
    assert untrusted.json()["code"] == "INVALID_CALLBACK_URL"


def test_callback_without_state(api: httpx.Client, server: LiveServer) -> None:
    response = api.get(f"{API}/callback/corp?code=abc")
    assert response.status_code == 302
    assert response.headers["location"] == f"{server.url}{API}/error?error=state_not_found"
    assert response.content == b""


def test_callback_with_an_unknown_state(api: httpx.Client, server: LiveServer) -> None:
    response = api.get(f"{API}/callback/corp?code=abc&state=unknown-state-value")
    assert response.status_code == 302
    assert response.headers["location"] == f"{server.url}{API}/error?error=state_mismatch"
    weird = api.get(f"{API}/callback/corp", params={"code": "abc", "state": "a\x00b"})
    assert weird.status_code == 302
    assert weird.headers["location"].endswith("error=state_mismatch")


@pytest.mark.parametrize("cookie", ["missing", "tampered", "other-state"])
def test_callback_with_a_bad_state_cookie(
    api: httpx.Client,
    server: LiveServer,
    oidc: OidcTestProvider,
    database_url: str,
    cookie: str,
) -> None:
    other = api.post(f"{API}/sign-in/social", json={"provider": "corp"})
    values = {
        "missing": None,
        "tampered": _state_cookie(other)[:-6] + "AAAA%3D",
        "other-state": _state_cookie(other),
    }
    exchanges = len(oidc.token_requests)
    flow = run_flow(
        api,
        server,
        body={"errorCallbackURL": "/sign-in-failed"},
        state_cookie=values[cookie],
        send_state_cookie=cookie != "missing",
    )
    assert flow.location == "/sign-in-failed?error=state_mismatch"
    assert len(oidc.token_requests) == exchanges  # the code was never exchanged
    assert not any(c.name == SESSION_TOKEN for c in set_cookies(flow.callback))  # type: ignore[arg-type]


def test_provider_error_is_passed_to_the_error_url(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider
) -> None:
    oidc.authorize_error = "access_denied"
    flow = run_flow(api, server, body={"errorCallbackURL": "/failed"})
    assert flow.location == "/failed?error=access_denied"
    assert not any(c.name == SESSION_TOKEN and c.value for c in set_cookies(flow.callback))  # type: ignore[arg-type]


def test_a_reused_state_is_refused(api: httpx.Client, server: LiveServer) -> None:
    flow = run_flow(api, server)
    assert flow.authorize is not None
    replay = api.get(
        flow.authorize.headers["location"],
        headers={"cookie": f"{STATE_COOKIE}={_state_cookie(flow.start)}"},
    )
    assert replay.status_code == 302
    assert replay.headers["location"].endswith("error=state_mismatch")


def test_callback_post_redirects_to_get(api: httpx.Client, server: LiveServer) -> None:
    response = api.post(
        f"{API}/callback/corp",
        content="code=abc&state=xyz",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 302
    assert response.headers["location"] == f"{server.url}{API}/callback/corp?code=abc&state=xyz"


# --------------------------------------------------------------------------- implicit linking


def _verify_locally(database_url: str, user_id: str) -> None:
    db_fetch(database_url, 'UPDATE "user" SET email_verified = true WHERE id = $1', user_id)


def test_implicit_linking_needs_a_verified_local_user(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    oidc.user = _provider_user(local.email, verified=True)

    refused = run_flow(api, server, body={"errorCallbackURL": "/e"})
    assert refused.location == "/e?error=account_not_linked"
    assert len(_accounts(database_url, local.user_id)) == 1

    _verify_locally(database_url, local.user_id)
    linked = run_flow(api, server, body={"callbackURL": "/in", "newUserCallbackURL": "/new"})
    assert linked.location == "/in"
    assert _get_session(api, _session_cookie_value(linked))["user"]["id"] == local.user_id
    providers = sorted(a["provider_id"] for a in _accounts(database_url, local.user_id))
    assert providers == ["corp", "credential"]


def test_implicit_linking_needs_a_provider_verified_email(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    _verify_locally(database_url, local.user_id)
    oidc.user = _provider_user(local.email, verified=False)
    refused = run_flow(api, server, body={"errorCallbackURL": "/e"})
    assert refused.location == "/e?error=account_not_linked"


def test_a_trusted_provider_links_an_unverified_provider_email(
    server_factory: Callable[..., LiveServer], oidc: OidcTestProvider, database_url: str
) -> None:
    trusted = shared_server(server_factory, _env(oidc, ACCOUNT_LINKING_TRUSTED_PROVIDERS="corp"))
    with api_client(trusted) as api:
        local = sign_up(api)
        _verify_locally(database_url, local.user_id)
        oidc.user = _provider_user(local.email, verified=False)
        flow = run_flow(api, trusted, body={"callbackURL": "/in"})
        assert flow.location == "/in"
        assert _get_session(api, _session_cookie_value(flow))["user"]["id"] == local.user_id


def test_a_provider_verified_email_verifies_the_local_user_once_linked(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    first = run_flow(api, server)  # creates the user, verified by the provider
    user = _get_session(api, _session_cookie_value(first))["user"]
    db_fetch(database_url, 'UPDATE "user" SET email_verified = false WHERE id = $1', user["id"])
    run_flow(api, server)
    assert _user_by_email(database_url, oidc.user["email"])["email_verified"] is True


# --------------------------------------------------------------------------- id tokens


def test_id_token_sign_in(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    token = oidc.id_token(nonce="n-1")
    response = api.post(
        f"{API}/sign-in/social",
        json={"provider": "corp", "idToken": {"token": token, "nonce": "n-1", "accessToken": "at"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["redirect"] is False
    assert list(body) == ["redirect", "token", "user"]
    assert body["user"]["email"] == oidc.user["email"]
    assert any(c.name == SESSION_TOKEN and c.value for c in set_cookies(response))
    (account,) = _accounts(database_url, body["user"]["id"])
    assert account["id_token"] == token
    assert account["access_token"] == "at"


@pytest.mark.parametrize("case", ["bad-signature", "wrong-audience", "expired", "wrong-nonce"])
def test_id_token_sign_in_refuses_invalid_tokens(
    api: httpx.Client, oidc: OidcTestProvider, database_url: str, case: str
) -> None:
    tokens = {
        "bad-signature": oidc.id_token(key=new_signing_keys(oidc.keys.keys[0].kid)),
        "wrong-audience": oidc.id_token(audience="someone-else"),
        "expired": oidc.id_token(expires_in=-3600),
        "wrong-nonce": oidc.id_token(nonce="a"),
    }
    response = api.post(
        f"{API}/sign-in/social",
        json={"provider": "corp", "idToken": {"token": tokens[case], "nonce": "b"}},
    )
    assert response.status_code == 401
    assert response.json() == error_body("INVALID_TOKEN", "Invalid token")
    assert (
        db_fetch(database_url, 'SELECT id FROM "user" WHERE email = $1', oidc.user["email"]) == []
    )


def test_id_token_without_email(api: httpx.Client, oidc: OidcTestProvider) -> None:
    token = oidc.id_token({"sub": "no-email-user"})
    response = api.post(
        f"{API}/sign-in/social", json={"provider": "corp", "idToken": {"token": token}}
    )
    assert response.status_code == 401
    assert response.json() == error_body("USER_EMAIL_NOT_FOUND", "User email not found")


def test_id_token_for_an_unlinkable_existing_user(
    api: httpx.Client, oidc: OidcTestProvider
) -> None:
    local = sign_up(api)  # unverified locally: no implicit link
    token = oidc.id_token(_provider_user(local.email))
    response = api.post(
        f"{API}/sign-in/social", json={"provider": "corp", "idToken": {"token": token}}
    )
    assert response.status_code == 401
    assert response.json() == error_body("OAUTH_LINK_ERROR", "account not linked")


def test_github_does_not_take_id_tokens(api: httpx.Client, oidc: OidcTestProvider) -> None:
    response = api.post(
        f"{API}/sign-in/social", json={"provider": "github", "idToken": {"token": oidc.id_token()}}
    )
    assert response.status_code == 404
    assert response.json() == error_body("ID_TOKEN_NOT_SUPPORTED", "id_token not supported")


# --------------------------------------------------------------------------- explicit linking


def test_link_social_links_a_second_provider(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    oidc.user = _provider_user(local.email, verified=True)
    flow = run_flow(
        api,
        server,
        provider="partner",
        path="/link-social",
        cookie=local.cookie,
        body={"callbackURL": "/settings", "scopes": ["offline_access"]},
    )
    assert flow.location == "/settings"
    assert not any(c.name == SESSION_TOKEN for c in set_cookies(flow.callback))  # type: ignore[arg-type]
    state_row_link = oidc.authorize_requests[-1]
    assert state_row_link["scope"] == "openid email profile offline_access"

    listed = api.get(f"{API}/list-accounts", headers=authed(local, server.origin))
    assert listed.status_code == 200
    accounts = listed.json()
    assert [a["providerId"] for a in accounts] == ["credential", "partner"]
    credential, partner = accounts
    assert list(credential) == [
        "id",
        "providerId",
        "accountId",
        "userId",
        "createdAt",
        "updatedAt",
        "scopes",
    ]
    assert credential["accountId"] == local.user_id
    assert credential["scopes"] == []
    assert partner["accountId"] == oidc.user["sub"]
    assert partner["userId"] == local.user_id
    assert partner["scopes"] == ["openid", "email", "profile", "offline_access"]
    assert ID_32.match(partner["id"])


def test_link_social_refuses_a_different_email(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    flow = run_flow(
        api,
        server,
        provider="partner",
        path="/link-social",
        cookie=local.cookie,
        body={"errorCallbackURL": "/e"},
    )
    assert flow.location == "/e?error=email_does_not_match"
    assert len(_accounts(database_url, local.user_id)) == 1


def test_link_social_refuses_an_unverified_provider_email(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    oidc.user = _provider_user(local.email, verified=False)
    flow = run_flow(
        api, server, path="/link-social", cookie=local.cookie, body={"errorCallbackURL": "/e"}
    )
    assert flow.location == "/e?error=unable_to_link_account"


def test_link_social_needs_a_session(api: httpx.Client) -> None:
    response = api.post(f"{API}/link-social", json={"provider": "corp"})
    assert response.status_code == 401
    assert response.json() == error_body("UNAUTHORIZED", "Unauthorized")


def test_link_social_with_an_id_token(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    claims = _provider_user(local.email)
    response = api.post(
        f"{API}/link-social",
        json={"provider": "corp", "idToken": {"token": oidc.id_token(claims)}},
        headers=authed(local, server.origin),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"url": "", "status": True, "redirect": False}
    assert sorted(a["provider_id"] for a in _accounts(database_url, local.user_id)) == [
        "corp",
        "credential",
    ]
    # The same provider account for someone else: 409.
    other = sign_up(api)
    conflict = api.post(
        f"{API}/link-social",
        json={"provider": "corp", "idToken": {"token": oidc.id_token(claims)}},
        headers=authed(other, server.origin),
    )
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "SOCIAL_ACCOUNT_ALREADY_LINKED"
    different = api.post(
        f"{API}/link-social",
        json={"provider": "partner", "idToken": {"token": oidc.id_token(_provider_user())}},
        headers=authed(other, server.origin),
    )
    assert different.status_code == 401
    assert different.json() == error_body(
        "LINKING_DIFFERENT_EMAILS_NOT_ALLOWED", "Account not linked - different emails not allowed"
    )


# --------------------------------------------------------------------------- unlink


def _social_user(api: httpx.Client, server: LiveServer) -> tuple[str, str]:
    """A user created by social sign-in: (session cookie header, user id)."""
    flow = run_flow(api, server)
    value = _session_cookie_value(flow)
    user = _get_session(api, value)["user"]
    return f"{SESSION_TOKEN}={value}", user["id"]


def test_unlink_account(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    cookie, user_id = _social_user(api, server)
    headers = {"cookie": cookie, "origin": server.origin}
    (only,) = _accounts(database_url, user_id)

    last = api.post(f"{API}/unlink-account", json={"accountId": only["id"]}, headers=headers)
    assert last.status_code == 400
    assert last.json() == error_body(
        "FAILED_TO_UNLINK_LAST_ACCOUNT", "You can't unlink your last account"
    )

    oidc.user = {**oidc.user}
    claims = {**oidc.user}
    linked = api.post(
        f"{API}/link-social",
        json={"provider": "partner", "idToken": {"token": oidc.id_token(claims)}},
        headers=headers,
    )
    assert linked.status_code == 200, linked.text
    unknown = api.post(f"{API}/unlink-account", json={"accountId": "nope"}, headers=headers)
    assert unknown.status_code == 400
    assert unknown.json() == error_body("ACCOUNT_NOT_FOUND", "Account not found")

    done = api.post(f"{API}/unlink-account", json={"accountId": only["id"]}, headers=headers)
    assert done.status_code == 200
    assert done.json() == {"status": True}
    assert [a["provider_id"] for a in _accounts(database_url, user_id)] == ["partner"]


def test_unlink_someone_elses_account_is_not_found(
    api: httpx.Client, server: LiveServer, database_url: str
) -> None:
    _, victim_id = _social_user(api, server)
    (victim_account,) = _accounts(database_url, victim_id)
    attacker = sign_up(api)
    db_fetch(
        database_url,
        "INSERT INTO account (id, account_id, provider_id, user_id, created_at, updated_at) "
        "VALUES ($1, 'x', 'partner', $2, now(), now())",
        "extra" + attacker.user_id[:27],
        attacker.user_id,
    )
    response = api.post(
        f"{API}/unlink-account",
        json={"accountId": victim_account["id"]},
        headers=authed(attacker, server.origin),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "ACCOUNT_NOT_FOUND"
    assert len(_accounts(database_url, victim_id)) == 1


# --------------------------------------------------------------------------- provider tokens


def test_get_access_token_returns_the_stored_token(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    cookie, user_id = _social_user(api, server)
    (account,) = _accounts(database_url, user_id)
    headers = {"cookie": cookie, "origin": server.origin}
    grants = len(oidc.token_requests)
    response = api.post(
        f"{API}/get-access-token", json={"accountId": account["id"]}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accessToken"] == account["access_token"]
    assert body["scopes"] == ["openid", "email", "profile"]
    assert body["idToken"] == account["id_token"]
    assert body["accessTokenExpiresAt"].endswith("Z")
    assert len(oidc.token_requests) == grants  # not near expiry: no refresh


def test_get_access_token_refreshes_near_expiry(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    oidc.access_token_ttl = 2  # within the 5 s margin
    cookie, user_id = _social_user(api, server)
    (account,) = _accounts(database_url, user_id)
    oidc.access_token_ttl = 3600
    response = api.post(
        f"{API}/get-access-token",
        json={"accountId": account["id"]},
        headers={"cookie": cookie, "origin": server.origin},
    )
    assert response.status_code == 200, response.text
    refresh = oidc.token_requests[-1]
    assert refresh["form"]["grant_type"] == "refresh_token"
    assert refresh["form"]["refresh_token"] == account["refresh_token"]
    body = response.json()
    assert body["accessToken"] != account["access_token"]
    assert body["accessToken"] in oidc.access_tokens
    (updated,) = _accounts(database_url, user_id)
    assert updated["access_token"] == body["accessToken"]
    assert updated["refresh_token"] != account["refresh_token"]  # the provider rotated it


def test_token_endpoints_without_a_session_are_401_with_no_body(api: httpx.Client) -> None:
    for path in ("/get-access-token", "/refresh-token"):
        response = api.post(f"{API}{path}", json={"accountId": "x"})
        assert response.status_code == 401
        assert response.content == b""
    info = api.get(f"{API}/account-info", params={"accountId": "x"})
    assert info.status_code == 401
    assert info.content == b""


def test_token_endpoints_validate_the_selection(api: httpx.Client, server: LiveServer) -> None:
    user = sign_up(api)
    response = api.post(
        f"{API}/get-access-token",
        json={"accountId": "x", "extra": 1},
        headers=authed(user, server.origin),
    )
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_get_access_token_of_a_credential_account(
    api: httpx.Client, server: LiveServer, database_url: str
) -> None:
    user = sign_up(api)
    (credential,) = _accounts(database_url, user.user_id)
    response = api.post(
        f"{API}/get-access-token",
        json={"accountId": credential["id"]},
        headers=authed(user, server.origin),
    )
    assert response.status_code == 400
    assert response.json() == error_body(
        "PROVIDER_NOT_SUPPORTED", "Provider credential is not supported."
    )


def test_refresh_token(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    cookie, user_id = _social_user(api, server)
    (account,) = _accounts(database_url, user_id)
    response = api.post(
        f"{API}/refresh-token",
        json={"accountId": account["id"]},
        headers={"cookie": cookie, "origin": server.origin},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["providerId"] == "corp"
    assert body["accountId"] == account["id"]
    assert body["accessToken"] in oidc.access_tokens
    assert body["refreshToken"] in oidc.refresh_tokens
    assert body["refreshToken"] != account["refresh_token"]
    assert body["scope"] == "openid,email,profile"
    assert body["idToken"]
    (updated,) = _accounts(database_url, user_id)
    assert updated["refresh_token"] == body["refreshToken"]
    # The old refresh token was rotated away by the provider: refreshing with it fails.
    db_fetch(
        database_url,
        "UPDATE account SET refresh_token = $1 WHERE id = $2",
        account["refresh_token"],
        account["id"],
    )
    failed = api.post(
        f"{API}/refresh-token",
        json={"accountId": account["id"]},
        headers={"cookie": cookie, "origin": server.origin},
    )
    assert failed.status_code == 400
    assert failed.json() == error_body(
        "FAILED_TO_REFRESH_ACCESS_TOKEN", "Failed to refresh access token"
    )


def test_account_info(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    cookie, user_id = _social_user(api, server)
    (account,) = _accounts(database_url, user_id)
    response = api.get(
        f"{API}/account-info", params={"accountId": account["id"]}, headers={"cookie": cookie}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["account"] == {
        "id": account["id"],
        "providerId": "corp",
        "accountId": oidc.user["sub"],
    }
    assert body["user"]["email"] == oidc.user["email"]
    assert body["user"]["emailVerified"] is True
    assert body["data"]["sub"] == oidc.user["sub"]


# --------------------------------------------------------------------------- encryption


def _decrypt(hex_text: str) -> str:
    raw = bytes.fromhex(hex_text)
    key = hashlib.sha256(TEST_SECRET.encode()).digest()
    return crypto_aead_xchacha20poly1305_ietf_decrypt(raw[24:], None, raw[:24], key).decode()


def test_encrypted_provider_tokens(
    server_factory: Callable[..., LiveServer], oidc: OidcTestProvider, database_url: str
) -> None:
    encrypted = shared_server(server_factory, _env(oidc, ENCRYPT_OAUTH_TOKENS="true"))
    with api_client(encrypted) as api:
        cookie, user_id = _social_user(api, encrypted)
        (account,) = _accounts(database_url, user_id)
        assert account["access_token"] not in oidc.access_tokens
        assert _decrypt(account["access_token"]) in oidc.access_tokens
        assert _decrypt(account["refresh_token"]) in oidc.refresh_tokens
        response = api.post(
            f"{API}/get-access-token",
            json={"accountId": account["id"]},
            headers={"cookie": cookie, "origin": encrypted.origin},
        )
        assert response.status_code == 200
        assert response.json()["accessToken"] == _decrypt(account["access_token"])


# --------------------------------------------------------------------------- session use


def test_the_social_session_works_for_session_endpoints(
    api: httpx.Client, server: LiveServer
) -> None:
    cookie, user_id = _social_user(api, server)
    listed = api.get(f"{API}/list-sessions", headers={"cookie": cookie})
    assert listed.status_code == 200
    assert [s["userId"] for s in listed.json()] == [user_id]
    signed_out = api.post(f"{API}/sign-out", headers={"cookie": cookie, "origin": server.origin})
    assert signed_out.status_code == 200
    assert api.get(f"{API}/get-session", headers={"cookie": cookie}).json() is None


def test_session_cookie_helper_matches(api: httpx.Client, server: LiveServer) -> None:
    flow = run_flow(api, server)
    token = _get_session(api, _session_cookie_value(flow))["session"]["token"]
    assert session_cookie(token) == f"{SESSION_TOKEN}={_session_cookie_value(flow)}"


# --------------------------------------------------------------------------- edge cases


def test_an_unreachable_provider_is_502_and_writes_nothing(
    api: httpx.Client, database_url: str
) -> None:
    before = db_one(database_url, "SELECT count(*) AS n FROM verification")["n"]
    response = api.post(f"{API}/sign-in/social", json={"provider": "down"})
    assert response.status_code == 502
    assert response.json()["code"] == "PROVIDER_UNAVAILABLE"
    assert db_one(database_url, "SELECT count(*) AS n FROM verification")["n"] == before


def test_a_non_ascii_callback_url_is_percent_encoded(api: httpx.Client, server: LiveServer) -> None:
    flow = run_flow(api, server, body={"callbackURL": "/caf\u00e9/\u20ac"})
    assert flow.location == "/caf%C3%A9/%E2%82%AC"


def test_linking_disabled_and_unlinking_all(
    server_factory: Callable[..., LiveServer], oidc: OidcTestProvider, database_url: str
) -> None:
    strict = shared_server(
        server_factory,
        _env(oidc, ACCOUNT_LINKING_ENABLED="false", ACCOUNT_LINKING_ALLOW_UNLINKING_ALL="true"),
    )
    with api_client(strict) as api:
        local = sign_up(api)
        _verify_locally(database_url, local.user_id)
        oidc.user = _provider_user(local.email, verified=True)
        refused = run_flow(api, strict, body={"errorCallbackURL": "/e"})
        assert refused.location == "/e?error=account_not_linked"

        oidc.user = _provider_user()
        cookie, user_id = _social_user(api, strict)
        (only,) = _accounts(database_url, user_id)
        response = api.post(
            f"{API}/unlink-account",
            json={"accountId": only["id"]},
            headers={"cookie": cookie, "origin": strict.origin},
        )
        assert response.status_code == 200
        assert _accounts(database_url, user_id) == []


def test_link_social_with_different_emails_allowed(
    server_factory: Callable[..., LiveServer], oidc: OidcTestProvider, database_url: str
) -> None:
    relaxed = shared_server(
        server_factory, _env(oidc, ACCOUNT_LINKING_ALLOW_DIFFERENT_EMAILS="true")
    )
    with api_client(relaxed) as api:
        local = sign_up(api)
        oidc.user = _provider_user(verified=True)  # another address
        flow = run_flow(
            api,
            relaxed,
            path="/link-social",
            cookie=local.cookie,
            body={"callbackURL": "/linked"},
        )
        assert flow.location == "/linked"
        providers = sorted(a["provider_id"] for a in _accounts(database_url, local.user_id))
        assert providers == ["corp", "credential"]


@pytest.mark.parametrize(
    ("path", "query", "error"),
    [
        ("/callback/corp", {}, "no_code"),
        ("/callback/unknown", {"code": "c"}, "oauth_provider_not_found"),
        ("/callback/corp", {"code": "not-issued"}, "invalid_code"),
    ],
)
def test_callback_failures_after_a_valid_state(
    api: httpx.Client, path: str, query: dict[str, str], error: str
) -> None:
    start = api.post(f"{API}/sign-in/social", json={"provider": "corp", "errorCallbackURL": "/e"})
    state = parse_qs(urlsplit(start.json()["url"]).query)["state"][0]
    response = api.get(
        f"{API}{path}",
        params={"state": state, **query},
        headers={"cookie": f"{STATE_COOKIE}={_state_cookie(start)}"},
    )
    assert response.status_code == 302
    assert response.headers["location"] == f"/e?error={error}"
    # The state was consumed and its cookie expired, whatever came next.
    assert response.headers.get_list("set-cookie") == [
        f"{STATE_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
    ]


def test_link_social_fails_when_the_session_ended_meanwhile(
    api: httpx.Client, server: LiveServer, oidc: OidcTestProvider, database_url: str
) -> None:
    local = sign_up(api)
    oidc.user = _provider_user(local.email, verified=True)
    start = api.post(
        f"{API}/link-social",
        json={"provider": "partner", "errorCallbackURL": "/e", "disableRedirect": True},
        headers=authed(local, server.origin),
    )
    assert start.status_code == 200
    signed_out = api.post(f"{API}/sign-out", headers=authed(local, server.origin))
    assert signed_out.status_code == 200
    approved = httpx.get(start.json()["url"], follow_redirects=False)
    callback = api.get(
        approved.headers["location"],
        headers={"cookie": f"{STATE_COOKIE}={_state_cookie(start)}"},
    )
    assert callback.status_code == 302
    assert callback.headers["location"] == "/e?error=unable_to_link_account"
    assert len(_accounts(database_url, local.user_id)) == 1


def test_callback_post_with_bad_values(api: httpx.Client, server: LiveServer) -> None:
    response = api.post(f"{API}/callback/corp", json={"code": ["x"], "state": "s"})
    assert response.status_code == 302
    assert response.headers["location"] == (
        f"{server.url}{API}/error?error=invalid_callback_request"
    )
    odd_id = api.post(
        f"{API}/callback/%E7%AF%93",
        content="state=s",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert odd_id.status_code == 302
    assert odd_id.headers["location"] == f"{server.url}{API}/callback/%E7%AF%93?state=s"


# --------------------------------------------------------------------------- verification mail


def test_a_new_social_user_with_an_unverified_email_is_mailed_a_verification_link(
    server_factory: Callable[..., LiveServer], oidc: OidcTestProvider, database_url: str
) -> None:
    """sendOnSignUp: the provider did not verify the address, so the new user gets the mail
    (here the log transport: the link is in the server log) and following it verifies them."""
    mailing = shared_server(server_factory, _env(oidc, EMAIL_VERIFICATION_SEND_ON_SIGN_UP="true"))
    email = unique_email("social-unverified")
    oidc.user = _provider_user(email, verified=False)
    with api_client(mailing) as http:
        start = len(mailing.log())
        flow = run_flow(http, mailing, body={"callbackURL": "/home"})
        assert urlsplit(flow.location).path == "/home"
        assert _user_by_email(database_url, email)["email_verified"] is False
        deadline = time.monotonic() + 10
        while f"to={email}" not in mailing.log()[start:] and time.monotonic() < deadline:
            time.sleep(0.05)
        logged = mailing.log()[start:]
        assert f"to={email}" in logged, logged
        link = urlsplit(logged.split("link: ", 1)[1].split()[0])
        verified = http.get(f"{link.path}?{link.query}")
        assert verified.status_code == 302
        assert _user_by_email(database_url, email)["email_verified"] is True
    # A verified provider address is not mailed.
    verified_email = unique_email("social-verified")
    oidc.user = _provider_user(verified_email, verified=True)
    with api_client(mailing) as http:
        start = len(mailing.log())
        run_flow(http, mailing)
        time.sleep(0.5)
        assert f"to={verified_email}" not in mailing.log()[start:]
