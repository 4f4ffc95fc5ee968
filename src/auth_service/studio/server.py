"""Start the studio: listen on loopback, check the tables, print the access URL, serve."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import secrets
import socket
import threading
import webbrowser
from dataclasses import dataclass

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from auth_service.db.engine import async_database_url
from auth_service.db.schema import Schema
from auth_service.studio.app import BASE_PATH, create_studio_app
from auth_service.studio.models import StudioTable, map_tables, schema_tables

DEFAULT_PORT = 4983  # drizzle-kit studio's


class StudioError(Exception):
    """The studio cannot start; the message says what to do."""


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening socket on a loopback address; anything else is refused."""
    address = "127.0.0.1" if host == "localhost" else host.strip("[]")
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        ip = None
    if ip is None or not ip.is_loopback:
        raise StudioError(
            f"refusing --host {host}: the studio shows every user and can revoke sessions, so "
            "it listens on loopback only (127.0.0.1 or ::1). From another machine, tunnel to "
            f"it: `ssh -L {port or DEFAULT_PORT}:127.0.0.1:{port or DEFAULT_PORT} <server>`, "
            "or `kubectl port-forward`."
        )
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((str(ip), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StudioError(
                f"port {port} on {ip} is already in use (another studio?). Stop it, or pick "
                "another port with --port (0 = any free port)."
            ) from exc
        raise StudioError(f"cannot listen on {ip} port {port} ({exc.strerror}).") from exc
    sock.listen(128)  # connections wait in the backlog until the server accepts them
    return sock


def studio_url(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{BASE_PATH}/?token={token}"


def create_engine(url: str, timeout: float) -> AsyncEngine:
    return create_async_engine(
        async_database_url(url),
        pool_size=2,
        max_overflow=2,
        pool_timeout=timeout,
        pool_pre_ping=True,
        connect_args={"timeout": timeout, "command_timeout": timeout * 2},
    )


def _columns_by_table(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    return {
        name: {column["name"] for column in inspector.get_columns(name)}
        for name in inspector.get_table_names()
    }


@dataclass(frozen=True)
class TableCheck:
    present: set[str]  # logical names of the tables the database has
    missing: list[str]  # SQL names of the tables it lacks


def check_tables(schema: Schema, url: str, timeout: float) -> TableCheck:
    """Which of the schema's tables exist; a present table lacking a shown column is an error
    (the naming settings do not match the database)."""

    async def read() -> dict[str, set[str]]:
        engine = create_engine(url, timeout)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_columns_by_table)
        finally:
            await engine.dispose()

    existing = asyncio.run(read())
    present: set[str] = set()
    missing: list[str] = []
    for logical, table in schema_tables(schema).items():
        columns = existing.get(table.name)
        if columns is None:
            missing.append(table.name)
            continue
        lacking = [column.name for column in table.c if column.name not in columns]
        if lacking:
            raise StudioError(
                f"table {table.name} has no column(s) {', '.join(lacking)}. If the database "
                "was made by Better Auth's Kysely migrator set DB_NAMING=camelCase (or map "
                "names with DB_TABLE_NAMES / DB_COLUMN_NAMES); otherwise run "
                "`auth-service db migrate`."
            )
        present.add(logical)
    if not present:
        raise StudioError(
            f"the database has none of the service's tables ({', '.join(missing)}). "
            "Run `auth-service db migrate` first."
        )
    return TableCheck(present, missing)


def prepare_tables(schema: Schema, check: TableCheck) -> list[StudioTable]:
    return map_tables(schema, only=check.present)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def open_browser_soon(url: str) -> None:
    """Open the URL without blocking the server (a console browser could take a while)."""
    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()


def serve(
    *, sock: socket.socket, engine: AsyncEngine, tables: list[StudioTable], token: str
) -> None:
    import uvicorn  # noqa: PLC0415

    host, port = sock.getsockname()[:2]
    app = create_studio_app(
        engine=engine,
        tables=tables,
        token=token,
        cookie_name=f"auth_service_studio_{port}",
        host=host,
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # the first request's URL carries the access token
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    uvicorn.Server(config).run(sockets=[sock])
