"""/ready and auth endpoints follow the database down and back up, without a restart."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import PrivatePostgres, create_database
from tests.support.server import LiveServer


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(tmp_path / "pgdata")
    yield server
    server.close()


def _wait_for(check: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout}s")


def test_ready_and_sessions_survive_a_database_outage(
    private_postgres: PrivatePostgres, server_factory: Callable[..., LiveServer]
) -> None:
    url = create_database(private_postgres.as_server(), "outage")
    server = server_factory(env={"DB_TIMEOUT_SECONDS": "2"}, database=url)
    with server.client() as http:
        assert http.get("/ready").status_code == 200
        signed_up = http.post(
            "/api/auth/sign-up/email",
            json={"name": "Ada", "email": "outage@example.com", "password": "password-123"},
        )
        assert signed_up.status_code == 200
        token = signed_up.json()["token"]

        private_postgres.stop()
        started = time.monotonic()
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert time.monotonic() - started < 2.5
        assert ready.json()["code"] == "DATABASE_UNAVAILABLE"

        during = http.get("/api/auth/get-session")
        assert during.status_code == 503
        assert during.json()["code"] == "SERVICE_UNAVAILABLE"
        sign_in = http.post(
            "/api/auth/sign-in/email",
            json={"email": "outage@example.com", "password": "password-123"},
            headers={"origin": server.url},
        )
        assert sign_in.status_code == 503

        private_postgres.start()

        def ready_again() -> bool:
            try:
                return http.get("/ready").status_code == 200
            except httpx.TransportError:
                return False

        assert _wait_for(ready_again, timeout=10) < 10
        session = http.get("/api/auth/get-session")
        assert session.status_code == 200
        assert session.json()["session"]["token"] == token
