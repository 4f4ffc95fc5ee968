"""Three replicas on one database behave as one service.

A session revoked through one replica is refused by the others at once (nothing is cached per
process); concurrent sign-ups of one e-mail spread over the replicas create exactly one user
and one account, the rest being refused with 422; a JWT issued by one replica verifies on the
others.
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
    sign_in,
    sign_up,
    unique_email,
)
from tests.support.gateway import INVALID, gateway_server, jwt_for, validate
from tests.support.server import LiveServer

REPLICAS = 3
SIGN_UPS = 100
# Replicas sit behind one public URL: it is their trusted origin and their JWT issuer/audience.
PUBLIC_URL = "http://auth.replicas.test"


@pytest.fixture(scope="module")
def replicas(server_factory: Callable[..., LiveServer]) -> list[LiveServer]:
    return [gateway_server(server_factory, BETTER_AUTH_URL=PUBLIC_URL) for _ in range(REPLICAS)]


@pytest.fixture
def clients(replicas: list[LiveServer]) -> Iterator[list[httpx.Client]]:
    opened = [api_client(server) for server in replicas]
    try:
        yield opened
    finally:
        for client in opened:
            client.close()
        for server in replicas:
            assert "Traceback" not in server.log()


def _get_session(http: httpx.Client, user: SignedIn) -> httpx.Response:
    return http.get(f"{API}/get-session", headers={"cookie": user.cookie})


def _assert_live_everywhere(clients: list[httpx.Client], user: SignedIn) -> None:
    for http in clients:
        session = _get_session(http, user)
        assert session.status_code == 200
        assert session.json()["session"]["token"] == user.token
        assert validate(http, {"token": user.token}).json()["valid"] is True


def _assert_dead_everywhere(clients: list[httpx.Client], user: SignedIn) -> None:
    for http in clients:
        session = _get_session(http, user)
        assert session.status_code == 200
        assert session.content == b"null"
        answer = validate(http, {"token": user.token})
        assert answer.status_code == 200
        assert answer.json() == INVALID


def test_a_sign_out_on_one_replica_is_seen_by_the_others_at_once(
    clients: list[httpx.Client],
) -> None:
    a, b, c = clients
    user = sign_up(a)
    _assert_live_everywhere(clients, user)

    assert a.post(f"{API}/sign-out", headers=authed(user, PUBLIC_URL)).status_code == 200

    _assert_dead_everywhere([b, c], user)


def test_a_session_revoked_on_one_replica_is_refused_by_the_others_at_once(
    clients: list[httpx.Client],
) -> None:
    a, b, c = clients
    user = sign_up(a)
    laptop = sign_in(c, user.email)
    _assert_live_everywhere(clients, laptop)

    revoked = b.post(
        f"{API}/revoke-session",
        json={"token": laptop.token},
        headers=authed(user, PUBLIC_URL),
    )
    assert revoked.status_code == 200

    _assert_dead_everywhere([a, c], laptop)
    _assert_live_everywhere(clients, user)


def test_concurrent_sign_ups_of_one_email_make_exactly_one_user(
    clients: list[httpx.Client], database_url: str
) -> None:
    email = unique_email("race")
    start = threading.Barrier(SIGN_UPS, timeout=60)

    def attempt(index: int) -> httpx.Response:
        http = clients[index % REPLICAS]
        start.wait()
        return http.post(
            f"{API}/sign-up/email",
            json={"name": f"Racer {index}", "email": email, "password": PASSWORD},
        )

    with ThreadPoolExecutor(max_workers=SIGN_UPS) as pool:
        responses = list(pool.map(attempt, range(SIGN_UPS)))

    statuses = Counter(response.status_code for response in responses)
    assert statuses == {200: 1, 422: SIGN_UPS - 1}, statuses
    for response in responses:
        if response.status_code == 422:
            assert response.json() == {
                "message": "User already exists. Use another email.",
                "code": "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            }
    users = db_fetch(database_url, 'SELECT id FROM "user" WHERE email = $1', email)
    assert len(users) == 1
    accounts = db_fetch(database_url, "SELECT id FROM account WHERE user_id = $1", users[0]["id"])
    assert len(accounts) == 1
    winner = next(response for response in responses if response.status_code == 200)
    assert winner.json()["user"]["id"] == users[0]["id"]


def test_a_jwt_from_one_replica_verifies_on_the_others(clients: list[httpx.Client]) -> None:
    a, b, c = clients
    user = sign_up(a)
    token = jwt_for(a, user)

    for http in (a, b, c):
        answer = validate(http, {"jwt": token})
        assert answer.status_code == 200
        assert answer.json()["valid"] is True
        assert answer.json()["claims"]["sub"] == user.user_id
    # And the other way round: each replica's token verifies everywhere.
    for issuer in (b, c):
        issued = jwt_for(issuer, user)
        for http in clients:
            assert validate(http, {"jwt": issued}).json()["valid"] is True


def test_concurrent_sign_ups_never_wait_on_a_second_pooled_connection(
    server_factory: Callable[..., LiveServer],
) -> None:
    # A 2-connection pool (DB_POOL_SIZE=1 plus as much overflow) makes the hold-and-wait certain.
    small = server_factory(env={"DB_POOL_SIZE": "1", "DB_TIMEOUT_SECONDS": "2"})
    start = threading.Barrier(4, timeout=30)

    def attempt(_: int) -> int:
        with api_client(small) as http:
            start.wait()
            return http.post(
                f"{API}/sign-up/email",
                json={"name": "Pool", "email": unique_email("pool"), "password": PASSWORD},
            ).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(attempt, range(4)))

    assert statuses == [200, 200, 200, 200]
