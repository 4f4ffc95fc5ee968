"""A PostgreSQL server for the tests: the given one, or an embedded one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from auth_service.db import migrate as migrations
from auth_service.db.embedded import embedded_postgres
from auth_service.db.schema import Naming


@dataclass(frozen=True)
class PostgresServer:
    url: URL  # the maintenance database URL (sqlalchemy form)

    def database_url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def asyncpg_dsn(self, name: str | None = None) -> str:
        url = self.url.set(drivername="postgresql", database=name or self.url.database)
        return url.render_as_string(hide_password=False)


@contextmanager
def start_postgres(given_url: str | None, data_dir: Path) -> Iterator[PostgresServer]:
    if given_url:
        yield PostgresServer(make_url(given_url).set(drivername="postgresql"))
        return
    with embedded_postgres(data_dir / "data") as url:
        yield PostgresServer(make_url(url))


async def _admin(server: PostgresServer, sql: str) -> None:
    url = server.url
    conn = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host or url.query.get("host"),
        port=url.port,
        database=url.database,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_database(
    server: PostgresServer, name: str, *, migrate: bool = True, naming: Naming | None = None
) -> str:
    """Create database `name`; apply the real migrations unless `migrate` is False."""
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    url = server.database_url(name)
    if migrate:
        migrations.upgrade(url, naming or Naming())
    return url


def drop_database(server: PostgresServer, name: str) -> None:
    asyncio.run(_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class PrivatePostgres:
    """An embedded PostgreSQL the test owns and may stop and start (outage tests)."""

    def __init__(self, data_dir: Path) -> None:
        import warnings  # noqa: PLC0415

        with warnings.catch_warnings():
            # The import already warns (platformdirs: no XDG_RUNTIME_DIR in CI containers).
            warnings.simplefilter("ignore")
            import embedded_postgres  # noqa: PLC0415

            self._server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        self.url = make_url(self._server.get_uri())
        self.data_dir = data_dir

    def stop(self) -> None:
        from embedded_postgres._commands import pg_ctl  # noqa: PLC0415

        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=self._server.system_user)

    def start(self) -> None:
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()

    def as_server(self) -> PostgresServer:
        return PostgresServer(self.url)
