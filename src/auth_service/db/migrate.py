"""Alembic operations used by the CLI and by the embedded start-up."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine

from auth_service.db.engine import async_database_url
from auth_service.db.schema import Naming, build_schema

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(database_url: str, naming: Naming) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["database_url"] = database_url
    config.attributes["naming"] = naming
    return config


def upgrade(database_url: str, naming: Naming, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url, naming), revision)


def pending_model_changes(database_url: str, naming: Naming) -> list[object]:
    """What autogenerate would write: the differences between the models and the database."""
    from alembic.autogenerate import compare_metadata  # noqa: PLC0415

    metadata = build_schema(naming).metadata

    async def run() -> list[object]:
        engine = create_async_engine(async_database_url(database_url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: list(compare_metadata(MigrationContext.configure(sync), metadata))
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def generate(database_url: str, naming: Naming, message: str) -> str | None:
    """Autogenerate a revision from the models; None when there is nothing to write."""
    if not pending_model_changes(database_url, naming):
        return None
    script = command.revision(
        alembic_config(database_url, naming), message=message, autogenerate=True
    )
    if script is None or isinstance(script, list):
        return None
    return str(script.path)


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    head: str | None

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def status(database_url: str, naming: Naming) -> MigrationStatus:
    head = ScriptDirectory.from_config(alembic_config(database_url, naming)).get_current_head()

    async def current() -> str | None:
        engine = create_async_engine(async_database_url(database_url))
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return MigrationStatus(current=asyncio.run(current()), head=head)


def push(database_url: str, naming: Naming) -> list[str]:
    """Create whatever tables the models have and the database lacks (development only)."""

    async def run() -> list[str]:
        engine = create_async_engine(async_database_url(database_url))
        schema = build_schema(naming)
        try:
            async with engine.begin() as conn:

                def create(sync_conn: object) -> list[str]:
                    from sqlalchemy import inspect  # noqa: PLC0415

                    existing = set(inspect(sync_conn).get_table_names())
                    missing = [
                        t.name for t in schema.metadata.sorted_tables if t.name not in existing
                    ]
                    schema.metadata.create_all(sync_conn, checkfirst=True)  # type: ignore[arg-type]
                    return missing

                return await conn.run_sync(create)
        finally:
            await engine.dispose()

    return asyncio.run(run())
