"""Rate limiting (spec §8.2): Better Auth's rules and sliding window, enforced before routing,
shared by every replica through PostgreSQL or Redis, failing open when its store is down."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import text

from auth_service.core.client_ip import ClientIpResolver, forwarded_client_ip, parse_trusted_proxies
from auth_service.core.rate_limit.limiter import RateLimiter
from auth_service.core.rate_limit.rules import (
    CREDENTIAL_RULE,
    DEFAULT_RULE,
    MAIL_RULE,
    Rule,
    RuleTable,
    parse_custom_rules,
)
from auth_service.core.rate_limit.storage import (
    REDIS_KEY_PREFIX,
    MemoryStore,
    PostgresStore,
    RateLimitStore,
    RedisStore,
)
from auth_service.db.engine import Database
from auth_service.db.schema import build_schema
from auth_service.settings import Settings
from tests.support.auth_client import API, db_fetch, session_cookie, session_row, sign_up
from tests.support.postgres import PrivatePostgres, create_database
from tests.support.redis_server import redis_url
from tests.support.server import LiveServer

SIGN_IN = f"{API}/sign-in/email"
BODY = b'{"message":"Too many requests. Please try again later."}'
# ENVIRONMENT=production refuses short and well-known secrets.
PRODUCTION_SECRET = "rate-limit-production-secret-" + secrets.token_hex(16)

# Distinct client addresses (198.18.0.0/15, the benchmarking range; only ever header values).
_addresses = itertools.count(secrets.randbelow(60_000))


def new_ip() -> str:
    n = next(_addresses)
    return f"198.18.{n // 256 % 256}.{n % 256}" if n < 65_536 else f"198.19.{n // 256 % 256}.1"


def forwarded(ip: str) -> dict[str, str]:
    return {"x-forwarded-for": ip}


def sign_in_attempt(http: httpx.Client, ip: str) -> httpx.Response:
    return http.post(
        SIGN_IN,
        json={"email": "nobody@example.com", "password": "wrong-password"},
        headers=forwarded(ip),
    )


def assert_limited(response: httpx.Response, *, window: int) -> None:
    assert response.status_code == 429, response.text
    assert response.content == BODY
    assert response.headers["content-type"] == "application/json"
    retry = int(response.headers["x-retry-after"])
    assert 1 <= retry <= window
    assert "retry-after" not in response.headers


def rate_limit_rows(database_url: str, key: str) -> list[dict[str, Any]]:
    return db_fetch(
        database_url, "SELECT key, count, last_request FROM rate_limit WHERE key = $1", key
    )


# --------------------------------------------------------------------------- one server

LIMITED_ENV = {
    "RATE_LIMIT_ENABLED": "true",
    "TRUSTED_PROXIES": "127.0.0.1",
    "RATE_LIMIT_WINDOW": "60",
    "RATE_LIMIT_MAX": "5",
    "RATE_LIMIT_CUSTOM_RULES": json.dumps(
        {
            "/sign-in/email": {"window": 2, "max": 3},
            "/ok": False,
            "/custom/*": {"window": 60, "max": 2},
        }
    ),
    "RATE_LIMIT_INTERNAL_WINDOW": "60",
    "RATE_LIMIT_INTERNAL_MAX": "4",
}


@pytest.fixture(scope="module")
def limited(server_factory: Callable[..., LiveServer]) -> Iterator[LiveServer]:
    server = server_factory(env=LIMITED_ENV)
    yield server
    server.stop()


@pytest.fixture
def http(limited: LiveServer) -> Iterator[httpx.Client]:
    with limited.client() as client:
        yield client


def test_the_fourth_sign_in_inside_the_window_gets_429_until_the_window_passes(
    http: httpx.Client, database_url: str
) -> None:
    ip = new_ip()
    for _ in range(3):
        assert sign_in_attempt(http, ip).status_code == 401
    last_allowed = time.monotonic()
    assert_limited(sign_in_attempt(http, ip), window=2)
    assert_limited(sign_in_attempt(http, ip), window=2)

    # Denied requests change nothing: the row still says 3.
    rows = rate_limit_rows(database_url, f"{ip}|/sign-in/email")
    assert [row["count"] for row in rows] == [3]

    # Another client (X-Forwarded-For, the proxy 127.0.0.1 being trusted) is not limited;
    # the trusted hop on the right is skipped.
    other = new_ip()
    assert sign_in_attempt(http, other).status_code == 401
    assert sign_in_attempt(http, f"{other}, 127.0.0.1").status_code == 401

    time.sleep(max(0.0, last_allowed + 2.2 - time.monotonic()))
    assert sign_in_attempt(http, ip).status_code == 401
    assert [row["count"] for row in rate_limit_rows(database_url, f"{ip}|/sign-in/email")] == [1]


def test_unknown_paths_count_under_the_default_rule(http: httpx.Client) -> None:
    ip = new_ip()
    for _ in range(5):  # RATE_LIMIT_MAX=5
        assert http.get(f"{API}/no-such-endpoint", headers=forwarded(ip)).status_code == 404
    assert_limited(http.get(f"{API}/no-such-endpoint", headers=forwarded(ip)), window=60)
    # A trailing slash is the same key, any method is counted.
    assert_limited(http.post(f"{API}/no-such-endpoint/", headers=forwarded(ip)), window=60)
    # Other paths have their own counters.
    assert http.get(f"{API}/another-unknown", headers=forwarded(ip)).status_code == 404


def test_special_rules_cover_every_path_under_their_prefix(http: httpx.Client) -> None:
    ip = new_ip()
    for _ in range(3):
        assert http.get(f"{API}/sign-up/anything", headers=forwarded(ip)).status_code == 404
    assert_limited(http.get(f"{API}/sign-up/anything", headers=forwarded(ip)), window=10)
    for _ in range(3):
        assert http.post(f"{API}/forget-password/x", headers=forwarded(ip)).status_code == 404
    assert_limited(http.post(f"{API}/forget-password/x", headers=forwarded(ip)), window=60)


def test_custom_rules_override_and_false_disables(http: httpx.Client) -> None:
    ip = new_ip()
    for _ in range(12):  # "/ok": false, although the default max is 5
        assert http.get(f"{API}/ok", headers=forwarded(ip)).status_code == 200
    for path in ("/custom/a", "/custom/b"):  # a glob: one rule, a counter per path
        for _ in range(2):
            assert http.get(f"{API}{path}", headers=forwarded(ip)).status_code == 404
        assert_limited(http.get(f"{API}{path}", headers=forwarded(ip)), window=60)


def test_without_a_trusted_ip_every_client_shares_one_bucket_per_path(
    http: httpx.Client, database_url: str
) -> None:
    path = f"/shared-{secrets.token_hex(4)}"
    for _ in range(3):
        assert http.get(f"{API}{path}").status_code == 404
    # An address that cannot be trusted (not an IP) is no address at all.
    assert http.get(f"{API}{path}", headers=forwarded("not-an-ip")).status_code == 404
    assert http.get(f"{API}{path}", headers=forwarded("10.0.0.1, nonsense")).status_code == 404
    assert_limited(http.get(f"{API}{path}"), window=60)
    assert [row["count"] for row in rate_limit_rows(database_url, f"no-trusted-ip|{path}")] == [5]


def test_internal_paths_are_limited_per_calling_address(http: httpx.Client) -> None:
    # RATE_LIMIT_INTERNAL_MAX=4, keyed by the peer address: X-Forwarded-For does not matter.
    statuses = [
        http.get("/api/internal/no-such", headers=forwarded(new_ip())).status_code for _ in range(4)
    ]
    assert 429 not in statuses
    assert_limited(http.get("/api/internal/no-such", headers=forwarded(new_ip())), window=60)
    assert_limited(http.post("/api/internal/validate"), window=60)


def test_health_and_preflight_are_not_limited(http: httpx.Client) -> None:
    for _ in range(8):
        assert http.get("/health").status_code == 200
        assert http.options(f"{API}/no-such-endpoint").status_code == 404


def test_sessions_record_the_same_client_ip_behind_trusted_proxies(
    http: httpx.Client, database_url: str
) -> None:
    client = new_ip()
    signed = sign_up(http, headers=forwarded(f"203.0.113.9, {client}, 127.0.0.1"))
    row = session_row(database_url, signed.token)
    assert row is not None
    assert row["ip_address"] == client


def test_rate_limiting_is_off_by_default_in_development(live_server: LiveServer) -> None:
    ip = new_ip()
    with live_server.client() as client:
        statuses = {sign_in_attempt(client, ip).status_code for _ in range(6)}
    assert statuses == {401}


def test_memory_storage_limits_within_one_process(
    server_factory: Callable[..., LiveServer], database_url: str
) -> None:
    server = server_factory(env={"RATE_LIMIT_ENABLED": "1", "RATE_LIMIT_STORAGE": "memory"})
    ip = new_ip()
    try:
        with server.client() as client:
            for _ in range(3):
                assert sign_in_attempt(client, ip).status_code == 401
            assert_limited(sign_in_attempt(client, ip), window=10)
    finally:
        server.stop()
    assert rate_limit_rows(database_url, f"{ip}|/sign-in/email") == []


# --------------------------------------------------------------------------- replicas


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


REPLICA_RULES = json.dumps(
    {"/sign-in/email": {"window": 60, "max": 5}, "/ok": {"window": 60, "max": 7}}
)


@pytest.fixture(scope="module", params=["database", "redis"])
def replicas(
    request: pytest.FixtureRequest, server_factory: Callable[..., LiveServer]
) -> Iterator[tuple[str, list[LiveServer]]]:
    """Three production servers on one database; rate limiting on by default there."""
    env = {
        "ENVIRONMENT": "production",
        "BETTER_AUTH_SECRET": PRODUCTION_SECRET,
        "RATE_LIMIT_CUSTOM_RULES": REPLICA_RULES,
    }
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server")
    with ThreadPoolExecutor(3) as pool:  # start them side by side
        servers = list(pool.map(lambda _: server_factory(env=env), range(3)))
    yield request.param, servers
    for server in servers:
        server.stop()


def test_replicas_share_one_limit(
    replicas: tuple[str, list[LiveServer]], database_url: str
) -> None:
    storage, servers = replicas
    ip = new_ip()
    clients = [server.client() for server in servers]
    try:
        statuses = [sign_in_attempt(clients[attempt % 3], ip).status_code for attempt in range(15)]
    finally:
        for client in clients:
            client.close()
    assert statuses == [401] * 5 + [429] * 10
    rows = rate_limit_rows(database_url, f"{ip}|/sign-in/email")
    if storage == "database":
        assert [row["count"] for row in rows] == [5]
    else:
        assert rows == []


def test_concurrent_requests_through_three_replicas_allow_exactly_max(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    _, servers = replicas
    ip = new_ip()

    async def burst() -> list[int]:
        clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for server in servers]
        try:
            responses = await asyncio.gather(
                *(clients[n % 3].get(f"{API}/ok", headers=forwarded(ip)) for n in range(50))
            )
        finally:
            for client in clients:
                await client.aclose()
        return [response.status_code for response in responses]

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 7, statuses
    assert statuses.count(429) == 43, statuses


def test_a_concurrent_sign_in_burst_from_one_ip_across_replicas_allows_exactly_max(
    replicas: tuple[str, list[LiveServer]],
) -> None:
    """Brute force spread over the replicas: 30 sign-in attempts at once from one client IP
    (REPLICA_RULES: 5 per 60 s) get exactly 5 answers from the password check and 25 429s."""
    _, servers = replicas
    ip = new_ip()
    body = {"email": "victim@example.com", "password": "guess-123456"}

    async def burst() -> list[httpx.Response]:
        clients = [httpx.AsyncClient(base_url=server.url, timeout=30) for server in servers]
        try:
            return await asyncio.gather(
                *(clients[n % 3].post(SIGN_IN, json=body, headers=forwarded(ip)) for n in range(30))
            )
        finally:
            for client in clients:
                await client.aclose()

    responses = asyncio.run(burst())
    statuses = [response.status_code for response in responses]
    assert statuses.count(401) == 5, statuses
    assert statuses.count(429) == 25, statuses
    for response in responses:
        if response.status_code == 429:
            assert response.content == BODY


def test_redis_storage_keeps_nothing_in_the_database(
    redis_server: str, server_factory: Callable[..., LiveServer], database_url: str
) -> None:
    server = server_factory(env={"RATE_LIMIT_ENABLED": "true", "REDIS_URL": redis_server})
    ip = new_ip()
    try:
        with server.client() as client:
            for _ in range(3):
                assert sign_in_attempt(client, ip).status_code == 401
            assert_limited(sign_in_attempt(client, ip), window=10)
    finally:
        server.stop()
    assert rate_limit_rows(database_url, f"{ip}|/sign-in/email") == []
    with redis.Redis.from_url(redis_server) as r:
        key = f"{REDIS_KEY_PREFIX}{ip}|/sign-in/email"
        assert r.hget(key, "count") == b"3"
        assert 0 < r.pttl(key) <= 10_000


# --------------------------------------------------------------------------- outage


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pgdata")
    yield server
    server.close()


def test_the_limiter_fails_open_while_the_database_is_down(
    private_postgres: PrivatePostgres, server_factory: Callable[..., LiveServer]
) -> None:
    url = create_database(private_postgres.as_server(), "ratelimit_outage")
    env = {
        "RATE_LIMIT_ENABLED": "true",
        "DB_TIMEOUT_SECONDS": "2",
        "RATE_LIMIT_CUSTOM_RULES": json.dumps({"/sign-in/email": {"window": 60, "max": 2}}),
    }
    server = server_factory(env=env, database=url)
    try:
        with server.client() as http:
            ip = new_ip()
            assert [sign_in_attempt(http, ip).status_code for _ in range(3)] == [401, 401, 429]

            private_postgres.stop()
            started = time.monotonic()
            # The limiter cannot count: requests go through, and meet the outage themselves.
            for _ in range(5):
                assert http.get(f"{API}/ok", headers=forwarded(ip)).status_code == 200
            during = sign_in_attempt(http, new_ip())
            assert during.status_code == 503
            assert during.json()["code"] == "SERVICE_UNAVAILABLE"
            lookup = http.get(f"{API}/get-session", headers={"cookie": session_cookie("t" * 32)})
            assert lookup.status_code == 503
            assert time.monotonic() - started < 10
            assert server.log().count("rate-limit store unavailable") == 1

            private_postgres.start()
            deadline = time.monotonic() + 15
            while http.get("/ready").status_code != 200:
                assert time.monotonic() < deadline, "the service did not see the database again"
                time.sleep(0.2)
            time.sleep(1.1)  # the limiter leaves a failed store alone for a second
            again = new_ip()
            statuses = [sign_in_attempt(http, again).status_code for _ in range(3)]
            assert statuses == [401, 401, 429]
    finally:
        server.stop()


# --------------------------------------------------------------------------- units


def test_rule_precedence_default_special_custom() -> None:
    table = RuleTable(
        Rule(window=30, max=50),
        parse_custom_rules(
            '{"/sign-in/social": {"window": 5, "max": 1}, "/admin/**": false,'
            ' "/forget-password*": {"window": 1, "max": 9}}'
        ),
    )
    assert table.rule_for("/get-session") == Rule(window=30, max=50)
    assert table.rule_for("/sign-in/email") is CREDENTIAL_RULE
    assert table.rule_for("/sign-up-anything") is CREDENTIAL_RULE
    assert table.rule_for("/change-email") is CREDENTIAL_RULE
    assert table.rule_for("/request-password-reset") is MAIL_RULE
    assert table.rule_for("/email-otp/send-verification-otp") is MAIL_RULE
    assert table.rule_for("/email-otp/other") == Rule(window=30, max=50)
    assert table.rule_for("/sign-in/social") == Rule(window=5, max=1)
    assert table.rule_for("/forget-password/x") == MAIL_RULE  # `*` stays within a segment
    assert table.rule_for("/forget-password-now") == Rule(window=1, max=9)
    assert table.rule_for("/admin/users/list") is None
    assert RuleTable().rule_for("/x") is DEFAULT_RULE
    assert sorted(table.windows()) == [1, 5, 10, 30, 60]


@pytest.mark.parametrize(
    "value",
    [
        "[]",
        "{",
        '{"/x": {"window": 10}}',
        '{"/x": {"window": 0, "max": 1}}',
        '{"/x": {"window": 1, "max": 1.5}}',
        '{"/x": true}',
        '{"x": {"window": 1, "max": 1}}',
    ],
)
def test_bad_custom_rules_are_refused_at_start(value: str) -> None:
    with pytest.raises(ValueError, match="RATE_LIMIT_CUSTOM_RULES"):
        Settings(RATE_LIMIT_CUSTOM_RULES=value)


def test_settings_defaults_and_checks() -> None:
    assert not Settings(ENVIRONMENT="development").rate_limit_on
    assert Settings(ENVIRONMENT="production").rate_limit_on
    assert not Settings(ENVIRONMENT="production", RATE_LIMIT_ENABLED="false").rate_limit_on
    assert Settings(ENVIRONMENT="development", RATE_LIMIT_ENABLED="true").rate_limit_on
    assert Settings().rate_limit_store == "database"
    assert Settings(REDIS_URL="redis://127.0.0.1:1/0").rate_limit_store == "redis"
    assert (
        Settings(REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_STORAGE="database").rate_limit_store
        == "database"
    )
    with pytest.raises(ValueError, match="REDIS_URL"):
        Settings(RATE_LIMIT_STORAGE="redis")
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(TRUSTED_PROXIES="10.0.0.0/8, not-a-network")


DB8_64 = "2001:0db8:0000:0000:0000:0000:0000:0000"


@pytest.mark.parametrize(
    ("header", "trusted", "expected"),
    [
        (None, "", None),
        ("203.0.113.5", "", "203.0.113.5"),
        (" 203.0.113.5 ,", "", "203.0.113.5"),
        ("203.0.113.5, 10.0.0.1", "", None),
        ("2001:db8:1:2:3:4:5:6", "", "2001:0db8:0001:0002:0000:0000:0000:0000"),
        ("::ffff:198.51.100.7", "", "198.51.100.7"),
        ("not-an-ip", "", None),
        ("fe80::1%eth0", "", None),
        ("203.0.113.5, 10.1.2.3", "10.0.0.0/8", "203.0.113.5"),
        ("198.51.100.1, 203.0.113.5, 10.1.2.3", "10.0.0.0/8", "203.0.113.5"),
        ("10.1.2.3, 10.2.3.4", "10.0.0.0/8", None),
        ("203.0.113.5, garbage, 10.1.2.3", "10.0.0.0/8", None),
        ("203.0.113.5, ::ffff:10.1.2.3", "10.0.0.0/8", "203.0.113.5"),
        ("2001:db8::1, 2001:db8:ffff::2", "2001:db8:ffff::/48", DB8_64),
    ],
)  # fmt: skip
def test_client_ip_resolution(header: str | None, trusted: str, expected: str | None) -> None:
    networks = parse_trusted_proxies(trusted.split(","))
    assert forwarded_client_ip(header, networks) == expected
    raw = [] if header is None else [(b"x-forwarded-for", header.encode())]
    assert ClientIpResolver(networks).from_raw_headers(raw) == expected


def test_several_forwarded_for_lines_read_as_one_list() -> None:
    resolver = ClientIpResolver(parse_trusted_proxies(["10.0.0.0/8"]))
    headers = [(b"x-forwarded-for", b"203.0.113.5"), (b"x-forwarded-for", b"10.0.0.1")]
    assert resolver.from_raw_headers(headers) == "203.0.113.5"
    assert ClientIpResolver().from_raw_headers(headers) is None


async def _exercise_store(store: RateLimitStore, key: str) -> None:
    """The sliding window, through any store."""
    rule = Rule(window=0.5, max=2)
    assert await store.consume(key, rule) == 0
    assert await store.consume(key, rule) == 0
    assert await store.consume(key, rule) == 1  # ceil of < 0.5 s
    await asyncio.sleep(0.3)
    assert await store.consume(key, rule) == 1  # denied requests do not slide the window
    await asyncio.sleep(0.25)
    assert await store.consume(key, rule) == 0  # a window after the last allowed request
    long = Rule(window=30, max=1)
    assert await store.consume(key + "-long", long) == 0
    assert 29 <= await store.consume(key + "-long", long) <= 30


def test_postgres_store_algorithm_and_purge(database_url: str) -> None:
    key = f"unit|/{secrets.token_hex(4)}"

    async def run() -> None:
        database = Database(database_url, pool_size=2, timeout=5)
        store = PostgresStore(database, build_schema().rate_limit)
        try:
            await _exercise_store(store, key)
            async with database.autocommit_engine.connect() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO rate_limit (id, key, count, last_request) "
                        "VALUES (:id, :key, 1, 0)"
                    ),
                    {"id": secrets.token_hex(16), "key": f"{key}-old"},
                )
            assert await store.purge(60_000) >= 1
        finally:
            await store.close()
            await database.dispose()

    asyncio.run(run())
    assert rate_limit_rows(database_url, f"{key}-old") == []
    assert [row["count"] for row in rate_limit_rows(database_url, key)] == [1]


def test_redis_store_algorithm(redis_server: str) -> None:
    async def run() -> None:
        store = RedisStore(redis_server, timeout=5)
        try:
            await _exercise_store(store, f"unit|/{secrets.token_hex(4)}")
        finally:
            await store.close()

    asyncio.run(run())


def test_memory_store_algorithm() -> None:
    asyncio.run(_exercise_store(MemoryStore(), "unit|/memory"))


class _FlakyStore:
    def __init__(self) -> None:
        self.consumed = 0
        self.purged = 0
        self.failing = True

    async def consume(self, key: str, rule: Rule) -> int:
        self.consumed += 1
        if self.failing:
            raise ConnectionRefusedError("connection refused")
        return 0

    async def purge(self, older_than_ms: int) -> int:
        self.purged += 1
        return 0

    async def close(self) -> None:
        return None


def test_limiter_fails_open_logs_once_and_purges_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = _FlakyStore()
    limiter = RateLimiter(store, name="unit", purge_after_seconds=60, retry_seconds=0.2)

    async def run() -> None:
        with caplog.at_level(logging.WARNING, logger="auth_service.rate_limit"):
            assert [await limiter.check("k", DEFAULT_RULE) for _ in range(20)] == [0] * 20
        assert store.consumed == 1  # then left alone for retry_seconds
        await asyncio.sleep(0.25)
        assert await limiter.check("k", DEFAULT_RULE) == 0
        assert store.consumed == 2
        store.failing = False
        await asyncio.sleep(0.25)
        for _ in range(50):
            assert await limiter.check("k", DEFAULT_RULE) == 0
        await asyncio.sleep(0)
        await limiter.close()

    asyncio.run(run())
    assert store.consumed == 52
    assert store.purged == 1
    messages = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(messages) == 1
