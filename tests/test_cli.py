"""The `auth-service` command: clear errors, migrations, the embedded database."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import TEST_SECRET
from tests.support.postgres import PostgresServer, create_database, drop_database
from tests.support.server import ROOT, free_port

MIGRATIONS = ROOT / "src" / "auth_service" / "db" / "migrations" / "versions"


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "auth_service", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def empty_database(postgres: PostgresServer) -> Iterator[str]:
    name = f"cli_{secrets.token_hex(4)}"
    url = create_database(postgres, name, migrate=False)
    yield url
    drop_database(postgres, name)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_unreachable_database_is_one_clear_line() -> None:
    port = free_port()
    result = run_cli("db", "status", env={"DATABASE_URL": f"postgresql://u@127.0.0.1:{port}/x"})
    assert_one_line_error(result, "cannot reach the database", f"127.0.0.1:{port}", "DATABASE_URL")


def test_non_postgres_url_is_refused() -> None:
    result = run_cli("db", "migrate", env={"DATABASE_URL": "mysql://user@localhost/app"})
    assert_one_line_error(result, "PostgreSQL only")


def test_garbage_url_is_refused() -> None:
    result = run_cli("db", "status", env={"DATABASE_URL": "not a url"})
    assert_one_line_error(result, "DATABASE_URL")


@pytest.mark.parametrize(
    ("secret", "fragment"),
    [
        ("", "BETTER_AUTH_SECRET is not set"),
        ("short-secret", "too short"),
        ("better-auth-secret-12345678901234567890", "well-known"),
    ],
)
def test_production_refuses_weak_secrets(secret: str, fragment: str, empty_database: str) -> None:
    env = {
        "ENVIRONMENT": "production",
        "BETTER_AUTH_SECRET": secret,
        "AUTH_SECRET": "",
        "DATABASE_URL": empty_database,
    }
    result = run_cli("serve", "--port", str(free_port()), env=env)
    assert_one_line_error(result, fragment)
    assert secret == "" or secret not in result.stderr  # the secret itself is never printed


def test_production_accepts_auth_secret_alias(empty_database: str) -> None:
    env = {"ENVIRONMENT": "production", "AUTH_SECRET": TEST_SECRET, "DATABASE_URL": empty_database}
    result = run_cli("db", "status", env=env)
    assert result.returncode == 2, result.stderr  # pending migrations, not a secret error
    assert "pending migrations" in result.stdout


def test_migrate_and_status(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database}
    before = run_cli("db", "status", env=env)
    assert before.returncode == 2
    assert "current: (none)" in before.stdout
    migrated = run_cli("db", "migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    after = run_cli("db", "status", env=env)
    assert after.returncode == 0
    assert "up to date" in after.stdout
    again = run_cli("db", "migrate", env=env)  # idempotent
    assert again.returncode == 0


def test_push_creates_the_tables(empty_database: str) -> None:
    result = run_cli("db", "push", env={"DATABASE_URL": empty_database})
    assert result.returncode == 0, result.stderr
    assert "user" in result.stderr
    assert "session" in result.stderr

    async def tables() -> set[str]:
        conn = await asyncpg.connect(empty_database.replace("+asyncpg", ""))
        try:
            rows = await conn.fetch("select tablename from pg_tables where schemaname='public'")
        finally:
            await conn.close()
        return {row["tablename"] for row in rows}

    assert {"user", "session", "account", "verification", "jwks", "rate_limit"} <= asyncio.run(
        tables()
    )
    second = run_cli("db", "push", env={"DATABASE_URL": empty_database})
    assert "already up to date" in second.stderr


def test_generate_writes_nothing_when_models_match(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database}
    assert run_cli("db", "migrate", env=env).returncode == 0
    before = set(MIGRATIONS.iterdir())
    result = run_cli("db", "generate", "-m", "nothing", env=env)
    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stderr
    assert set(MIGRATIONS.iterdir()) == before


def test_generate_writes_a_revision_for_a_difference(empty_database: str) -> None:
    env = {"DATABASE_URL": empty_database}
    assert run_cli("db", "migrate", env=env).returncode == 0

    async def drop_index() -> None:
        conn = await asyncpg.connect(empty_database.replace("+asyncpg", ""))
        try:
            await conn.execute('drop index "verification_identifier_idx"')
        finally:
            await conn.close()

    asyncio.run(drop_index())
    before = set(MIGRATIONS.iterdir())
    result = run_cli("db", "generate", "-m", "restore identifier index", env=env)
    created = set(MIGRATIONS.iterdir()) - before
    try:
        assert result.returncode == 0, result.stderr
        assert len(created) == 1
        text = next(iter(created)).read_text()
        assert "verification_identifier_idx" in text
        assert "create_index" in text
    finally:
        for path in created:
            path.unlink()


def test_serve_with_embedded_postgres_keeps_data_across_restarts(tmp_path: Path) -> None:
    """The README's first command: no DATABASE_URL, an embedded PostgreSQL, data persists."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        {
            "EMBEDDED_PG_DIR": str(tmp_path / "pg"),
            "BETTER_AUTH_SECRET": TEST_SECRET,
            "BETTER_AUTH_URL": f"http://127.0.0.1:{port}",
        }
    )
    credentials = {"email": "embedded@example.com", "password": "password-123"}

    def serve() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "auth_service",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_healthy(process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, "server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("no /health answer within 60 s")

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        assert process.wait(timeout=30) == 0

    first = serve()
    try:
        wait_healthy(first)
        response = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/sign-up/email", json={"name": "Emb", **credentials}
        )
        assert response.status_code == 200
    finally:
        stop(first)
    assert (tmp_path / "pg" / "PG_VERSION").exists()

    second = serve()
    try:
        wait_healthy(second)
        response = httpx.post(f"http://127.0.0.1:{port}/api/auth/sign-in/email", json=credentials)
        assert response.status_code == 200
        assert response.json()["user"]["email"] == credentials["email"]
    finally:
        stop(second)
