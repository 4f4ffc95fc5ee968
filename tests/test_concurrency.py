"""Races on one account: the database stays consistent and every answer is a documented one.

- sign-in, get-session, revoke-session and sign-out of the same session at the same time: the
  session ends up gone everywhere, the new sign-ins survive, nothing is orphaned;
- change-password (revoking other sessions) while sign-ins with the old and the new password run:
  one credential account, the new password only, and no session established with the old
  password outlives the change (a sign-in that verified the old password just before the change
  committed is refused, not given a session the change already meant to revoke).
Concurrent sign-ups of one e-mail are in tests/test_replicas.py.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.auth_client import (
    API,
    PASSWORD,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    db_one,
    session_cookie,
    session_tokens,
    sign_in,
    sign_up,
)
from tests.support.gateway import no_tracebacks
from tests.support.server import LiveServer

INVALID_CREDENTIALS = {"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"}
NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture(scope="module")
def http(live_server: LiveServer) -> Iterator[httpx.Client]:
    with api_client(live_server) as client, no_tracebacks(live_server):
        yield client


def run_together(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Start every call at the same instant (a barrier), each on its own thread."""
    start = threading.Barrier(len(calls), timeout=60)

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        start.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def assert_nothing_orphaned(database_url: str, *user_ids: str) -> None:
    """No session or account without its user anywhere, and none of the test's users left
    without an account (other modules may leave account-less users on purpose, e.g. social
    sign-in's unlink-all when it is allowed)."""
    orphans = db_one(
        database_url,
        """SELECT
             (SELECT count(*) FROM session s
               WHERE NOT EXISTS (SELECT 1 FROM "user" u WHERE u.id = s.user_id)) AS sessions,
             (SELECT count(*) FROM account a
               WHERE NOT EXISTS (SELECT 1 FROM "user" u WHERE u.id = a.user_id)) AS accounts,
             (SELECT count(*) FROM "user" u
               WHERE u.id = ANY($1::text[])
                 AND NOT EXISTS (SELECT 1 FROM account a WHERE a.user_id = u.id)) AS users""",
        list(user_ids),
    )
    assert orphans == {"sessions": 0, "accounts": 0, "users": 0}, orphans


def test_sign_in_use_revoke_and_sign_out_of_one_session_at_once(
    http: httpx.Client, live_server: LiveServer, database_url: str
) -> None:
    owner = sign_up(http)
    origin = live_server.url
    for _ in range(3):  # rounds: the interleaving differs each time
        bound = sign_in(http, owner.email)
        target = bound

        def get_session(target: SignedIn = bound) -> httpx.Response:
            return http.get(f"{API}/get-session", headers={"cookie": target.cookie})

        def revoke(target: SignedIn = bound) -> httpx.Response:
            return http.post(
                f"{API}/revoke-session", json={"token": target.token}, headers=authed(owner, origin)
            )

        def sign_out(target: SignedIn = bound) -> httpx.Response:
            return http.post(f"{API}/sign-out", headers=authed(target, origin))

        def list_sessions(target: SignedIn = bound) -> httpx.Response:
            return http.get(f"{API}/list-sessions", headers={"cookie": target.cookie})

        def new_sign_in() -> httpx.Response:
            return http.post(
                f"{API}/sign-in/email", json={"email": owner.email, "password": PASSWORD}
            )

        calls: list[Callable[[], httpx.Response]] = [
            *[get_session] * 6,
            revoke,
            sign_out,
            *[list_sessions] * 2,
            *[new_sign_in] * 3,
        ]
        responses = run_together(calls)
        by_call = list(zip(calls, responses, strict=True))

        for call, response in by_call:
            if call is get_session:
                assert response.status_code == 200
                body = response.json()
                assert body is None or body["session"]["token"] == target.token
            elif call is list_sessions:
                assert response.status_code in (200, 401), response.text
            elif call is new_sign_in:
                assert response.status_code == 200, response.text
            else:  # revoke and sign-out succeed whether or not the other came first
                assert response.status_code == 200, (call.__name__, response.text)
                assert response.json() in ({"status": True}, {"success": True})

        # The session is gone for good, and stays gone (no refresh brought it back).
        tokens = session_tokens(database_url, owner.user_id)
        assert target.token not in tokens
        assert get_session().json() is None
        signed_in = {r.json()["token"] for c, r in by_call if c is new_sign_in}
        assert signed_in <= tokens
        for token in signed_in:
            answer = http.get(f"{API}/get-session", headers={"cookie": session_cookie(token)})
            assert answer.json()["session"]["token"] == token
    assert_nothing_orphaned(database_url, owner.user_id)


@pytest.fixture(scope="module")
def rehashing(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """Stronger argon2 parameters than the default server: each sign-in there with a password
    hashed by the default server verifies it, then re-hashes it (a slow step between the check
    and the session, the widest window for the race)."""
    return server_factory(env={"ARGON2_TIME_COST": "3"})


@pytest.mark.parametrize("where", ["same-parameters", "rehash-on-sign-in"])
def test_change_password_while_signing_in_with_both_passwords(
    http: httpx.Client,
    live_server: LiveServer,
    database_url: str,
    request: pytest.FixtureRequest,
    where: str,
) -> None:
    server = live_server if where == "same-parameters" else request.getfixturevalue("rehashing")
    racing = api_client(server)
    request.addfinalizer(racing.close)
    user_ids: list[str] = []
    for _ in range(3):
        user = sign_up(http)  # hashed with the default parameters
        user_ids.append(user.user_id)
        old_token = user.token
        bind_user = user

        def change(user: SignedIn = bind_user) -> httpx.Response:
            return racing.post(
                f"{API}/change-password",
                json={
                    "currentPassword": PASSWORD,
                    "newPassword": NEW_PASSWORD,
                    "revokeOtherSessions": True,
                },
                headers=authed(user, server.url),
            )

        def with_old(user: SignedIn = bind_user) -> httpx.Response:
            return racing.post(
                f"{API}/sign-in/email", json={"email": user.email, "password": PASSWORD}
            )

        def with_new(user: SignedIn = bind_user) -> httpx.Response:
            return racing.post(
                f"{API}/sign-in/email", json={"email": user.email, "password": NEW_PASSWORD}
            )

        calls: list[Callable[[], httpx.Response]] = [
            *[with_old] * 5,
            change,
            *[with_old] * 5,
            *[with_new] * 4,
        ]
        responses = run_together(calls)
        statuses: Counter[tuple[str, int]] = Counter()
        kept: set[str] = set()
        for call, response in zip(calls, responses, strict=True):
            statuses[call.__name__, response.status_code] += 1
            if call is change:
                assert response.status_code == 200, response.text
                kept.add(response.json()["token"])
            else:
                assert response.status_code in (200, 401), response.text
                if response.status_code == 401:
                    assert response.json() == INVALID_CREDENTIALS
                elif call is with_new:
                    kept.add(response.json()["token"])

        # Exactly one credential account, holding the new password.
        accounts = db_fetch(
            database_url,
            "SELECT provider_id FROM account WHERE user_id = $1",
            user.user_id,
        )
        assert accounts == [{"provider_id": "credential"}]
        final = sign_in(racing, user.email, NEW_PASSWORD)
        assert final.user_id == user.user_id
        assert with_old().status_code == 401
        # What survives: the change's own session, sessions made with the new password, and the
        # one just made above. Nothing signed in with the old password, nor the old session.
        tokens = session_tokens(database_url, user.user_id)
        assert old_token not in tokens
        assert tokens - kept == {final.token}, statuses
    assert_nothing_orphaned(database_url, *user_ids)
