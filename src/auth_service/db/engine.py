"""The async engine, the request-scoped connection, and database-fault detection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


class DatabaseURLError(ValueError):
    """DATABASE_URL cannot be used; the message says why."""


def async_database_url(url: str) -> str:
    """Accept the seed's `postgres://` and plain `postgresql://` URLs; use asyncpg."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(
            f"DATABASE_URL is not a valid URL ({exc}). "
            "Expected e.g. postgresql://user:password@host:5432/dbname"
        ) from exc
    backend = parsed.get_backend_name()
    if backend not in ("postgres", "postgresql"):
        raise DatabaseURLError(
            f"DATABASE_URL uses '{backend}', but auth-service runs on PostgreSQL only. "
            "Use postgresql://user:password@host:5432/dbname, or unset it for the embedded one."
        )
    parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def is_database_fault(exc: BaseException) -> bool:
    """True for errors meaning the database is unreachable, not for bad queries.

    The driver's error is looked for down the chain too: SQLAlchemy wraps some connect failures
    (asyncpg's CannotConnectNowError while PostgreSQL starts or stops) in a generic DBAPIError."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _is_fault(current):
            return True
        current = getattr(current, "orig", None) or current.__cause__
    return False


def _is_fault(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    if isinstance(exc, asyncpg.exceptions.InterfaceError | asyncpg.PostgresConnectionError):
        return True
    if isinstance(exc, asyncpg.exceptions.CannotConnectNowError | asyncpg.TooManyConnectionsError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OSError | asyncio.TimeoutError | ConnectionError)


async def _no_reset(_: asyncpg.Connection) -> None:
    return None


@asynccontextmanager
async def pooled_connection(
    pool: asyncpg.Pool, acquire_timeout: float | None = None
) -> AsyncIterator[asyncpg.Connection]:
    """A connection of a raw pool (one opened by `open_asyncpg_pool`, which skips the reset
    round trip on release). A statement that ends in anything but a PostgreSQL error (a
    timeout, a cancellation, a lost server) may leave the connection mid-protocol, which that
    pool would hand out again ("another operation is in progress"): it is terminated instead,
    and the pool opens a fresh one when needed."""
    async with pool.acquire(timeout=acquire_timeout) as conn:
        try:
            yield conn
        except asyncpg.PostgresError:
            raise  # the server answered: the connection is in a known state
        except BaseException:
            conn.terminate()
            raise


class Database:
    """One engine for the process; connections are taken per request, lazily."""

    def __init__(self, url: str, *, pool_size: int, timeout: float) -> None:
        self.timeout = timeout
        self.engine: AsyncEngine = create_async_engine(
            async_database_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=timeout,
            pool_recycle=1800,
            connect_args={"timeout": timeout, "command_timeout": timeout * 2},
        )
        # Single statements run in autocommit: one round trip, no BEGIN/COMMIT.
        self.autocommit_engine: AsyncEngine = self.engine.execution_options(
            isolation_level="AUTOCOMMIT"
        )

        self._pool_size = pool_size
        self._hot_pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    def asyncpg_connect_args(self) -> dict[str, Any]:
        """The engine's own connection parameters (URL, host, ssl, ...) for asyncpg."""
        _, params = self.engine.dialect.create_connect_args(self.engine.url)
        skip = ("prepared_statement_cache_size", "prepared_statement_name_func")
        return {name: value for name, value in params.items() if name not in skip}

    async def open_asyncpg_pool(
        self, *, max_size: int, server_settings: dict[str, str] | None = None
    ) -> asyncpg.Pool:
        """A raw asyncpg pool to the same database; no connection is opened until used."""
        args = self.asyncpg_connect_args()
        if server_settings:
            args["server_settings"] = {**args.get("server_settings", {}), **server_settings}
        pool = asyncpg.create_pool(
            min_size=0,
            max_size=max_size,
            # The hot paths run single statements and leave no session state behind, so the
            # pool's reset round trip (RESET ALL, UNLISTEN ...) on every release is skipped.
            reset=_no_reset,
            timeout=self.timeout,
            command_timeout=self.timeout,
            max_inactive_connection_lifetime=300,
            **args,
        )
        await pool
        return pool

    @property
    def hot_pool_if_open(self) -> asyncpg.Pool | None:
        """The hot pool if it has been opened (for metrics; never opens it)."""
        return self._hot_pool

    async def hot_pool(self) -> asyncpg.Pool:
        """The pool of the hot paths (session lookup, validation): raw asyncpg with prepared
        statements, no SQLAlchemy checkout (measured to cost more than the query itself)."""
        if self._hot_pool is None:
            async with self._opening:
                if self._hot_pool is None:
                    self._hot_pool = await self.open_asyncpg_pool(max_size=self._pool_size)
        return self._hot_pool

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        """One read on the hot pool: one round trip, a cached prepared statement."""
        pool = self._hot_pool or await self.hot_pool()
        # No acquire timeout: every query is bounded by command_timeout and every connect by
        # the connect timeout, so a waiting request is bounded too (and skips a timer).
        async with pooled_connection(pool) as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def dispose(self) -> None:
        pool, self._hot_pool = self._hot_pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.timeout)
            except (TimeoutError, OSError):
                pool.terminate()
        await self.engine.dispose()

    async def ping(self) -> None:
        async with asyncio.timeout(self.timeout):
            async with self.autocommit_engine.connect() as conn:
                await conn.execute(text("select 1"))


class RequestDb:
    """The request's database access: one autocommit connection, taken on first use.

    Work that must be atomic runs in `transaction()`, which commits or rolls back as a unit.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._conn: AsyncConnection | None = None

    async def conn(self) -> AsyncConnection:
        if self._conn is None:
            self._conn = await self.database.autocommit_engine.connect()
        return self._conn

    async def execute(self, statement: Any, params: Any = None) -> Any:
        conn = await self.conn()
        return await conn.execute(statement, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self.database.engine.begin() as conn:
            yield conn

    async def release(self) -> None:
        """Give the connection back to the pool (before slow work such as password hashing),
        so a request never holds a pooled connection while it waits for something else."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    close = release

    async def __aenter__(self) -> RequestDb:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.release()
