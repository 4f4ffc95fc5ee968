"""The `auth-service` command: serve, dev, and database work."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from auth_service.auth.context import naming_from
from auth_service.db.embedded import EmbeddedPostgresError, embedded_postgres
from auth_service.db.engine import (
    Database,
    DatabaseURLError,
    async_database_url,
    is_database_fault,
)
from auth_service.logs import (
    HUMAN_FORMAT,
    configure_logging,
    json_logging_enabled,
    uvicorn_log_config,
)
from auth_service.settings import ConfigError, Settings

if TYPE_CHECKING:
    from auth_service.plugins.jwt.service import JwtService

app = typer.Typer(
    help="auth-service: a Better Auth compatible authentication service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database migrations and schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
jwks_app = typer.Typer(help="JWT signing keys.", no_args_is_help=True)
app.add_typer(jwks_app, name="jwks")

log = logging.getLogger("auth_service.cli")

UNDEFINED_TABLE = "42P01"  # PostgreSQL's SQLSTATE for a missing relation
T = TypeVar("T")


class CLIError(Exception):
    """An expected failure: printed as one line, exit status 1."""


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(1)


def _info(message: str) -> None:
    if json_logging_enabled():  # production: every line of output is a JSON log record
        log.info(message)
        return
    typer.secho(message, fg=typer.colors.CYAN, err=True)


def load_settings() -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CLIError(f"invalid configuration ({problems}). Fix the environment or .env.") from exc
    settings.check_safe_to_start()
    return settings


def _describe_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except Exception:
        return "DATABASE_URL"
    host = parsed.host or parsed.query.get("host") or "local socket"
    return f"{host}:{parsed.port or 5432}/{parsed.database or ''}"


def check_database(url: str, timeout: float) -> None:
    """Fail with a clear message if the database cannot be reached."""
    async_database_url(url)  # a bad URL raises DatabaseURLError with its own message

    async def ping() -> None:
        database = Database(url, pool_size=1, timeout=timeout)
        try:
            await database.ping()
        finally:
            await database.dispose()

    try:
        asyncio.run(ping())
    except Exception as exc:
        if is_database_fault(exc) or "does not exist" in str(exc) or "password" in str(exc):
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0] or type(exc).__name__
            raise CLIError(
                f"cannot reach the database at {_describe_url(url)} ({reason}). "
                "Check that PostgreSQL is running and DATABASE_URL is right, "
                "or unset DATABASE_URL to use the embedded one."
            ) from exc
        raise


@contextmanager
def database_url(settings: Settings, *, migrate: bool) -> Iterator[str]:
    """The configured database, or an embedded one started for the duration."""
    if settings.database_url:
        check_database(settings.database_url, settings.db_timeout_seconds)
        if migrate:
            _migrate(settings.database_url, settings)
        yield settings.database_url
        return
    _info(f"DATABASE_URL is not set: using the embedded PostgreSQL in {settings.embedded_pg_dir}")
    with embedded_postgres(settings.embedded_pg_dir) as url:
        _migrate(url, settings)
        yield url


def _migrate(url: str, settings: Settings) -> None:
    from auth_service.db import migrate  # noqa: PLC0415

    _info("Applying migrations ...")
    migrate.upgrade(url, naming_from(settings))
    _info("Migrations: database is at head")


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _run_server(
    *, host: str, port: int, workers: int, reload: bool, migrate: bool, log_level: str
) -> None:
    import uvicorn  # noqa: PLC0415

    settings = load_settings()
    configure_logging(json=settings.is_production)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into a normal exit so
    # the embedded database below is stopped and the exit status is 0.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    # Production: JSON lines, uvicorn's loggers included; development: uvicorn's own format.
    logging_options: dict[str, Any] = {}
    if settings.is_production:
        logging_options["log_config"] = uvicorn_log_config(json=True)
    with database_url(settings, migrate=migrate) as url:
        os.environ["DATABASE_URL"] = url
        _info(f"Serving on http://{host}:{port} ({'reload' if reload else f'{workers} worker(s)'})")
        uvicorn.run(
            "auth_service.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=None if reload else workers,
            reload=reload,
            reload_dirs=[os.path.dirname(__file__)] if reload else None,
            loop="uvloop",
            http="httptools",
            log_level=log_level,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=20,
            **logging_options,
        )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",  # noqa: S104
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="PORT")] = 3000,
    workers: Annotated[int, typer.Option(help="Worker processes.", envvar="WEB_CONCURRENCY")] = 1,
    migrate: Annotated[
        bool, typer.Option(help="Apply migrations first (always on for the embedded database).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="Log level.")] = "info",
) -> None:
    """Run the production server."""
    _run_server(
        host=host, port=port, workers=workers, reload=False, migrate=migrate, log_level=log_level
    )


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", envvar="PORT")] = 3000,
) -> None:
    """Run with hot reload and migrations applied (development)."""
    _run_server(host=host, port=port, workers=1, reload=True, migrate=True, log_level="debug")


@db_app.command("migrate")
def db_migrate() -> None:
    """Apply every pending migration (Alembic upgrade to head)."""
    settings = load_settings()
    with database_url(settings, migrate=True):
        pass


@db_app.command("generate")
def db_generate(
    message: Annotated[str, typer.Option("-m", "--message", help="What the revision does.")],
) -> None:
    """Autogenerate a migration from the difference between the models and the database."""
    from auth_service.db import migrate  # noqa: PLC0415

    settings = load_settings()
    with database_url(settings, migrate=True) as url:
        path = migrate.generate(url, naming_from(settings), message)
    _info(f"Created {path}" if path else "No changes detected; nothing generated")


@db_app.command("push")
def db_push() -> None:
    """Create the tables the models have and the database lacks (development only)."""
    from auth_service.db import migrate  # noqa: PLC0415

    settings = load_settings()
    if settings.is_production:
        raise CLIError("`db push` is for development databases; use `db migrate` in production.")
    with database_url(settings, migrate=False) as url:
        created = migrate.push(url, naming_from(settings))
    _info(f"Created tables: {', '.join(created)}" if created else "Schema already up to date")


@db_app.command("status")
def db_status() -> None:
    """Show the database's revision and the latest one."""
    from auth_service.db import migrate  # noqa: PLC0415

    settings = load_settings()
    with database_url(settings, migrate=False) as url:
        state = migrate.status(url, naming_from(settings))
    typer.echo(f"current: {state.current or '(none)'}")
    typer.echo(f"head:    {state.head}")
    typer.echo(
        "up to date" if state.up_to_date else "pending migrations: run `auth-service db migrate`"
    )
    if not state.up_to_date:
        raise typer.Exit(2)


@db_app.command("studio")
def db_studio(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0 = any free port).")
    ] = 4983,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the URL in a web browser.")
    ] = True,
) -> None:
    """Open the admin console over the service's tables, on localhost, protected by a token
    printed here. Read-mostly: browse, search and export; delete sessions (revoke),
    verifications and rate-limit entries. Secrets (password hashes, tokens, keys) never show."""
    from auth_service.db.schema import build_schema  # noqa: PLC0415
    from auth_service.studio import server as studio  # noqa: PLC0415

    settings = load_settings()
    # As `serve`: uvicorn re-raises SIGTERM after its shutdown; exit normally instead, so the
    # embedded database below is stopped.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        sock = studio.listen_socket(host, port)  # before the database: fail fast
        with sock, database_url(settings, migrate=False) as url:
            _info(f"Reading the tables of {_describe_url(url)} ...")
            schema = build_schema(naming_from(settings))
            check = studio.check_tables(schema, url, settings.db_timeout_seconds)
            if check.missing:
                _info(f"Not in this database (skipped): {', '.join(check.missing)}")
            tables = studio.prepare_tables(schema, check)
            hidden = [f"{t.table.name}.{t.table.c[key].name}" for t in tables for key in t.hidden]
            _info(f"Tables: {', '.join(t.table.name for t in tables)}")
            _info(f"Never shown (secrets): {', '.join(hidden) or 'none'}")
            token = studio.new_token()
            link = studio.studio_url(sock, token)
            # The link carries the access token: printed on the terminal, never logged.
            typer.echo(f"auth-service studio is running. Open (access token included):\n  {link}")
            typer.echo("Press Ctrl+C to stop.")
            sys.stdout.flush()
            if browser:
                studio.open_browser_soon(link)
            engine = studio.create_engine(url, settings.db_timeout_seconds)
            studio.serve(sock=sock, engine=engine, tables=tables, token=token)
    except studio.StudioError as exc:
        raise CLIError(str(exc)) from exc


def _with_jwt_service(
    settings: Settings, url: str, work: Callable[[JwtService], Awaitable[T]]
) -> T:
    """Run `work` with a JwtService on the database; a missing jwks table is a clear error."""
    from auth_service.db.schema import build_schema  # noqa: PLC0415
    from auth_service.plugins.jwt.service import JwtService  # noqa: PLC0415

    async def run() -> T:
        database = Database(url, pool_size=1, timeout=settings.db_timeout_seconds)
        try:
            return await work(JwtService(settings, build_schema(naming_from(settings)), database))
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except ProgrammingError as exc:
        if getattr(exc.orig, "sqlstate", None) == UNDEFINED_TABLE:
            raise CLIError(
                f"the database at {_describe_url(url)} has no jwks table. "
                "Run `auth-service db migrate` first."
            ) from exc
        raise


@jwks_app.command("rotate")
def jwks_rotate() -> None:
    """Create a new signing key; older keys stop signing but stay in the JWKS for the grace
    period (JWKS_GRACE_PERIOD), so tokens already issued keep verifying."""
    settings = load_settings()

    async def rotate(service: JwtService) -> str:
        return await service.create_key(expire_others=True)

    with database_url(settings, migrate=False) as url:
        kid = _with_jwt_service(settings, url, rotate)
    _info(
        f"New signing key {kid} ({settings.jwt_key_algorithm}); replicas pick it up within "
        f"{settings.jwks_refresh_seconds:g} s"
    )


@jwks_app.command("list")
def jwks_list() -> None:
    """List the signing keys: id, algorithm, created, expires, published."""
    settings = load_settings()

    async def keys(service: JwtService) -> list[tuple[str, str, str, str, bool]]:
        key_set = await service.reload()
        return [
            (
                key.kid,
                key.alg,
                str(key.created_at),
                str(key.expires_at or "-"),
                key.kid in key_set.by_kid,
            )
            for key in key_set.keys
        ]

    with database_url(settings, migrate=False) as url:
        rows = _with_jwt_service(settings, url, keys)
    if not rows:
        typer.echo("no keys yet (one is created on first use of /token or /jwks)")
    for kid, alg, created, expires, published in rows:
        typer.echo(
            f"{kid}  {alg:6}  created {created}  expires {expires}  "
            f"{'published' if published else 'retired'}"
        )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format=HUMAN_FORMAT)
    for noisy in ("embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app()
    except (CLIError, ConfigError, DatabaseURLError, EmbeddedPostgresError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
