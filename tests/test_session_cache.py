"""The optional session cache (SESSION_CACHE_SECONDS): repeated lookups skip the database, and
every change to a session or its user reaches every replica through PostgreSQL notifications.

Two real servers share the test database with the cache on; the cache's hits and misses are
read from /metrics. Revocation is checked on the replica that made it (at once) and on the
other one (within a bound), for writes by the service and by someone else (SQL in the
database), and with the notification connection cut."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.auth_client import (
    API,
    SignedIn,
    api_client,
    authed,
    db_fetch,
    sign_up,
)
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.server import LiveServer

CACHE_ENV = {"SESSION_CACHE_SECONDS": "30"}
# Notifications arrive in milliseconds on loopback; the bound leaves room for a busy CI machine.
PROPAGATION_BOUND = 2.0
LISTENER = "auth-service session cache"


def cache_metrics(http: httpx.Client) -> dict[str, float]:
    text = http.get("/metrics").text
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("auth_service_session_cache"):
                key = sample.name + "".join(f":{v}" for v in sample.labels.values())
                values[key] = sample.value
    return values


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout} s")


def listening(http: httpx.Client) -> bool:
    return cache_metrics(http).get("auth_service_session_cache_listening") == 1


@pytest.fixture(scope="module")
def replicas(server_factory: Callable[..., LiveServer]) -> list[LiveServer]:
    servers = [server_factory(env=CACHE_ENV), server_factory(env=CACHE_ENV)]
    for server in servers:
        with server.client() as http:
            wait_until(lambda http=http: listening(http), 15, "the cache listens")
    return servers


@pytest.fixture
def clients(replicas: list[LiveServer]) -> Iterator[list[httpx.Client]]:
    opened = [api_client(server) for server in replicas]
    yield opened
    for http in opened:
        http.close()


def session_of(http: httpx.Client, user: SignedIn) -> dict[str, object] | None:
    response = http.get(f"{API}/get-session", headers={"cookie": user.cookie})
    assert response.status_code == 200
    body: dict[str, object] | None = response.json()
    return body


def hits(http: httpx.Client) -> float:
    return cache_metrics(http)["auth_service_session_cache_lookups_total:hit"]


def test_repeated_lookups_are_answered_from_the_cache(clients: list[httpx.Client]) -> None:
    a, _ = clients
    user = sign_up(a)
    before = cache_metrics(a)
    for _ in range(5):
        assert session_of(a, user) is not None
    after = cache_metrics(a)
    assert (
        after["auth_service_session_cache_lookups_total:miss"]
        - before["auth_service_session_cache_lookups_total:miss"]
        == 1
    )
    assert hits(a) - before["auth_service_session_cache_lookups_total:hit"] == 4


def test_sign_out_is_seen_at_once_by_its_replica_and_within_the_bound_by_the_other(
    clients: list[httpx.Client], replicas: list[LiveServer]
) -> None:
    a, b = clients
    user = sign_up(a)
    for http in (a, b):  # cached on both
        assert session_of(http, user) is not None
        assert session_of(http, user) is not None
    out = a.post(f"{API}/sign-out", headers=authed(user, replicas[0].origin))
    assert out.status_code == 200
    assert session_of(a, user) is None
    elapsed = wait_until(lambda: session_of(b, user) is None, PROPAGATION_BOUND, "revocation")
    print(f"revocation reached the other replica in {elapsed * 1000:.0f} ms")


def test_a_session_deleted_in_the_database_by_someone_else_is_dropped_everywhere(
    clients: list[httpx.Client], database_url: str
) -> None:
    user = sign_up(clients[0])
    for http in clients:
        assert session_of(http, user) is not None
        assert session_of(http, user) is not None
    db_fetch(database_url, "DELETE FROM session WHERE token = $1", user.token)
    for http in clients:
        wait_until(lambda http=http: session_of(http, user) is None, PROPAGATION_BOUND, "delete")


def test_a_user_change_on_one_replica_shows_on_both(
    clients: list[httpx.Client], replicas: list[LiveServer]
) -> None:
    a, b = clients
    user = sign_up(a, name="Before")
    for http in (a, b):
        assert session_of(http, user) is not None
    updated = a.post(
        f"{API}/update-user", json={"name": "After"}, headers=authed(user, replicas[0].origin)
    )
    assert updated.status_code == 200
    body = session_of(a, user)
    assert body is not None
    assert body["user"]["name"] == "After"  # type: ignore[index]

    def renamed_on_b() -> bool:
        seen = session_of(b, user)
        return seen is not None and seen["user"]["name"] == "After"  # type: ignore[index]

    wait_until(renamed_on_b, PROPAGATION_BOUND, "user change")


def test_without_its_notification_connection_the_cache_is_not_used(
    clients: list[httpx.Client], database_url: str
) -> None:
    a, _ = clients
    user = sign_up(a)
    assert session_of(a, user) is not None
    assert session_of(a, user) is not None
    # Cut every cache listener; while they are down, a deletion notifies nobody.
    db_fetch(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        LISTENER,
    )
    db_fetch(database_url, "DELETE FROM session WHERE token = $1", user.token)
    # Whether or not the listener is back yet, the stale entry must not be served.
    assert session_of(a, user) is None
    wait_until(lambda: listening(a), 15, "the cache listens again")
    second = sign_up(a)
    assert session_of(a, second) is not None
    before = hits(a)
    assert session_of(a, second) is not None
    assert hits(a) == before + 1


def test_the_cache_stays_off_without_the_triggers(
    server_factory: Callable[..., LiveServer], postgres: PostgresServer
) -> None:
    name = "auth_cache_no_triggers"
    url = create_database(postgres, name, migrate=True)
    try:
        db_fetch(url, 'DROP TRIGGER auth_service_user_changed ON "user"')
        server = server_factory(env=CACHE_ENV, database=url)
        with api_client(server) as http:
            wait_until(
                lambda: "invalidation triggers are missing" in server.log(), 15, "the warning"
            )
            user = sign_up(http)
            assert session_of(http, user) is not None
            assert session_of(http, user) is not None
            assert not listening(http)
            assert hits(http) == 0
        server.stop()
    finally:
        drop_database(postgres, name)
